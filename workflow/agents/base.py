"""What every agent node shares: the result shape, memory writes, honest unavailability.

An agent result is plain data:
`{"agent", "status", "summary", "output", "parts", "warnings", "errors", "retryable", "at"}`
with status one of `completed` (read work done), `planned` (a write was planned and
previewed; nothing changed), `failed` (it could not do the work) or `unavailable`
(this agent is not built yet). `output` is the machine-readable answer (what `--json`
shows); `parts` is what a person is shown (see `workflow.parts`: tables, charts, files,
findings, previews), rendered by the edges for Slack and the terminal. Reflection judges
these; nothing here claims success for work it did not do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from workflow.deps import WorkflowDeps, deps_of
from workflow.memory import AccessContext
from workflow.state import DevOpsAgentState

__all__ = [
    "AgentNode",
    "Answer",
    "Handler",
    "Refusal",
    "agent_update",
    "handler_agent",
    "make_result",
    "tag_conflict",
    "unavailable_agent",
]

Status = Literal["completed", "planned", "failed", "unavailable"]
AgentNode = Callable[
    [DevOpsAgentState, RunnableConfig, Runtime[WorkflowDeps]], Awaitable[dict[str, Any]]
]


def make_result(
    agent: str,
    status: Status,
    summary: str,
    *,
    deps: WorkflowDeps,
    output: dict[str, Any] | None = None,
    parts: list[dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
    errors: list[str] | None = None,
    retryable: bool = False,
) -> dict[str, Any]:
    return {
        "agent": agent,
        "status": status,
        "summary": summary,
        "output": output or {},
        "parts": list(parts or []),
        "warnings": list(warnings or []),
        "errors": list(errors or []),
        "retryable": retryable,
        "at": deps.clock().isoformat(),
    }


async def agent_update(
    result: dict[str, Any],
    *,
    deps: WorkflowDeps,
    config: RunnableConfig,
    state: DevOpsAgentState,
    **extra: Any,
) -> dict[str, Any]:
    """The state update for an agent's result, also recorded on the memory bus."""
    agent = result["agent"]
    await deps.remember(config, AccessContext.for_agent(agent), f"{agent}.result", result)
    update: dict[str, Any] = {
        "subagent_results": {agent: result},
        "active_agents": [*state.get("active_agents", []), agent],
        "last_agent": agent,
        "current_phase": "agent",
        "next_action": "reflection",
    }
    update.update(extra)
    return update


def unavailable_agent(name: str, capability: str) -> AgentNode:
    """A node for an agent whose real implementation has not been built yet.

    It fails explicitly, so reflection and the user see the truth instead of a fake
    success; the supervisor may still route to an alternative agent on retry.
    """

    async def node(
        state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
    ) -> dict[str, Any]:
        deps = deps_of(runtime)
        result = make_result(
            name,
            "unavailable",
            f"{name} is not available yet: {capability} is not built in this version "
            "of devops-bot, so nothing was done",
            deps=deps,
            errors=[f"{name} is not available yet"],
        )
        return await agent_update(result, deps=deps, config=config, state=state, plan=None)

    node.__name__ = name
    node.__doc__ = f"{name}: {capability} (not available yet)."
    return node


# ---------------------------------------------------------------- one way to write an agent


@dataclass
class Answer:
    """What one action found: becomes the agent result and the state update."""

    status: Status
    summary: str
    output: dict[str, Any] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)  # workflow.parts constructors
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # extra state keys (declared ones)
    plan: dict[str, Any] | None = None
    retryable: bool = False
    final: bool = False  # the request was answered (e.g. a question back): no alternative

    @classmethod
    def failed(cls, why: str, *, retryable: bool = False) -> Answer:
        return cls("failed", why, errors=[why], retryable=retryable)

    @classmethod
    def planned(
        cls,
        plan: Any,
        summary: str,
        *,
        title: str | None = None,
        parts_after: list[dict[str, Any]] | None = None,
        output: dict[str, Any] | None = None,
        warnings: list[str] | None = None,
    ) -> Answer:
        """A write planned for approval: the plan (a `workflow.plan.Plan`) in the output and
        the state, its preview shown first (titled `title`), then `parts_after`."""
        from workflow import parts

        data = plan.model_dump(mode="json")
        titled = {"title": title} if title else {}
        shown = [parts.preview(plan.preview, **titled)] if plan.preview else []
        return cls(
            "planned",
            summary,
            output={**(output or {}), "plan": data},
            parts=[*shown, *(parts_after or [])],
            warnings=list(warnings or []),
            plan=data,
        )


class Refusal(Exception):
    """The request cannot be answered as asked; the message says why and how to ask."""


Handler = Callable[[WorkflowDeps, dict[str, Any], DevOpsAgentState], Awaitable[Answer]]


def tag_conflict(context: dict[str, Any], example: str) -> str | None:
    """A deploy naming two different tags (`api-server:v1.2.3 ... tag=v1.2.4`), said back as a
    question: one agent would deploy the image's tag and another the `tag=`, so neither may
    guess."""
    image, tag = str(context.get("image") or ""), context.get("image_tag")
    name = image.rsplit("/", 1)[-1].split("@", 1)[0]
    if not tag or ":" not in name:
        return None
    in_image = name.rsplit(":", 1)[1]
    if in_image == str(tag):
        return None
    return (
        f"two tags given: {in_image} in the image {image} and {tag} as the tag; say one, "
        f"e.g. '{example}'"
    )


def handler_agent(
    name: str,
    resolve_action: Callable[[str, dict[str, Any]], str],
    handlers: Mapping[str, Handler],
    *,
    unsupported: Callable[[str], str] | None = None,
    failures: tuple[type[Exception], ...] = (),
    kind_in_output: bool = False,
) -> AgentNode:
    """An agent node from a table of handlers, one per action.

    The node resolves the action from the task type and context, runs its handler and turns
    the `Answer` into the agent result and state update. A `Refusal` (and any exception in
    `failures`, by its `message` or text) becomes a failed result saying why. `unsupported`
    words the refusal of an action with no handler; `kind_in_output` adds the action to a
    successful result's output as `kind`.
    """

    async def node(
        state: DevOpsAgentState, config: RunnableConfig, runtime: Runtime[WorkflowDeps]
    ) -> dict[str, Any]:
        deps = deps_of(runtime)
        context = state.get("context", {})
        action = resolve_action(state.get("task_type", ""), context)
        handler = handlers.get(action)
        try:
            if handler is None:
                why = unsupported(action) if unsupported else f"{name} cannot {action!r}"
                answer = Answer("failed", why, errors=[f"unsupported action {action}"])
            else:
                answer = await handler(deps, context, state)
        except Refusal as exc:  # an answer to the user, not a failure another agent could fix
            answer = Answer.failed(str(exc))
            answer.final = True
        except failures as exc:
            answer = Answer.failed(getattr(exc, "message", None) or str(exc))
        output = answer.output
        if kind_in_output:
            output = {"kind": action, **output} if answer.status != "failed" else {}
        result = make_result(
            name,
            answer.status,
            answer.summary,
            deps=deps,
            output=output,
            parts=answer.parts,
            warnings=answer.warnings,
            errors=answer.errors,
            retryable=answer.retryable,
        )
        if answer.final:
            result["final"] = True
        return await agent_update(
            result, deps=deps, config=config, state=state, plan=answer.plan, **answer.state
        )

    node.__name__ = name
    return node
