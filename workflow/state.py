"""DevOpsAgentState: every field of the seed, plus retry, approval and plan state.

Everything here must survive the checkpointer (msgpack/JSON), so it is plain data.
The memory bus, backends and settings travel in the runtime context (`workflow.deps`).
List fields that several nodes add to use `operator.add`; dict fields that nodes
update per key use `merge_dicts`. A node returns only the keys it changes.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict  # pydantic (Studio's input form) needs it on 3.11

__all__ = ["DevOpsAgentState", "current_failures", "initial_state", "merge_dicts"]


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Shallow merge: right's keys win. Used for per-agent result maps."""
    return {**(left or {}), **(right or {})}


class DevOpsAgentState(TypedDict, total=False):
    # Core workflow
    messages: Annotated[list[AnyMessage], add_messages]
    task_type: str
    context: dict[str, Any]
    current_phase: str
    # Routing
    supervisor_path: Annotated[list[str], operator.add]
    routing_trace: Annotated[list[dict[str, Any]], operator.add]
    next_action: str
    # Agent results
    subagent_results: Annotated[dict[str, Any], merge_dicts]
    active_agents: list[str]
    # Infrastructure context
    infrastructure_state: Annotated[dict[str, Any], merge_dicts]
    metrics: Annotated[dict[str, Any], merge_dicts]
    logs: Annotated[list[Any], operator.add]
    alerts: Annotated[list[Any], operator.add]
    # Knowledge retrieval
    retrieved_docs: Annotated[list[Any], operator.add]
    search_queries: Annotated[list[str], operator.add]
    # Tool results
    web_search_results: Annotated[list[Any], operator.add]
    api_responses: Annotated[dict[str, Any], merge_dicts]
    # Reflection
    reflection_outcomes: Annotated[dict[str, Any], merge_dicts]
    remediation_tasks: Annotated[list[dict[str, Any]], operator.add]
    failure_history: Annotated[list[dict[str, Any]], operator.add]
    context_signals: dict[str, Any]
    # One graph thread can hold several runs (follow-ups in a Slack thread); lists
    # that accumulate tag their entries with the run they belong to.
    run_id: str
    # Plan -> approve -> apply
    last_agent: str
    plan: dict[str, Any] | None
    approval: dict[str, Any] | None  # the request, its votes and its decision
    outcome: dict[str, Any] | None  # the final word of the run: status + summary
    # The thread's incident record (workflow.incident.report). Not reset by a new run, so
    # follow-ups, remediations and the postmortem in the same thread build on it.
    incident: dict[str, Any] | None


def current_failures(state: DevOpsAgentState) -> list[dict[str, Any]]:
    """The failures of this run only: earlier runs in the thread do not use up retries."""
    run = state.get("run_id")
    return [f for f in state.get("failure_history", []) if f.get("run_id") == run]


def initial_state(task_type: str, context: dict[str, Any], text: str) -> DevOpsAgentState:
    """A complete initial state, so every seed field is present from the first checkpoint."""
    import uuid

    from langchain_core.messages import HumanMessage

    return DevOpsAgentState(
        messages=[HumanMessage(content=text)],
        task_type=task_type,
        context=dict(context),
        current_phase="init",
        supervisor_path=[],
        routing_trace=[],
        next_action="",
        subagent_results={},
        active_agents=[],
        infrastructure_state={},
        metrics={},
        logs=[],
        alerts=[],
        retrieved_docs=[],
        search_queries=[],
        web_search_results=[],
        api_responses={},
        reflection_outcomes={},
        remediation_tasks=[],
        failure_history=[],
        context_signals={},
        run_id=uuid.uuid4().hex[:12],
        last_agent="",
        plan=None,
        approval=None,
        outcome=None,
    )
