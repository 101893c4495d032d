"""The intake: a request that arrives as a chat message becomes a started run.

The CLI and the Slack bot classify the text themselves and start the graph with
`initial_state(...)`. A LangGraph API client (LangGraph Studio, `POST /threads/{id}/runs`)
sends a message instead, e.g. `{"messages": [{"role": "user", "content": "deploy
api-server:v1.2.3 prod", "name": "U1"}]}`; this node, first in the graph that
`bot.studio` serves, classifies the newest human message (`workflow.classify`, rules first)
and starts the run from it exactly as `DevOpsService.start` would: the same context, the
service's catalog name, the requester (the message's `name`, else `context.requester`,
else "studio") and the deployment's `sandbox` flag.

A state the caller started itself (`initial_state`, phase "init") goes straight on. A
message sent while the thread waits for an approval does not drop that request: the thread
pauses on it again (the CLI refuses such a run; a graph node cannot refuse without losing
the pause), and the message is left for later. A message already started (its id is the
run's `context.message_id`) is not started again.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from workflow.approval.gate import NODE as GATE
from workflow.classify import classify
from workflow.deps import WorkflowDeps, deps_of
from workflow.registered import refresh_registered
from workflow.state import DevOpsAgentState, initial_state
from workflow.supervisors import ROOT

__all__ = ["DEFAULT_REQUESTER", "DESTINATIONS", "NODE", "intake"]

NODE = "intake"
DESTINATIONS = (ROOT, GATE, END)
DEFAULT_REQUESTER = "studio"
_EXAMPLE = "deploy api-server:v1.2.3 staging"


def _newest_human(messages: list[AnyMessage]) -> HumanMessage | None:
    return next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)


def _failed(summary: str) -> Command:
    outcome = {"status": "failed", "summary": summary}
    return Command(goto=END, update={"outcome": outcome, "current_phase": "done"})


async def intake(state: DevOpsAgentState, runtime: Runtime[WorkflowDeps]) -> Command:
    deps = deps_of(runtime)
    if state.get("task_type") and state.get("run_id") and state.get("current_phase") == "init":
        return Command(goto=ROOT)
    if (state.get("approval") or {}).get("status") == "pending":
        return Command(goto=GATE)
    context: dict[str, Any] = dict(state.get("context") or {})
    message = _newest_human(state.get("messages") or [])
    if message is None or message.id == context.get("message_id"):
        return _failed(f"nothing to do: send a request as a message, e.g. {_EXAMPLE!r}")
    text = str(message.text).strip()
    if not text:
        return _failed(f"empty request: say what to do, e.g. {_EXAMPLE!r}")
    request = await classify(text, llm=deps.llm)
    if request.task_type is None:
        return _failed(request.hint or "could not understand the request")
    started = {
        **request.context,
        "sandbox": deps.sandbox,
        "requester": message.name or context.get("requester") or DEFAULT_REQUESTER,
        "message_id": message.id,
    }
    await refresh_registered(deps)  # services registered meanwhile, maybe on another replica
    if started.get("service"):
        started["service"] = deps.catalog.canonical_name(started["service"])
    update: dict[str, Any] = dict(initial_state(request.task_type, started, request.text or text))
    del update["messages"]  # the message is in the state already
    return Command(goto=ROOT, update=update)
