"""The built-in sandbox cluster: `devops-bot sandbox show`, and its part of `reset`."""

from __future__ import annotations

from pathlib import Path

from workflow.sandbox.files import ResetItem

__all__ = ["SANDBOX"]


class _SandboxCluster:
    title = "cluster"

    def state_file(self, data_dir: Path) -> Path:
        from workflow.sandbox.files import cluster_state_file

        return cluster_state_file(data_dir)

    def reset(self, data_dir: Path) -> list[ResetItem]:
        from workflow.sandbox.kube_api import reset_cluster

        state = self.state_file(data_dir)
        seeded = reset_cluster(state)
        detail = (
            f"back to its seed state, {seeded['namespaces']} namespaces and "
            f"{seeded['deployments']} deployments"
        )
        return [ResetItem("cluster", state, detail)]

    def show(self, data_dir: Path) -> list[str]:
        from workflow.sandbox.kube_api import KubeApiServer

        state = self.state_file(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        server = KubeApiServer(state)
        lines = [f"SANDBOX cluster (simulated, not a real cluster); state in {state}"]
        for namespace, deployments in server.snapshot().items():
            for name, d in deployments.items():
                lines.append(
                    f"  {namespace:<12} {name:<16} {d['image']:<44} replicas={d['replicas']} "
                    f"revision={d['revision']}"
                )
        return lines


SANDBOX = _SandboxCluster()
