"""The sandbox Alertmanager's silences: `devops-bot sandbox show`, and its part of `reset`."""

from __future__ import annotations

from pathlib import Path

from workflow.sandbox.files import ResetItem, alertmanager_state_file

__all__ = ["SANDBOX"]


class _SandboxSilences:
    title = "Alertmanager silences"

    def reset(self, data_dir: Path) -> list[ResetItem]:
        from workflow.sandbox.alertmanager_api import clear_silences

        state = alertmanager_state_file(data_dir)
        dropped = clear_silences(state)
        return [ResetItem(self.title, state, f"{dropped} removed" if dropped else "none to remove")]

    def show(self, data_dir: Path) -> list[str]:
        from workflow.sandbox.alertmanager_api import silences_in

        state = alertmanager_state_file(data_dir)
        silences = silences_in(state)
        lines = [f"SANDBOX Alertmanager (simulated): {len(silences)} silence(s); state in {state}"]
        lines += [f"  {s}" for s in silences]
        return lines


SANDBOX = _SandboxSilences()
