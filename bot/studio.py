"""LangGraph Studio's entry (`langgraph.json`): the devops graph, with the dependencies it
opens itself.

`langgraph dev` (any LangGraph API server) calls `studio_graph(runtime)` for every run and
for every read. A run gets what `devops-bot run` gets, from the same settings and the same
assembly (`workflow.assembly.open_service`): the sandbox (the in-process simulated
Kubernetes API, Prometheus and Alertmanager, and the shipped sandbox policy) unless the
environment names a cluster (`KUBECONFIG`, or running in a pod) or sets
`DEVOPS_BOT_SANDBOX`; `PROMETHEUS_URL`, `ALERTMANAGER_URL`, `LOKI_URL`,
`DEVOPS_BOT_POLICY`, ... are used when set, as by the CLI. A `~/.kube/config` alone does not
take Studio off the sandbox. Reads (state, history, schemas, the drawing) get the same
graph and open nothing.

The graph starts with `workflow.intake`: the input is a chat message, e.g.
`{"messages": [{"role": "user", "content": "deploy api-server:v1.2.3 prod", "name": "U1"}]}`
(`name` is the requester; "studio" without one). A write the policy wants approved pauses
at `human_approval`; resume it with a vote, `{"decision": "approve", "user": "U2"}` (or
"reject" with a "reason"; "groups" optional), plain or keyed by the interrupt's id. The
approval gate judges it by the policy exactly as it judges a CLI or Slack vote.

Nothing here authenticates those names: whoever reaches the Studio server can vote as
anyone. Studio is a development tool; keep it on the sandbox, on loopback, unless the
environment deliberately says otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from langgraph.graph.state import CompiledStateGraph
from pydantic_core import core_schema

from bot.settings import Settings, load_settings
from workflow.deps import WorkflowDeps
from workflow.graph import create_devops_workflow

if TYPE_CHECKING:
    from langgraph_sdk.runtime import ServerRuntime

__all__ = ["StudioSetupError", "open_studio_deps", "studio_graph", "uses_sandbox"]


def uses_sandbox(settings: Settings) -> bool:
    """Studio runs on the sandbox unless DEVOPS_BOT_SANDBOX says otherwise or a cluster is
    named: KUBECONFIG, or the in-cluster service account (KUBERNETES_SERVICE_HOST)."""
    if "devops_bot_sandbox" in settings.model_fields_set:
        return settings.devops_bot_sandbox
    return not (settings.kubeconfig or settings.kubernetes_service_host)


@asynccontextmanager
async def open_studio_deps(settings: Settings) -> AsyncIterator[WorkflowDeps]:
    """The dependencies of one Studio run, opened as `devops-bot run` opens them."""
    from workflow.assembly import open_service

    options = settings.service_options(sandbox=uses_sandbox(settings))
    # The LangGraph server keeps threads and checkpoints; of the service only deps are used.
    options.persistence = "memory"
    async with open_service(options) as handle:
        yield handle.service.deps


class StudioSetupError(RuntimeError):
    """The LangGraph server cannot run this graph as it was started; the message says how."""


def _context_schema(deps: WorkflowDeps | None) -> type[WorkflowDeps]:
    """A context schema whose every instance is a copy of `deps`.

    The LangGraph API hands every run a context dict (`{}` unless the caller sent one) and
    LangGraph makes it into the graph's context schema (`schema(**context)`); with
    `WorkflowDeps` itself that fails, as nothing in a dict can be a memory bus or a policy.
    With this schema the run gets the dependencies opened for it, whatever the dict held;
    its JSON schema (Studio's context form) is an object with nothing to set. `None`: the
    graph is for reads (state, schemas), which never make a context.
    """
    values = (
        {f.name: getattr(deps, f.name) for f in dataclasses.fields(WorkflowDeps)}
        if deps is not None
        else None
    )

    @dataclasses.dataclass(init=False)
    class StudioContext(WorkflowDeps):
        def __init__(self, **_context: Any) -> None:
            if values is None:
                raise StudioSetupError("this graph was built to read state, not to run")
            super().__init__(**values)

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            return core_schema.typed_dict_schema({}, cls_name="StudioContext")

    return StudioContext


def _check_blocking_allowed() -> None:
    # `langgraph dev` stops any run that makes a blocking call on an event loop unless
    # started with --allow-blocking (it says so in this variable); the sandbox's servers
    # run in this process and write their state files, the runbook index is SQLite.
    if os.environ.get("LANGGRAPH_ALLOW_BLOCKING", "").lower() == "false":
        raise StudioSetupError(
            "devops-bot's backends (the sandbox's in-process servers, the runbook index) do "
            "blocking file I/O: start the server with `langgraph dev --allow-blocking`"
        )


@asynccontextmanager
async def studio_graph(runtime: ServerRuntime) -> AsyncIterator[CompiledStateGraph]:
    """The graph for one call of the LangGraph server (see the module's docstring)."""
    if getattr(runtime, "execution_runtime", None) is None:
        yield create_devops_workflow(intake=True, context_schema=_context_schema(None))
        return
    _check_blocking_allowed()
    async with open_studio_deps(load_settings()) as deps:
        yield create_devops_workflow(intake=True, context_schema=_context_schema(deps))
