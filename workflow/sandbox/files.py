"""The sandbox's state in the bot's data directory, and how to put all of it back.

Every piece of state the sandbox keeps between processes is a file named here:

    sandbox-cluster.json        the cluster (`kube_api`): objects, rollout history
    sandbox-alertmanager.json   the Alertmanager's silences (`alertmanager_api`)

and, in the bot's own runbook index (`runbooks.db`, when it is SQLite), the entries of the
sandbox's runbooks, which a sandbox service adds to it.

The sandbox Prometheus keeps none (its series are computed from the cluster's rollout
history), nor do pushed alerts (in memory, as in Alertmanager). Next to each file lives a
`.lock` file that serialises the processes sharing it; it holds no state and stays.

An agent whose sandbox backend keeps state resets it in its own sandbox hook
(`AgentSpec.sandbox`: `show` and `reset`); `reset_sandbox`, which `devops-bot sandbox reset`
calls, runs every agent's hook, then forgets the sandbox runbooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ALERTMANAGER_FILE",
    "CLUSTER_FILE",
    "RUNBOOKS_DIR",
    "RUNBOOK_INDEX_FILE",
    "ResetItem",
    "alertmanager_state_file",
    "cluster_state_file",
    "reset_sandbox",
]

CLUSTER_FILE = "sandbox-cluster.json"
ALERTMANAGER_FILE = "sandbox-alertmanager.json"
RUNBOOK_INDEX_FILE = "runbooks.db"  # workflow.assembly's SQLite runbook index
RUNBOOKS_DIR = Path(__file__).parent / "runbooks"


def cluster_state_file(data_dir: Path) -> Path:
    return Path(data_dir) / CLUSTER_FILE


def alertmanager_state_file(data_dir: Path) -> Path:
    return Path(data_dir) / ALERTMANAGER_FILE


@dataclass(frozen=True)
class ResetItem:
    """One piece of sandbox state that was reset: what it is, where, and what it is now."""

    what: str
    path: Path
    detail: str


async def reset_sandbox(data_dir: Path) -> list[ResetItem]:
    """Put every piece of the sandbox's state in `data_dir` back to where it starts: the
    seeded cluster, no silences. Files that are unreadable are replaced. A process serving
    the sandbox from `data_dir` at the time (a bot, `sandbox serve`) sees the reset from its
    next request on: each file is rewritten under its lock, never just deleted."""
    from workflow.agents.registry import REGISTRY

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    items: list[ResetItem] = []
    for spec in REGISTRY:  # each agent resets the sandbox backend it keeps state in
        if spec.sandbox is not None:
            items += spec.sandbox.load().reset(Path(data_dir))
    index = Path(data_dir) / RUNBOOK_INDEX_FILE
    if index.exists():
        from workflow.tools.docs import SqliteFtsDocs

        docs = SqliteFtsDocs(index)
        try:
            forgotten = await docs.forget_directory(RUNBOOKS_DIR)
        finally:
            docs.close()
        items.append(
            ResetItem(
                "sandbox runbooks in the runbook index",
                index,
                f"{forgotten} removed" if forgotten else "none to remove",
            )
        )
    return items
