"""Approval policy: plain code over a YAML file. No model output ever reaches a decision.

`needs_approval()` says whether a planned action must wait for people;
`may_vote()` says whether one person may approve or reject one request.
The file is named by DEVOPS_BOT_POLICY (the caller passes the path); without it the
built-in defaults hold: every write in production and delete/destroy everywhere need
approval, and nobody is an approver until the file names them.

Some actions change shared configuration rather than an environment (a pipeline, a new
repository, a pull request). The `actions:` section names them with their own rule:
`confirm` (the default for those below): nothing happens before a click, and the requester's
own click is enough (an approver of the environment may click too); `approval`: like any
write that needs approval in the environment. An environment that needs approval for every
write (production), a destructive action or a high-risk plan still needs a real approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from workflow.environments import canonical_environment
from workflow.plan import WRITE_ACTIONS

__all__ = [
    "ActionPolicy",
    "ApprovalNeed",
    "ApprovalPolicy",
    "Approvers",
    "EnvironmentPolicy",
    "PolicyError",
    "Verdict",
    "load_policy",
]

DESTRUCTIVE_ACTIONS = frozenset({"delete", "destroy"})


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names the file and field."""


class Approvers(BaseModel):
    users: list[str] = Field(default_factory=list)  # Slack user IDs (U…/W…) or CLI names
    groups: list[str] = Field(default_factory=list)  # Slack user-group IDs (S…)

    def is_empty(self) -> bool:
        return not self.users and not self.groups

    def describe(self) -> str:
        parts = list(self.users) + [f"group {g}" for g in self.groups]
        return ", ".join(parts) if parts else "nobody"


class EnvironmentPolicy(BaseModel):
    # writes: every write action; destructive: only delete/destroy and high-risk plans
    require_approval: Literal["writes", "destructive"] = "destructive"
    approvers: Approvers = Field(default_factory=Approvers)
    min_approvals: int = Field(default=1, ge=1, le=10)
    allow_self_approval: bool = True
    ttl_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)


class ActionPolicy(BaseModel):
    # confirm: a click by the requester (or an approver) applies it; approval: the
    # environment's approvers must approve, as for a write in an environment that needs it.
    require_approval: Literal["confirm", "approval"] = "confirm"


# Actions that wait for a click even where writes need no approval, and how by default.
DEFAULT_ACTIONS: dict[str, ActionPolicy] = {
    action: ActionPolicy(require_approval="confirm")
    for action in (
        "create_pipeline",
        "update_pipeline",
        "create_repository",
        "open_pull_request",
        "migrate",  # a database migration (database_agent): never applied without a click
        "seed",  # rows generated into a database table (database_agent)
    )
}


class ApprovalPolicy(BaseModel):
    environments: dict[str, EnvironmentPolicy] = Field(default_factory=dict)
    default: EnvironmentPolicy = Field(default_factory=EnvironmentPolicy)
    actions: dict[str, ActionPolicy] = Field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    # Plan risk tags that make any write need approval, whatever the environment.
    high_risk_tags: list[str] = Field(
        default_factory=lambda: ["destructive", "scale_to_zero", "high_risk"]
    )
    source: str = "built-in defaults"

    @field_validator("actions", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        # A file names the actions it changes; the others keep their defaults.
        if not isinstance(value, dict):
            return value
        return {**{k: v.model_dump() for k, v in DEFAULT_ACTIONS.items()}, **value}

    @field_validator("environments", mode="before")
    @classmethod
    def _canonical_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for key, env in value.items():
            canon = canonical_environment(str(key))
            if canon is None:
                raise ValueError(f"unknown environment {key!r} (use production, staging or dev)")
            out[canon] = env
        return out

    @classmethod
    def builtin(cls) -> ApprovalPolicy:
        return cls(
            environments={
                "production": EnvironmentPolicy(
                    require_approval="writes", allow_self_approval=False
                ),
            }
        )

    def for_environment(self, environment: str | None) -> EnvironmentPolicy:
        canon = canonical_environment(environment) if environment else None
        return self.environments.get(canon or "", self.default)

    def needs_approval(
        self, action: str, environment: str | None, risk_tags: list[str] | tuple[str, ...] = ()
    ) -> ApprovalNeed:
        """Whether `action` in `environment` must wait for approval, and why."""
        if action not in WRITE_ACTIONS:
            return ApprovalNeed(False, [])
        reasons = []
        env = self.for_environment(environment)
        if action in DESTRUCTIVE_ACTIONS:
            reasons.append(f"{action} is destructive")
        if env.require_approval == "writes":
            reasons.append(f"every write in {environment or 'this environment'} needs approval")
        risky = sorted(set(risk_tags) & set(self.high_risk_tags))
        if risky:
            reasons.append("high risk: " + ", ".join(risky))
        rule = self.actions.get(action)
        if rule is not None and rule.require_approval == "approval":
            reasons.append(f"{action} needs approval (policy actions.{action})")
        if not reasons and rule is not None:  # confirm: the requester's own click will do
            why = f"{action} waits for a click: the requester may confirm it"
            return ApprovalNeed(True, [why], confirm=True)
        return ApprovalNeed(bool(reasons), reasons)

    def may_vote(
        self,
        user: str,
        request: dict[str, Any],
        *,
        decision: Literal["approve", "reject"],
        user_groups: frozenset[str] | set[str] = frozenset(),
        now: datetime,
    ) -> Verdict:
        """Whether `user` may cast this vote on `request` right now. Reasons are user-facing."""
        environment = request.get("environment") or "this environment"
        env = self.for_environment(request.get("environment"))
        expires_at = datetime.fromisoformat(request["expires_at"])
        if now >= expires_at:
            return Verdict(False, f"this approval request expired at {request['expires_at']}")
        requester = request.get("requester")
        if decision == "reject" and user == requester:
            return Verdict(True, "the requester may withdraw their own request")
        voters = {v["user"] for v in request.get("votes", [])}
        if request.get("confirm") and user == requester and user not in voters:
            return Verdict(True, "the requester confirms their own request")
        if env.approvers.is_empty():
            return Verdict(
                False,
                f"{environment} has no approvers configured, so nobody can approve this; "
                f"list them under environments.{environment}.approvers in the policy file "
                f"({self.source})",
            )
        if decision == "approve" and user == requester and not env.allow_self_approval:
            return Verdict(
                False,
                f"self-approval is not allowed in {environment}: someone other than "
                f"{requester} must approve",
            )
        groups = set(user_groups) & set(env.approvers.groups)
        if user not in env.approvers.users and not groups:
            return Verdict(
                False,
                f"{user} is not an approver for {environment} "
                f"(approvers: {env.approvers.describe()})",
            )
        voters = {v["user"] for v in request.get("votes", [])}
        if user in voters:
            return Verdict(False, f"{user} has already voted on this request")
        return Verdict(True, "approver")

    def may_cancel(
        self,
        user: str,
        requester: str | None,
        environment: str | None,
        user_groups: frozenset[str] | set[str] = frozenset(),
    ) -> Verdict:
        """Whether `user` may stop a run in progress: its requester, or an approver of its
        environment. Reasons are user-facing."""
        if user == requester:
            return Verdict(True, "the requester")
        env = self.for_environment(environment)
        if user in env.approvers.users or set(user_groups) & set(env.approvers.groups):
            return Verdict(True, "approver")
        where = environment or "this environment"
        return Verdict(
            False,
            f"only the requester ({requester or 'unknown'}) or an approver for {where} "
            f"(approvers: {env.approvers.describe()}) may cancel it",
        )

    def approvals_needed(self, request: dict[str, Any]) -> int:
        """How many distinct approvals close `request`: its own count or its environment's,
        whichever is higher (a policy tightened while a request waits still applies).
        A request that only waits for a confirmation closes on one click."""
        if request.get("confirm"):
            return 1
        return max(
            int(request.get("min_approvals", 1)),
            self.for_environment(request.get("environment")).min_approvals,
        )

    def closes(self, request: dict[str, Any], vote: dict[str, Any]) -> bool:
        """Whether `vote`, once accepted on `request`, ends it: an expiry or a rejection
        always does; an approval when it completes the quorum."""
        decision = vote.get("decision")
        if decision in {"expire", "reject"}:
            return True
        if decision != "approve":
            return False
        approvals = {
            v.get("user") for v in request.get("votes", []) if v.get("decision") == "approve"
        }
        return len(approvals | {vote.get("user")}) >= self.approvals_needed(request)


@dataclass(frozen=True)
class ApprovalNeed:
    required: bool
    reasons: list[str]
    confirm: bool = False  # a click by the requester is enough (`actions:` rule `confirm`)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def load_policy(path: str | Path | None) -> ApprovalPolicy:
    """The policy in `path`, or the built-in defaults when no path is given."""
    if not path:
        return ApprovalPolicy.builtin()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"policy file {path} must hold a mapping at the top level")
    try:
        policy = ApprovalPolicy.model_validate({**raw, "source": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PolicyError(f"policy file {path}: {where}: {first['msg']}") from None
    # Production keeps its safe defaults for whatever the file leaves out.
    prod = raw.get("environments", {}) or {}
    prod_raw = next(
        (v for k, v in prod.items() if canonical_environment(str(k)) == "production"), None
    )
    if "production" in policy.environments and isinstance(prod_raw, dict):
        env = policy.environments["production"]
        updates = {}
        if "require_approval" not in prod_raw:
            updates["require_approval"] = "writes"
        if "allow_self_approval" not in prod_raw:
            updates["allow_self_approval"] = False
        policy.environments["production"] = env.model_copy(update=updates)
    elif "production" not in policy.environments:
        policy.environments["production"] = ApprovalPolicy.builtin().environments["production"]
    return policy
