"""`AgentSpec`: everything the rest of `workflow` needs to know about one agent, as data.

An agent is a package `workflow/agents/<name>/` whose `__init__.py` defines `SPEC`, and one
line in `workflow.agents.registry`. Graph, routing, plan/apply, deps, the classifier, the
LangChain tools and `devops-bot sandbox` read the registry; none of them names an agent.

This module and an agent's `__init__`/`vocabulary` stay cheap to import (no HTTP clients,
no LangGraph): the classifier reads vocabularies without loading any agent's node. Code
that is heavy (the node, appliers, tools, sandbox hooks) is named by a `Lazy` reference and
imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEV",
    "INFRA",
    "OPS",
    "AgentSpec",
    "Applied",
    "ApplyError",
    "BackendContext",
    "BackendMissing",
    "Connected",
    "Lazy",
    "TaskRoute",
    "Vocabulary",
    "lazy",
]


# The three domain supervisors of the seed's design.
INFRA, DEV, OPS = "infrastructure_supervisor", "development_supervisor", "operations_supervisor"


@dataclass(frozen=True)
class Lazy:
    """`module:attribute`, imported on first call of `load()`."""

    module: str
    attribute: str

    def load(self) -> Any:
        return getattr(import_module(self.module), self.attribute)


def lazy(reference: str) -> Lazy:
    module, _, attribute = reference.partition(":")
    return Lazy(module, attribute)


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class TaskRoute:
    """One row of the seed's routing table that this agent owns.

    `row` is the row's place in the seed's table (task types are listed in that order).
    `needs_harness_pipeline`: the route applies only when the service has a Harness pipeline
    (the seed's deploy rule); `fallback`: the route taken when such a condition fails.
    """

    task_type: str
    purpose: str
    row: int
    needs_harness_pipeline: bool = False
    fallback: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """How requests for this agent's task types are recognised (see `workflow.classify`).

    signals       (task type, weight, regex): keyword evidence, summed per task type
    leading       (task type, regex): the imperative a request starts with (first match wins)
    verbs         (action, regex): verbs only this agent takes; tried before the shared ones,
                  and only for task types of agents under the same supervisor
    task_actions  task type -> the actions it takes, in order of preference
    default_action task type -> the action when the text names none
    context_keys  context keys beyond the common ones that this agent reads
    help          task type -> one line for the LLM classifier's prompt
    reader        `(task type, text, context) -> more context`: what only this agent reads
                  from a request (e.g. a pipeline's shape), run by the rules classifier for
                  its task types after the shared passes; pure and cheap (no I/O). The
                  keys it returns replace the shared reading (None removes a key), so it
                  returns only what it is sure of
    """

    signals: tuple[tuple[str, float, str], ...] = ()
    leading: tuple[tuple[str, str], ...] = ()
    verbs: tuple[tuple[str, str], ...] = ()
    task_actions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_action: Mapping[str, str] = field(default_factory=dict)
    context_keys: tuple[str, ...] = ()
    help: Mapping[str, str] = field(default_factory=dict)
    reader: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        for name in ("task_actions", "default_action", "help"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


@dataclass(frozen=True)
class AgentSpec:
    """One agent, declared.

    name            node name in the graph
    supervisor      the domain supervisor that routes to it
    routes          the seed table's rows it owns
    capability      one line: what it does (also what an unbuilt agent says it lacks)
    actions         actions its node accepts; `writes` the subset that change something
                    (planned, approved, then applied)
    backends        backend -> the sentence telling a user why it is missing
    appliers        plan backend -> `Lazy` applier `async (plan, deps) -> Applied`
    vocabulary      its classifier vocabulary
    node            `Lazy` node, or None: an agent not built yet ("not available yet")
    tools           `Lazy` tuple of `async (deps, **arguments)` tool functions, or None
                    (bound as LangChain tools by `workflow.tools.langchain`)
    sandbox         `Lazy` object with `show(data_dir) -> list[str]` and `reset(data_dir)`
    followers       plan backend -> `Lazy` `async (applied outcome, deps) -> final outcome`: how
                    the `rollout` node follows a change of that backend to its end (a
                    pipeline execution); a Deployment rollout is followed by default
    connect         `Lazy` async context manager `(BackendContext) -> Connected`: opens the
                    clients of the backends this agent owns (reading its own settings model
                    from `BackendContext.environ`), closes them on exit; nodes and appliers
                    find them with `deps.backend(name)`, a missing one's sentence with
                    `deps.why_missing(name)`
    public          modules of the package other agents may import (besides `__init__`)
    """

    name: str
    supervisor: str
    routes: tuple[TaskRoute, ...]
    capability: str
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    actions: tuple[str, ...] = ()
    writes: frozenset[str] = frozenset()
    backends: Mapping[str, str] = field(default_factory=dict)
    appliers: Mapping[str, Lazy] = field(default_factory=dict)
    followers: Mapping[str, Lazy] = field(default_factory=dict)
    node: Lazy | None = None
    tools: Lazy | None = None
    sandbox: Lazy | None = None
    connect: Lazy | None = None
    public: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "backends", _frozen(self.backends))
        object.__setattr__(self, "appliers", _frozen(self.appliers))
        object.__setattr__(self, "followers", _frozen(self.followers))
        object.__setattr__(self, "writes", frozenset(self.writes))
        unknown = self.writes - set(self.actions)
        if unknown:
            raise ValueError(f"{self.name}: writes {sorted(unknown)} are not among its actions")

    @property
    def task_types(self) -> tuple[str, ...]:
        return tuple(r.task_type for r in self.routes)

    @property
    def built(self) -> bool:
        return self.node is not None

    def default_action(self, task_type: str, fallback: str | None = None) -> str | None:
        return self.vocabulary.default_action.get(task_type, fallback)

    def make_node(self) -> Callable[..., Any]:
        if self.node is not None:
            return self.node.load()
        from workflow.agents.base import unavailable_agent

        return unavailable_agent(self.name, self.capability)


@dataclass(frozen=True, repr=False)  # the environment holds secrets: never in a repr
class BackendContext:
    """What an agent's `connect` gets: the environment the edge read (never `os.environ`
    itself: the assembly reads no environment), whether this is the sandbox, the data
    directory, and the service catalog."""

    environ: Mapping[str, str]
    sandbox: bool
    data_dir: Any
    catalog: Any = None
    # The sandbox cluster's API URL (with `sandbox`): what a simulated backend deploys to.
    sandbox_cluster_url: str | None = None


@dataclass
class Connected:
    """What an agent's `connect` opened: backend -> client, and backend -> the sentence
    saying why one could not be opened (a setting missing, a URL refused)."""

    backends: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    """What an applier did: the backend's answer, where (for the summary), and whether the
    change is still rolling out (the `rollout` node follows it, with the agent's follower
    for the plan's backend when it declares one). `said`, when given, is the whole sentence
    for the thread (e.g. "started execution #4 of ...: <link>") instead of the usual one."""

    result: dict[str, Any]
    where: str = ""
    rolling_out: bool = False
    said: str = ""


class BackendMissing(Exception):
    """The backend a plan needs is not configured here; the message says which setting."""


class ApplyError(Exception):
    """The backend refused or failed the change; the message is the backend's."""
