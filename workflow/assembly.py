"""Assemble a ready-to-run `DevOpsService` from plain arguments (no environment reads).

The CLI and the Slack bot read settings at the edge and call `open_service()`;
`python -m workflow.examples` calls it too, with in-memory persistence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.memory import InMemorySaver

from workflow.agents.registry import REGISTRY
from workflow.agents.spec import BackendContext, Connected
from workflow.approval.policy import ApprovalPolicy, load_policy
from workflow.approval.store import InMemoryApprovalStore
from workflow.audit import InMemoryAuditLog
from workflow.catalog import ServiceCatalog, load_catalog, load_into_bus
from workflow.deps import NO_KUBERNETES, OpsTuning, WorkflowDeps
from workflow.graph import create_devops_workflow
from workflow.memory import MemoryBus
from workflow.persistence import open_persistence
from workflow.registered import merge_registered, merge_registered_bus
from workflow.sandbox.files import alertmanager_state_file, cluster_state_file
from workflow.service import DevOpsService
from workflow.tools.alertmanager import AlertmanagerClient
from workflow.tools.docs import RediSearchDocs, SqliteFtsDocs, index_catalog
from workflow.tools.kubernetes import KubernetesBackend, KubernetesError
from workflow.tools.logs import KubernetesLogSearch, LokiLogSearch
from workflow.tools.prometheus import MetricLabels, PrometheusClient
from workflow.tools.web import DisabledWebSearch

__all__ = ["SANDBOX_CATALOG", "SANDBOX_POLICY", "ServiceOptions", "open_service", "service_catalog"]

SANDBOX_POLICY = Path(__file__).parent / "sandbox" / "policy.yml"
SANDBOX_RUNBOOKS = Path(__file__).parent / "sandbox" / "runbooks"
SANDBOX_CATALOG = Path(__file__).parent / "sandbox" / "catalog.yml"


@dataclass
class ServiceOptions:
    data_dir: Path
    redis_url: str | None = None
    policy_path: str | None = None
    catalog_path: str | None = None
    sandbox: bool = False
    persistence: Literal["auto", "memory"] = "auto"
    kubernetes: bool = True  # False: no cluster at all (pending, status)
    operations: bool = True  # False: no metrics, alerts, logs or runbooks (pending, status)
    sandbox_state: bool = True  # keep the sandbox cluster in data_dir across restarts
    rollout_timeout: float = 120.0
    key_prefix: str = "devops-bot"
    # Operations backends; with `sandbox`, missing URLs get the sandbox's own servers.
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    loki_url: str | None = None
    loki_service_label: str = "app"
    labels: MetricLabels = field(default_factory=MetricLabels)
    runbooks_dir: str | None = None
    llm: Any = None  # chat model for incident summaries (never for decisions)
    ops: OpsTuning = field(default_factory=OpsTuning)
    # The environment the edge read, for the agents' own settings models (`connect`).
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)  # secrets: no repr


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
        catalog = service_catalog(options.catalog_path, sandbox=options.sandbox)
        if options.persistence != "memory":  # services the bot created (scaffolded)
            catalog = merge_registered(catalog, options.data_dir)
            if options.redis_url:
                catalog = await merge_registered_bus(catalog, memory)
        await load_into_bus(catalog, memory)

        kubernetes, unavailable, sandbox_url, server = None, NO_KUBERNETES, None, None
        if options.sandbox:
            from workflow.sandbox.kube_api import KubeApiServer

            state_file = cluster_state_file(options.data_dir) if options.sandbox_state else None
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

        ops = (
            await _ops_backends(options, stack, catalog, kubernetes, server)
            if options.operations
            else {}
        )
        own = await _agent_backends(options, stack, catalog, sandbox_url)
        deps = WorkflowDeps(
            memory=memory,
            policy=policy,
            catalog=catalog,
            kubernetes=kubernetes,
            kubernetes_unavailable=unavailable,
            sandbox=options.sandbox,
            labels=options.labels,
            llm=options.llm,
            ops=options.ops,
            extras=own.backends,
            registered_dir=options.data_dir if options.persistence != "memory" else None,
            registered_shared=bool(options.redis_url) and options.persistence != "memory",
            **ops,
        )
        deps.unavailable.update(own.unavailable)
        graph = create_devops_workflow(checkpointer)
        service = DevOpsService(graph, deps, approvals, audit=audit)
        yield ServiceHandle(service, mode, where, policy.source, sandbox_url, server)


async def _agent_backends(
    options: ServiceOptions,
    stack: AsyncExitStack,
    catalog: ServiceCatalog,
    sandbox_cluster_url: str | None = None,
) -> Connected:
    """Open every backend an agent owns (`AgentSpec.connect`), in registry order."""
    context = BackendContext(
        environ=dict(options.environ),
        sandbox=options.sandbox,
        data_dir=options.data_dir,
        catalog=catalog,
        sandbox_cluster_url=sandbox_cluster_url,
    )
    opened = Connected()
    for spec in REGISTRY:
        if spec.connect is None:
            continue
        got = await stack.enter_async_context(spec.connect.load()(context))
        opened.backends.update(got.backends)
        opened.unavailable.update(got.unavailable)
    return opened


async def _ops_backends(
    options: ServiceOptions,
    stack: AsyncExitStack,
    catalog: ServiceCatalog,
    kubernetes: KubernetesBackend | None,
    sandbox_cluster: Any,
) -> dict[str, Any]:
    """Prometheus, Alertmanager, logs, runbooks and web search for WorkflowDeps.

    Each comes from its setting; with the sandbox, a missing Prometheus or Alertmanager is
    the sandbox's own (simulated, and labelled so). What is missing is said in `unavailable`.
    """
    unavailable: dict[str, str] = {}
    prometheus_url, alertmanager_url = options.prometheus_url, options.alertmanager_url
    if options.sandbox and sandbox_cluster is not None:
        if not prometheus_url:
            from workflow.sandbox.prom_api import SandboxPrometheus

            prom = SandboxPrometheus(sandbox_cluster)
            prometheus_url = prom.start()
            stack.callback(prom.stop)
        if not alertmanager_url:
            from workflow.sandbox.alertmanager_api import SandboxAlertmanager

            state_file = (
                alertmanager_state_file(options.data_dir) if options.sandbox_state else None
            )
            am = SandboxAlertmanager(sandbox_cluster, state_file=state_file)
            alertmanager_url = am.start()
            stack.callback(am.stop)
    prometheus = alertmanager = None
    if prometheus_url:
        prometheus = PrometheusClient(prometheus_url, labels=options.labels)
        stack.push_async_callback(prometheus.aclose)
    if alertmanager_url:
        alertmanager = AlertmanagerClient(alertmanager_url)
        stack.push_async_callback(alertmanager.aclose)

    logs: LokiLogSearch | KubernetesLogSearch | None = None
    if options.loki_url:
        logs = LokiLogSearch(options.loki_url, labels=options.loki_service_label)
        stack.push_async_callback(logs.aclose)
    elif kubernetes is not None:
        logs = KubernetesLogSearch(kubernetes)

    docs, why = await _runbooks(options, stack, catalog)
    if why:
        unavailable["docs"] = why
    return {
        "prometheus": prometheus,
        "alertmanager": alertmanager,
        "logs": logs,
        "docs": docs,
        "web": DisabledWebSearch(),
        "unavailable": unavailable,
    }


async def _runbooks(
    options: ServiceOptions, stack: AsyncExitStack, catalog: ServiceCatalog
) -> tuple[Any, str | None]:
    """The runbook index (RediSearch with Redis, else SQLite FTS5), filled from its sources."""
    folders = []
    if options.runbooks_dir:
        if not Path(options.runbooks_dir).is_dir():
            return None, f"DEVOPS_BOT_RUNBOOKS={options.runbooks_dir} is not a folder"
        folders.append(Path(options.runbooks_dir))
    if options.sandbox:
        folders.append(SANDBOX_RUNBOOKS)
    has_links = any(entry.runbooks for entry in catalog.services.values())
    if not folders and not has_links:
        return None, None
    if options.redis_url and options.persistence != "memory":
        from redis.asyncio import Redis

        client = Redis.from_url(options.redis_url)
        stack.push_async_callback(client.aclose)
        docs: Any = RediSearchDocs(client, prefix=options.key_prefix)
    else:
        path = ":memory:" if options.persistence == "memory" else options.data_dir / "runbooks.db"
        docs = SqliteFtsDocs(path)
        stack.callback(docs.close)
    for folder in folders:
        await docs.index_directory(folder)
    await index_catalog(docs, catalog)
    return docs, None


def service_catalog(path: str | None, *, sandbox: bool) -> ServiceCatalog:
    """The catalog file named by the settings; with the sandbox and none named, the
    sandbox's own (its services, and a Harness pipeline for payment-service)."""
    if path:
        return load_catalog(path)
    if sandbox:
        return load_catalog(SANDBOX_CATALOG)
    return ServiceCatalog(services={})


def _policy(options: ServiceOptions) -> ApprovalPolicy:
    if options.policy_path:
        return load_policy(options.policy_path)
    if options.sandbox:
        return load_policy(SANDBOX_POLICY)
    return load_policy(None)
