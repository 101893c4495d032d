"""The operations tools as LangChain tools, for a tool-calling model or LangGraph Studio.

The tools are the agents': an agent declares them in its spec (`AgentSpec.tools`, a `Lazy`
tuple of `async (deps, **arguments)` functions, usually its `tools.py`), and this module
binds them to a `WorkflowDeps`, in registry order; nothing here names an agent or a tool.

Each tool is a thin shell over the same async functions the agents call (the Prometheus,
Alertmanager, logs, runbook, web and Kubernetes clients in `WorkflowDeps`), so a model sees
exactly the backends' answers. None of them writes: `alert_manager` can *plan* a silence (the
preview and plan hash come back), but applying it is only done by the graph after approval.
A missing backend or a backend error comes back as the tool's error text (ToolException),
which names the setting or the backend's own message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.tools.base import FILTERED_ARGS, create_schema_from_function

from workflow.agents.registry import REGISTRY
from workflow.deps import WorkflowDeps
from workflow.tools.errors import BackendError
from workflow.tools.kubernetes import KubernetesError

__all__ = ["TOOL_NAMES", "agent_tools", "need", "operations_tools"]

ToolFunction = Callable[..., Any]

TOOL_NAMES: tuple[str, ...]  # the tools' names, in order: see `__getattr__`


def need(deps: WorkflowDeps, backend: str) -> Any:
    """The `backend` client of `deps`, or a ToolException naming the missing setting."""
    client = getattr(deps, backend)
    if client is None:
        raise ToolException(deps.why_missing(backend))
    return client


def agent_tools() -> tuple[ToolFunction, ...]:
    """Every agent's tool functions, in registry order (imports the agents' tool modules)."""
    return tuple(fn for spec in REGISTRY if spec.tools is not None for fn in spec.tools.load())


def operations_tools(deps: WorkflowDeps) -> list[BaseTool]:
    """The agents' tools bound to `deps` (seed names: metrics_query, log_search, ...)."""
    return [_tool(fn, deps) for fn in agent_tools()]


def __getattr__(name: str) -> Any:
    # TOOL_NAMES is read on first use: the agents' tool modules import `need` from here.
    if name == "TOOL_NAMES":
        names = tuple(fn.__name__ for fn in agent_tools())
        globals()["TOOL_NAMES"] = names
        return names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tool(fn: ToolFunction, deps: WorkflowDeps) -> BaseTool:
    """`fn` as a tool: its parameters after `deps` are the tool's arguments."""
    first = next(iter(inspect.signature(fn).parameters))

    async def run(**kwargs: Any) -> Any:
        try:
            return await fn(deps, **kwargs)
        except (BackendError, KubernetesError, ValueError) as exc:
            raise ToolException(str(exc)) from exc

    schema = create_schema_from_function(fn.__name__, fn, filter_args=[first, *FILTERED_ARGS])
    tool = StructuredTool.from_function(
        coroutine=fn,
        name=fn.__name__,
        description=inspect.cleandoc(fn.__doc__ or ""),
        args_schema=schema,
        handle_tool_error=True,
    )
    tool.coroutine = run
    return tool
