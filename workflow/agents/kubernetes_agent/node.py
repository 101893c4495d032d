"""kubernetes_agent: reads cluster state and plans writes on a real Kubernetes API.

Reads (status) complete here. Writes (deploy, scale, restart, rollback, delete,
provision) are only planned: a server-side dry-run with a before/after preview and a
plan hash. The apply node executes the plan after the approval gate.
"""

from __future__ import annotations

from typing import Any

from workflow import parts
from workflow.agents.base import Answer, handler_agent, tag_conflict
from workflow.agents.kubernetes_agent import NAME, SPEC
from workflow.agents.kubernetes_agent.first_deploy import first_deploy_plan
from workflow.deps import WorkflowDeps
from workflow.plan import WRITE_ACTIONS
from workflow.state import DevOpsAgentState
from workflow.tools.kubernetes import KubernetesError, NotFoundError

__all__ = ["NAME", "kubernetes_agent", "resolve_action"]

_READ_ACTIONS = frozenset({"status", "logs"})
_EXAMPLES = {
    "deploy": "deploy api-server:v1.2.3 to staging",
    "scale": "scale web to 3 replicas in staging",
    "restart": "restart checkout in staging",
    "rollback": "rollback api-server in production",
    "delete": "delete deployment web in dev",
    "provision": "create namespace team-a",
    "status": "status of api-server in production",
}


def resolve_action(task_type: str, context: dict[str, Any]) -> str:
    action = context.get("action") or SPEC.default_action(task_type, "status")
    if action == "destroy":
        action = "delete"
    if action in {"create", "provision"} and task_type == "provision":
        return "provision"
    return action


def _missing(action: str, context: dict[str, Any]) -> str | None:
    """What the action still needs from the user, as a sentence, or None."""
    example = _EXAMPLES.get(action, _EXAMPLES["status"])
    if action == "provision":
        if not (context.get("namespace") or context.get("service")):
            return f"provision needs a namespace name, e.g. '{example}'"
        return None
    if not context.get("service"):
        return f"{action} needs a deployment name, e.g. '{example}'"
    if not context.get("environment") and not context.get("namespace"):
        return (
            f"{action} needs an environment (production, staging or dev) or a namespace, "
            f"e.g. '{example}'"
        )
    if action == "deploy" and not (context.get("image") or context.get("image_tag")):
        return f"deploy needs an image or tag, e.g. '{example}'"
    if action == "deploy":
        return tag_conflict(context, example)
    if action == "scale" and context.get("replicas") is None:
        return f"scale needs a replica count, e.g. '{example}'"
    return None


async def _run(deps: WorkflowDeps, context: dict[str, Any], state: DevOpsAgentState) -> Answer:
    """Plan a Kubernetes write, or read the state of a deployment."""
    action = resolve_action(state.get("task_type", ""), context)
    problem = _missing(action, context)
    if problem:
        return Answer.failed(problem)
    if deps.kubernetes is None:
        return Answer.failed(deps.kubernetes_unavailable)
    environment = context.get("environment")
    service = context.get("service")
    if action == "provision":
        namespace = name = context.get("namespace") or service
    else:
        name = service
        namespace = context.get("namespace") or deps.catalog.namespace_for(service, environment)
    cluster = deps.kubernetes.cluster_label
    try:
        if action in _READ_ACTIONS:
            status = await deps.kubernetes.status(namespace, name)
            summary = _status_summary(status, namespace, name, cluster)
            warnings = [
                f"pod {p['name']}: {p['reason']}" for p in status.get("pods", []) if p.get("reason")
            ]
            return Answer(
                "completed",
                summary,
                output={"status": status},
                parts=_status_tables(status, namespace, name),
                warnings=warnings,
                state={"infrastructure_state": {f"{namespace}/{name}": status}},
            )
        try:
            plan = await deps.kubernetes.plan(
                action,
                namespace=namespace,
                name=name,
                environment=environment,
                image=context.get("image") or context.get("image_tag"),
                replicas=context.get("replicas"),
            )
        except NotFoundError as exc:
            if action != "deploy" or not str(exc).startswith("deployment "):
                raise
            first = await first_deploy_plan(deps, context, namespace, name, environment)
            if isinstance(first, Answer):
                return first
            plan = first
    except KubernetesError as exc:
        why = f"{action} {namespace}/{name} on {cluster}: {exc}"
        return Answer("failed", why, errors=[str(exc)], retryable=getattr(exc, "retryable", False))

    plan_data = plan.model_dump(mode="json")
    warnings = ["the dry-run shows no change"] if "no_change" in plan.risk else []
    if context.get("runtime_inputs"):  # said, not dropped: they are a pipeline's inputs
        words = ", ".join(f"{k}=" for k in context["runtime_inputs"])
        warnings.append(
            f"not used: {words} (runtime inputs of a Harness pipeline; {name} has none in the "
            "catalog, so this deploy goes straight to the cluster)"
        )
    first = " (first deploy: creates its Deployment and Service)" if "creates" in plan.risk else ""
    return Answer(
        "planned",
        f"planned {action} of {plan.target}{first} on {cluster} (server-side dry-run "
        "accepted); nothing has changed yet",
        output={"plan": plan_data},
        parts=[parts.preview(plan.preview)] if plan.preview else [],
        warnings=warnings,
        plan=plan_data,
    )


kubernetes_agent = handler_agent(
    NAME,
    resolve_action,
    dict.fromkeys((*WRITE_ACTIONS, *_READ_ACTIONS), _run),
    unsupported=lambda action: (
        f"kubernetes_agent cannot {action!r}; it can deploy, scale, restart, rollback, "
        "delete, provision a namespace, or show status"
    ),
)
kubernetes_agent.__doc__ = "Plan a Kubernetes write, or read the state of a deployment."


def _status_tables(status: dict[str, Any], namespace: str, name: str) -> list[dict[str, Any]]:
    """Its pods (the first 10) and its last 5 events, as tables."""
    pods = [
        (
            p["name"],
            p.get("phase"),
            p.get("ready"),
            p.get("restart_count", p.get("restarts", 0)),
            p.get("reason") or "",
        )
        for p in status.get("pods", [])[:10]
    ]
    events = [
        (e.get("type"), e.get("reason"), e.get("message")) for e in status.get("events", [])[-5:]
    ]
    where = f"deployment/{name} -n {namespace}"
    tables = []
    if pods:
        columns = ("pod", "phase", "ready", "restarts", "reason")
        tables.append(parts.table(f"Pods of {where}", columns, pods))
    if events:
        tables.append(parts.table(f"Events of {where}", ("type", "reason", "message"), events))
    return tables


def _status_summary(status: dict[str, Any], namespace: str, name: str, cluster: str) -> str:
    images = ", ".join(sorted(set((status.get("images") or {}).values()))) or "no containers"
    replicas = status.get("replicas") or {}
    rollout = (
        "rollout complete"
        if status.get("rollout_complete")
        else f"rollout {status.get('rollout_state', 'in progress')}"
    )
    unhealthy = [p for p in status.get("pods", []) if p.get("reason")]
    pods = f"; {len(unhealthy)} unhealthy pod(s)" if unhealthy else ""
    return (
        f"deployment/{name} -n {namespace} on {cluster}: {images}; revision "
        f"{status.get('revision')}; {replicas.get('ready', 0)}/{replicas.get('desired', 0)} "
        f"ready, {rollout}{pods}"
    )
