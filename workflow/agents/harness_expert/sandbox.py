"""The sandbox Harness's pipelines and executions: `devops-bot sandbox show`, and `reset`."""

from __future__ import annotations

import json
from pathlib import Path

from workflow.sandbox.files import ResetItem

__all__ = ["SANDBOX"]


class _SandboxHarness:
    title = "Harness pipelines and executions"

    def reset(self, data_dir: Path) -> list[ResetItem]:
        from workflow.agents.harness_expert.sandbox_api import fresh_state, state_file
        from workflow.sandbox._state import SharedStateFile

        path = state_file(data_dir)
        if not path.exists():
            return []  # the simulated Harness never ran here: nothing to reset
        fresh = fresh_state()
        shared = SharedStateFile(path, format=fresh["format"], what=self.title, on_reload=dict)
        before = shared.overwrite(fresh) or {}
        runs = len(before.get("executions") or {})
        added = sorted(set(before.get("pipelines") or {}) - set(fresh["pipelines"]))
        detail = f"{runs} execution(s) and {len(added)} added pipeline(s) removed"
        return [ResetItem(self.title, path, detail)]

    def show(self, data_dir: Path) -> list[str]:
        from workflow.agents.harness_expert.sandbox_api import fresh_state, state_file

        path = state_file(data_dir)
        try:
            state = json.loads(path.read_text()) if path.exists() else fresh_state()
        except (OSError, ValueError) as exc:
            return [f"SANDBOX Harness (simulated): unreadable state {path}: {exc}"]
        pipelines = state.get("pipelines") or {}
        executions = sorted(
            (state.get("executions") or {}).values(), key=lambda e: e.get("started") or 0
        )
        lines = [
            f"SANDBOX Harness (simulated): {len(pipelines)} pipeline(s), "
            f"{len(executions)} execution(s); state in {path}"
        ]
        lines += [f"  pipeline {pid} (version {p['version']})" for pid, p in pipelines.items()]
        lines += [
            f"  run #{e['sequence']} of {e['pipeline']}: {e['status']}" for e in executions[-10:]
        ]
        return lines


SANDBOX = _SandboxHarness()
