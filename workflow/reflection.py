"""Reflection: judge the last agent's result, then retry, ask for approval, apply or end.

The judgement (quality, completeness, risks) follows the seed. Whether a plan needs
approval is the policy's call (`ApprovalPolicy.needs_approval`), never a model's.
The approval request is built here, not in the gate, so its timestamps are fixed
before the interrupt (the gate re-runs from its first line on every resume).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from workflow.deps import WorkflowDeps, deps_of
from workflow.memory import AccessContext
from workflow.routing import AGENT_SUPERVISOR
from workflow.state import DevOpsAgentState, current_failures
from workflow.supervisors import alternative_for

__all__ = ["build_approval_request", "evaluate", "reflection"]

NODE = "reflection"


def evaluate(result: dict[str, Any] | None) -> dict[str, Any]:
    """The seed's assessment: quality high|low, completeness complete|partial, risks."""
    if not result:
        return {"quality": "low", "completeness": "partial", "risks": ["missing_output"]}
    risks: list[str] = []
    status = result.get("status")
    if status in {"failed", "unavailable"}:
        risks.append("execution_failed")
    output = result.get("output") or {}
    if status == "planned":
        plan = output.get("plan") or {}
        complete = bool(plan.get("plan_hash") and plan.get("preview"))
    else:
        complete = status == "completed" and bool(output or result.get("parts"))
    if not complete:
        risks.append("missing_output")
    if result.get("warnings"):
        risks.append("warnings_present")
    if result.get("errors"):
        risks.append("errors_detected")
    quality = "low" if {"execution_failed", "missing_output"} & set(risks) else "high"
    return {
        "quality": quality,
        "completeness": "complete" if complete else "partial",
        "risks": risks,
    }


def build_approval_request(
    state: DevOpsAgentState,
    plan: dict[str, Any],
    deps: WorkflowDeps,
    reasons: list[str],
    *,
    confirm: bool = False,
) -> dict[str, Any]:
    context = state.get("context", {})
    environment = plan.get("environment") or context.get("environment")
    env_policy = deps.policy.for_environment(environment)
    now = deps.clock()
    files = plan.get("files") or []  # the exact artifacts approved with it (card, uploads)
    return {
        **({"files": files} if files else {}),
        "id": f"apr-{uuid.uuid4().hex[:12]}",
        "status": "pending",
        "action": plan["action"],
        "target": plan.get("target", ""),
        "environment": environment,
        "namespace": plan.get("namespace"),
        "requester": context.get("requester", "unknown"),
        "risk_tags": sorted(set(plan.get("risk", [])) | set(context.get("risk_tags", []))),
        "reasons": reasons,
        "preview": plan.get("preview", ""),
        "plan_hash": plan["plan_hash"],
        "required_approvers": env_policy.approvers.model_dump(),
        "min_approvals": 1 if confirm else env_policy.min_approvals,
        "allow_self_approval": confirm or env_policy.allow_self_approval,
        **({"confirm": True} if confirm else {}),
        "requested_at": now.isoformat(),
        "expires_at": (now + timedelta(minutes=env_policy.ttl_minutes)).isoformat(),
        "votes": [],
        "sandbox": bool(context.get("sandbox")),
    }


async def reflection(
    state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
) -> Command:
    deps = deps_of(runtime)
    agent = state.get("last_agent", "")
    result = (state.get("subagent_results") or {}).get(agent)
    assessment = evaluate(result)
    now = deps.clock().isoformat()
    failures = current_failures(state)
    update: dict[str, Any] = {"current_phase": "reflection"}

    plan = state.get("plan")
    need = None
    if plan and assessment["quality"] == "high":
        need = deps.policy.needs_approval(
            plan["action"],
            plan.get("environment") or state.get("context", {}).get("environment"),
            [*plan.get("risk", []), *state.get("context", {}).get("risk_tags", [])],
        )

    if assessment["quality"] == "low":
        failure = {
            "run_id": state.get("run_id"),
            "agent": agent,
            "risks": assessment["risks"],
            "at": now,
            "summary": (result or {}).get("summary", ""),
        }
        failures.append(failure)
        update["failure_history"] = [failure]
        update["remediation_tasks"] = [
            {
                "agent": agent,
                "issue": {"quality": "low", "risks": assessment["risks"]},
                "action": "review_and_retry",
                "timestamp": now,
            }
        ]
    # A retry is worth it for a transient error, or when an untried alternative exists.
    # A refusal that asks the user something is final: another agent would only answer
    # differently (a deploy through a pipeline must not turn into a direct one).
    retry_possible = not (result or {}).get("final") and bool(
        (result and result.get("retryable"))
        or alternative_for(agent, {**state, "failure_history": failures}, deps)
    )
    needs_retry = (
        assessment["quality"] == "low" and retry_possible and (len(failures) <= deps.max_retries)
    )
    signals = {
        "needs_retry": needs_retry,
        "needs_approval": bool(need and need.required),
        "risk_tags": sorted(set(assessment["risks"]) | set((plan or {}).get("risk", []))),
        "recent_failure_count": len(failures),
        "last_failure_agents": [f["agent"] for f in failures[-3:]],
    }
    update["context_signals"] = signals
    outcome_entry = {
        **assessment,
        "agent": agent,
        "at": now,
        "approval_reasons": need.reasons if need else [],
    }
    update["reflection_outcomes"] = {agent: outcome_entry}
    await deps.remember(
        config, AccessContext.for_workflow(NODE), f"reflection.{agent or 'none'}", outcome_entry
    )

    if needs_retry:
        update["next_action"] = AGENT_SUPERVISOR[agent]
        return Command(goto=AGENT_SUPERVISOR[agent], update=update)
    if assessment["quality"] == "low":
        tried = ", ".join(dict.fromkeys(f["agent"] for f in failures))
        update["outcome"] = {
            "status": "failed",
            "summary": (result or {}).get("summary") or f"{agent} produced no result",
            "agents_tried": tried,
        }
        update["current_phase"] = "done"
        update["next_action"] = "end"
        return Command(goto=END, update=update)
    if plan and need and need.required:
        update["approval"] = build_approval_request(
            state, plan, deps, need.reasons, confirm=need.confirm
        )
        update["next_action"] = "human_approval"
        return Command(goto="human_approval", update=update)
    if plan:
        update["next_action"] = "apply"
        return Command(goto="apply", update=update)
    update["outcome"] = {"status": "done", "summary": result.get("summary", "")}
    update["current_phase"] = "done"
    update["next_action"] = "end"
    return Command(goto=END, update=update)
