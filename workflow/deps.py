"""What nodes need besides state: injected through LangGraph's runtime context.

Nothing here is checkpointed. A graph invoked without a context (LangGraph Studio,
a bare `ainvoke`) gets `WorkflowDeps.embedded()`: in-process memory, the built-in
policy, an empty catalog and no backends at all, which agents report truthfully.

Every backend is optional. One that is missing has a sentence in `unavailable` saying
which setting would provide it; agents pass that sentence on to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow.agents.registry import REGISTRY
from workflow.approval.policy import ApprovalPolicy
from workflow.catalog import ServiceCatalog
from workflow.memory import AccessContext, MemoryBus, Namespace
from workflow.tools.prometheus import MetricLabels

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.runtime import Runtime

    from workflow.tools.alertmanager import AlertmanagerClient
    from workflow.tools.docs import DocsSearch
    from workflow.tools.kubernetes import KubernetesBackend
    from workflow.tools.logs import KubernetesLogSearch, LokiLogSearch
    from workflow.tools.prometheus import PrometheusClient
    from workflow.tools.web import WebSearch

__all__ = ["NOT_CONFIGURED", "OpsTuning", "WorkflowDeps", "deps_of", "thread_id_of", "utcnow"]


def thread_id_of(config: RunnableConfig) -> str:
    return str((config.get("configurable") or {}).get("thread_id") or "unthreaded")


def utcnow() -> datetime:
    return datetime.now(UTC)


# Why each backend is missing when nobody configured it, as the agents that use it say.
NOT_CONFIGURED: dict[str, str] = {
    backend: why for spec in REGISTRY for backend, why in spec.backends.items()
}
NO_KUBERNETES = NOT_CONFIGURED["kubernetes"]


@dataclass(frozen=True)
class OpsTuning:
    """Time scales of metric queries and investigations (shorter in tests, never in prose)."""

    incident_window_minutes: float = 30.0  # the window an investigation looks at
    rate_window: str = "5m"  # PromQL rate()/increase() window
    step: str = "15s"  # resolution of range queries (coarser for long ranges)
    # A rollout at most this long before a metric moved is a suspect for the move.
    correlation_minutes: float = 15.0
    # How far back recent rollouts and config changes are listed.
    changes_minutes: float = 360.0
    metrics_range_minutes: float = 60.0  # default range of a metrics question
    log_lines: int = 200


@dataclass
class WorkflowDeps:
    memory: MemoryBus
    policy: ApprovalPolicy
    catalog: ServiceCatalog = field(default_factory=lambda: ServiceCatalog(services={}))
    kubernetes: KubernetesBackend | None = None
    kubernetes_unavailable: str = NO_KUBERNETES
    prometheus: PrometheusClient | None = None
    alertmanager: AlertmanagerClient | None = None
    logs: LokiLogSearch | KubernetesLogSearch | None = None
    docs: DocsSearch | None = None
    web: WebSearch | None = None
    # Label names of the metrics and alerts (service, namespace, ...): one scheme for both.
    labels: MetricLabels = field(default_factory=MetricLabels)
    # A LangChain chat model for the incident narrative; None: deterministic text only.
    llm: Any = None
    # backend -> why it is missing; filled by the assembly, NOT_CONFIGURED otherwise.
    unavailable: dict[str, str] = field(default_factory=dict)
    ops: OpsTuning = field(default_factory=OpsTuning)
    clock: Callable[[], datetime] = utcnow
    max_retries: int = 2
    sandbox: bool = False
    # Backends the agents open themselves (`AgentSpec.connect`): backend -> client.
    extras: dict[str, Any] = field(default_factory=dict)
    # Where the services the bot registered (scaffolded) are shared between replicas: the
    # memory bus when it is Redis (`registered_shared`), else this data directory's file.
    # `workflow.registered.refresh_registered` merges new ones at the start of each run.
    registered_dir: Path | None = None
    registered_shared: bool = False
    registered_seen: Any = field(default=None, repr=False)  # what was last merged

    def backend(self, name: str) -> Any | None:
        """An agent-owned backend's client, or None (`why_missing(name)` says why)."""
        return self.extras.get(name)

    def why_missing(self, backend: str) -> str:
        """The sentence that tells a user why `backend` cannot be used here."""
        if backend == "kubernetes":
            return self.kubernetes_unavailable
        return self.unavailable.get(backend) or NOT_CONFIGURED.get(
            backend, f"{backend} is not configured"
        )

    async def remember(
        self, config: RunnableConfig, actor: AccessContext, key: str, value: Any
    ) -> None:
        """Write `key` to the actor's own namespace on the memory bus, for this thread."""
        namespace = Namespace.AGENT if actor.actor_kind == "agent" else Namespace.WORKFLOW
        await self.memory.set(
            namespace, key, value, access_context=actor, scope=thread_id_of(config)
        )

    @classmethod
    def embedded(cls) -> WorkflowDeps:
        return cls(memory=MemoryBus.in_memory(), policy=ApprovalPolicy.builtin())


_fallback: WorkflowDeps | None = None


def deps_of(runtime: Runtime[WorkflowDeps] | None) -> WorkflowDeps:
    """The run's deps, or one shared embedded default when the caller gave none."""
    global _fallback
    if runtime is not None and runtime.context is not None:
        return runtime.context
    if _fallback is None:
        _fallback = WorkflowDeps.embedded()
    return _fallback
