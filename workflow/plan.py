"""A plan: what a write action will do, previewed before anyone approves it.

Agents that would change something return a Plan instead of acting. The approval gate
shows its preview and hash; the apply node executes exactly that plan and nothing else.
Plans travel through graph state as plain dicts (`Plan.model_dump()`).

A plan may carry files (`files: [{path, content, media_type}]`: a pipeline YAML, a migration,
a scaffolded tree): they are part of what is approved (in the hash), the approval card shows
them, Slack uploads them into the thread and `devops-bot ... --out DIR` writes them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from workflow import parts
from workflow.agents.registry import REGISTRY

__all__ = ["WRITE_ACTIONS", "Plan", "PlanFile", "compute_plan_hash"]

# Actions that change something and therefore go through plan -> approve -> apply:
# every agent's `AgentSpec.writes` (deploy, scale, ..., silence, expire_silence).
WRITE_ACTIONS = frozenset(action for spec in REGISTRY for action in spec.writes)


class PlanFile(BaseModel):
    """One file a plan carries: a relative path inside the output folder, text content."""

    path: str
    content: str
    media_type: str = ""

    @model_validator(mode="after")
    def _checked(self) -> PlanFile:
        part = parts.file(self.path, self.content, media_type=self.media_type or None)
        self.path, self.media_type = part["path"], part["media_type"]
        return self


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
    files: list[PlanFile] = Field(default_factory=list)  # artifacts the plan carries
    plan_hash: str = ""

    @field_validator("files")
    @classmethod
    def _distinct_paths(cls, files: list[PlanFile]) -> list[PlanFile]:
        seen: set[str] = set()
        for f in files:
            if f.path in seen:
                raise ValueError(f"two files at {f.path}")
            seen.add(f.path)
        return files

    def with_hash(self) -> Plan:
        return self.model_copy(update={"plan_hash": compute_plan_hash(self)})


def compute_plan_hash(plan: Plan) -> str:
    """sha256 over what will be executed (not the prose), so any change to it shows."""
    material = plan.model_dump(
        include={"action", "kind", "name", "namespace", "patch", "body", "resource_version"}
    )
    if plan.files:  # (absent otherwise: the hashes of plans without files stay as they were)
        material["files"] = [f.model_dump() for f in plan.files]
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]
