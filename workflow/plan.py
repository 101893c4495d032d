"""A plan: what a write action will do, previewed before anyone approves it.

Agents that would change something return a Plan instead of acting. The approval gate
shows its preview and hash; the apply node executes exactly that plan and nothing else.
Plans travel through graph state as plain dicts (`Plan.model_dump()`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from workflow.agents.registry import REGISTRY

__all__ = ["WRITE_ACTIONS", "Plan", "compute_plan_hash"]

# Actions that change something and therefore go through plan -> approve -> apply:
# every agent's `AgentSpec.writes` (deploy, scale, ..., silence, expire_silence).
WRITE_ACTIONS = frozenset(action for spec in REGISTRY for action in spec.writes)


class Plan(BaseModel):
    action: str  # deploy | scale | restart | rollback | delete | provision | silence | ...
    kind: str  # Deployment | Namespace | Silence
    name: str
    namespace: str | None = None
    environment: str | None = None
    backend: str = "kubernetes"  # whose applier applies it (AgentSpec.appliers)
    target: str = ""  # e.g. "deployment/api-server -n production"
    patch: dict[str, Any] | None = None  # strategic-merge patch sent on apply
    body: dict[str, Any] | None = None  # full object for create actions
    resource_version: str | None = None  # object version the preview was computed against
    before: dict[str, Any] = Field(default_factory=dict)  # summary: image, replicas, revision
    after: dict[str, Any] = Field(default_factory=dict)  # summary after, from the dry-run
    preview: str = ""  # human-readable before/after diff
    dry_run: bool = True  # the preview came from a server-side dry-run
    risk: list[str] = Field(default_factory=list)  # e.g. destructive, scale_to_zero
    plan_hash: str = ""

    def with_hash(self) -> Plan:
        return self.model_copy(update={"plan_hash": compute_plan_hash(self)})


def compute_plan_hash(plan: Plan) -> str:
    """sha256 over what will be executed (not the prose), so any change to it shows."""
    material = plan.model_dump(
        include={"action", "kind", "name", "namespace", "patch", "body", "resource_version"}
    )
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]
