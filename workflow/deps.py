"""What nodes need besides state: injected through LangGraph's runtime context.

Nothing here is checkpointed. A graph invoked without a context (LangGraph Studio,
a bare `ainvoke`) gets `WorkflowDeps.embedded()`: in-process memory, the built-in
policy, an empty catalog and no Kubernetes, which agents report truthfully.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workflow.approval.policy import ApprovalPolicy
from workflow.catalog import ServiceCatalog
from workflow.memory import AccessContext, MemoryBus, Namespace

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.runtime import Runtime

    from workflow.tools.kubernetes import KubernetesBackend

__all__ = ["WorkflowDeps", "deps_of", "thread_id_of", "utcnow"]


def thread_id_of(config: RunnableConfig) -> str:
    return str((config.get("configurable") or {}).get("thread_id") or "unthreaded")


def utcnow() -> datetime:
    return datetime.now(UTC)


NO_KUBERNETES = (
    "no Kubernetes cluster is configured: set KUBECONFIG (or run in-cluster), "
    "or use --sandbox for the built-in sandbox cluster"
)


@dataclass
class WorkflowDeps:
    memory: MemoryBus
    policy: ApprovalPolicy
    catalog: ServiceCatalog = field(default_factory=lambda: ServiceCatalog(services={}))
    kubernetes: KubernetesBackend | None = None
    kubernetes_unavailable: str = NO_KUBERNETES
    clock: Callable[[], datetime] = utcnow
    max_retries: int = 2
    sandbox: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

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
