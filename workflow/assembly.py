"""Assemble a ready-to-run `DevOpsService` from plain arguments (no environment reads).

The CLI and the Slack bot read settings at the edge and call `open_service()`;
`python -m workflow.examples` calls it too, with in-memory persistence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from langgraph.checkpoint.memory import InMemorySaver

from workflow.approval.policy import ApprovalPolicy, load_policy
from workflow.approval.store import InMemoryApprovalStore
from workflow.audit import InMemoryAuditLog
from workflow.catalog import ServiceCatalog, load_catalog, load_into_bus
from workflow.deps import NO_KUBERNETES, WorkflowDeps
from workflow.graph import create_devops_workflow
from workflow.memory import MemoryBus
from workflow.persistence import open_persistence
from workflow.service import DevOpsService
from workflow.tools.kubernetes import KubernetesBackend, KubernetesError

__all__ = ["SANDBOX_POLICY", "ServiceOptions", "open_service"]

SANDBOX_POLICY = Path(__file__).parent / "sandbox" / "policy.yml"


@dataclass
class ServiceOptions:
    data_dir: Path
    redis_url: str | None = None
    policy_path: str | None = None
    catalog_path: str | None = None
    sandbox: bool = False
    persistence: Literal["auto", "memory"] = "auto"
    kubernetes: bool = True  # False: no cluster at all (pending, status)
    sandbox_state: bool = True  # keep the sandbox cluster in data_dir across restarts
    rollout_timeout: float = 120.0
    key_prefix: str = "devops-bot"


@dataclass
class ServiceHandle:
    service: DevOpsService
    persistence: str
    where: str
    policy_source: str
    sandbox_url: str | None = None
    sandbox_server: object | None = None


@asynccontextmanager
async def open_service(options: ServiceOptions) -> AsyncIterator[ServiceHandle]:
    async with AsyncExitStack() as stack:
        if options.persistence == "memory":
            checkpointer, approvals, mode, where = (
                InMemorySaver(),
                InMemoryApprovalStore(),
                "memory",
                "this process",
            )
            audit = InMemoryAuditLog()
        else:
            p = await stack.enter_async_context(
                open_persistence(
                    redis_url=options.redis_url,
                    data_dir=options.data_dir,
                    key_prefix=options.key_prefix,
                )
            )
            checkpointer, approvals, mode, where = p.checkpointer, p.approvals, p.mode, p.where
            audit = p.audit

        if options.redis_url and options.persistence != "memory":
            memory = MemoryBus.from_redis_url(options.redis_url, prefix=options.key_prefix)
        else:
            memory = MemoryBus.in_memory()
        stack.push_async_callback(memory.aclose)

        policy = _policy(options)
        catalog = (
            load_catalog(options.catalog_path)
            if options.catalog_path
            else ServiceCatalog(services={})
        )
        await load_into_bus(catalog, memory)

        kubernetes, unavailable, sandbox_url, server = None, NO_KUBERNETES, None, None
        if options.sandbox:
            from workflow.sandbox.kube_api import KubeApiServer

            state_file = (
                options.data_dir / "sandbox-cluster.json" if options.sandbox_state else None
            )
            if state_file:
                options.data_dir.mkdir(parents=True, exist_ok=True)
            server = KubeApiServer(state_file)
            sandbox_url = server.start()
            stack.callback(server.stop)
            kubernetes = KubernetesBackend.from_url(
                sandbox_url, rollout_timeout=options.rollout_timeout, poll_interval=0.2
            )
        elif options.kubernetes:
            try:
                kubernetes = KubernetesBackend.from_environment(
                    rollout_timeout=options.rollout_timeout
                )
            except KubernetesError as exc:
                unavailable = str(exc)
        if kubernetes is not None:
            stack.push_async_callback(kubernetes.aclose)

        deps = WorkflowDeps(
            memory=memory,
            policy=policy,
            catalog=catalog,
            kubernetes=kubernetes,
            kubernetes_unavailable=unavailable,
            sandbox=options.sandbox,
        )
        graph = create_devops_workflow(checkpointer)
        service = DevOpsService(graph, deps, approvals, audit=audit)
        yield ServiceHandle(service, mode, where, policy.source, sandbox_url, server)


def _policy(options: ServiceOptions) -> ApprovalPolicy:
    if options.policy_path:
        return load_policy(options.policy_path)
    if options.sandbox:
        return load_policy(SANDBOX_POLICY)
    return load_policy(None)
