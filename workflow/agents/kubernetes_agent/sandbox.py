"""The built-in sandbox cluster, for `devops-bot sandbox show|reset`."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SANDBOX"]


class _SandboxCluster:
    title = "cluster"

    def state_file(self, data_dir: Path) -> Path:
        from workflow.sandbox.files import cluster_state_file

        return cluster_state_file(data_dir)

    def reset(self, data_dir: Path) -> list[str]:
        from workflow.sandbox.kube_api import reset_cluster

        state = self.state_file(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        seeded = reset_cluster(state)
        return [f"sandbox cluster reset to its seed state, {seeded['deployments']} deployments"]

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
