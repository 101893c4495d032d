from __future__ import annotations

import datetime as dt
import re
import types

import pytest
import redis.asyncio as aioredis

from workflow import memory
from workflow.memory import (
    DEFAULT_THREAD_TTL_SECONDS,
    AccessContext,
    InMemoryBackend,
    MemoryAccessError,
    MemoryBus,
    Namespace,
    RedisBackend,
)

K8S = AccessContext.for_agent("kubernetes_agent")
ROOT = AccessContext.for_workflow("devops_root_supervisor")
LOADER = AccessContext.for_loader()
THREAD = "slack:T1:C1:1712345678.000100"


@pytest.fixture(params=["memory", "redis"])
async def make_bus(request, key_prefix):
    """Build buses on one backend kind; Redis clients are made on the test's loop."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[MemoryBus] = []

    def factory(**kwargs) -> MemoryBus:
        if url is None:
            bus = MemoryBus.in_memory(**kwargs)
        else:
            bus = MemoryBus.from_redis_url(url, prefix=key_prefix, **kwargs)
        made.append(bus)
        return bus

    yield factory
    for bus in made:
        await bus.aclose()


@pytest.fixture
def bus(make_bus) -> MemoryBus:
    return make_bus()


def _denied(message: str):
    return pytest.raises(MemoryAccessError, match=f"^{re.escape(message)}$")


# --- access rules -------------------------------------------------------------------


async def test_agent_writes_its_own_keys(bus):
    await bus.set(
        "agent", "kubernetes_agent.result", {"ok": True}, access_context=K8S, scope=THREAD
    )
    assert await bus.get("agent", "kubernetes_agent.result", scope=THREAD) == {"ok": True}


async def test_agent_may_not_write_another_agents_key(bus):
    with _denied(
        "agent 'kubernetes_agent' may not write agent/incident_agent.result: "
        "agents write only their own keys (kubernetes_agent.*)"
    ):
        await bus.set("agent", "incident_agent.result", {}, access_context=K8S, scope=THREAD)
    assert await bus.keys("agent", scope=THREAD) == []


@pytest.mark.parametrize("key", ["kubernetes_agent", "kubernetes_agent.", "kubernetes_agent2.x"])
async def test_agent_prefix_must_be_its_name_and_a_dot(bus, key):
    with _denied(
        f"agent 'kubernetes_agent' may not write agent/{key}: "
        "agents write only their own keys (kubernetes_agent.*)"
    ):
        await bus.set("agent", key, 1, access_context=K8S, scope=THREAD)


async def test_agent_may_not_write_workflow_namespace(bus):
    with _denied(
        "agent 'kubernetes_agent' may not write workflow/kubernetes_agent.result: "
        "agents write only their own keys (kubernetes_agent.*)"
    ):
        await bus.set("workflow", "kubernetes_agent.result", 1, access_context=K8S, scope=THREAD)


async def test_workflow_node_writes_workflow_namespace(bus):
    await bus.set(
        Namespace.WORKFLOW,
        "routing.root_supervisor",
        {"to": "x"},
        access_context=ROOT,
        scope=THREAD,
    )
    assert await bus.get("workflow", "routing.root_supervisor", scope=THREAD) == {"to": "x"}


async def test_workflow_node_may_not_write_agent_namespace(bus):
    with _denied(
        "workflow 'devops_root_supervisor' may not write agent/kubernetes_agent.result: "
        "workflow nodes write only the workflow namespace"
    ):
        await bus.set("agent", "kubernetes_agent.result", 1, access_context=ROOT, scope=THREAD)


@pytest.mark.parametrize("ctx", [ROOT, K8S], ids=["workflow", "agent"])
async def test_org_is_read_only_for_nodes_and_agents(bus, ctx):
    await bus.set("org", "catalog.services", {"a": 1}, access_context=LOADER)
    with _denied(
        f"{ctx.actor_kind} {ctx.actor!r} may not write org/catalog.services: "
        "org is read-only (only loaders write it)"
    ):
        await bus.set("org", "catalog.services", {}, access_context=ctx)
    with _denied(
        f"{ctx.actor_kind} {ctx.actor!r} may not write org/catalog.services: "
        "org is read-only (only loaders write it)"
    ):
        await bus.delete("org", "catalog.services", access_context=ctx)
    assert await bus.get("org", "catalog.services") == {"a": 1}


async def test_loader_writes_org(bus):
    await bus.set("org", "catalog.services", {"web": {}}, access_context=LOADER)
    assert await bus.get("org", "catalog.services") == {"web": {}}


@pytest.mark.parametrize("namespace", ["workflow", "agent"])
async def test_loader_may_not_write_thread_namespaces(bus, namespace):
    with _denied(
        f"loader 'catalog' may not write {namespace}/catalog.x: "
        "loaders write only the org namespace"
    ):
        await bus.set(namespace, "catalog.x", 1, access_context=LOADER, scope=THREAD)


async def test_delete_follows_write_rules(bus):
    await bus.set("agent", "kubernetes_agent.plan", [1], access_context=K8S, scope=THREAD)
    incident = AccessContext.for_agent("incident_agent")
    with _denied(
        "agent 'incident_agent' may not write agent/kubernetes_agent.plan: "
        "agents write only their own keys (incident_agent.*)"
    ):
        await bus.delete("agent", "kubernetes_agent.plan", access_context=incident, scope=THREAD)
    assert await bus.delete("agent", "kubernetes_agent.plan", access_context=K8S, scope=THREAD)
    assert not await bus.delete("agent", "kubernetes_agent.plan", access_context=K8S, scope=THREAD)
    assert await bus.get("agent", "kubernetes_agent.plan", scope=THREAD) is None


async def test_everybody_reads_everything(bus):
    # Reads carry no access context at all: an agent reads the workflow's notes.
    await bus.set("workflow", "reflection.last", {"q": "high"}, access_context=ROOT, scope=THREAD)
    await bus.set("agent", "kubernetes_agent.result", 2, access_context=K8S, scope=THREAD)
    await bus.set("org", "owners", ["@sre"], access_context=LOADER)
    assert await bus.snapshot("workflow", scope=THREAD) == {"reflection.last": {"q": "high"}}
    assert await bus.snapshot("agent", scope=THREAD) == {"kubernetes_agent.result": 2}
    assert await bus.snapshot("org") == {"owners": ["@sre"]}


def test_access_context_constructors():
    assert AccessContext.for_workflow("reflection") == AccessContext("workflow", "reflection")
    assert AccessContext.for_agent("harness_expert").actor_kind == "agent"
    assert AccessContext.for_loader() == AccessContext("loader", "catalog")
    with pytest.raises(ValueError, match="actor_kind"):
        AccessContext("root", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="actor name"):
        AccessContext.for_agent("bad name")


def test_memory_access_error_is_permission_error():
    assert issubclass(MemoryAccessError, PermissionError)


# --- scoping ------------------------------------------------------------------------


async def test_thread_scopes_are_separate(bus):
    await bus.set("agent", "kubernetes_agent.result", "a", access_context=K8S, scope="thread-a")
    await bus.set("agent", "kubernetes_agent.result", "b", access_context=K8S, scope="thread-b")
    assert await bus.get("agent", "kubernetes_agent.result", scope="thread-a") == "a"
    assert await bus.get("agent", "kubernetes_agent.result", scope="thread-b") == "b"
    assert await bus.get("agent", "kubernetes_agent.result", scope="thread-c") is None
    # The same key in another namespace is another value.
    assert await bus.get("workflow", "kubernetes_agent.result", scope="thread-a") is None


async def test_thread_id_that_prefixes_another_is_not_mixed_up(bus):
    await bus.set("workflow", "x", 1, access_context=ROOT, scope="slack:T1:C1")
    await bus.set("workflow", "y", 2, access_context=ROOT, scope="slack:T1:C1:123.4")
    assert await bus.keys("workflow", scope="slack:T1:C1") == ["x"]
    assert await bus.snapshot("workflow", scope="slack:T1:C1:123.4") == {"y": 2}


async def test_org_is_global(bus):
    await bus.set("org", "catalog.services", {"web": {}}, access_context=LOADER, scope="ignored")
    assert await bus.get("org", "catalog.services") == {"web": {}}
    assert await bus.get("org", "catalog.services", scope="any-thread") == {"web": {}}
    assert await bus.keys("org", scope="other") == ["catalog.services"]


@pytest.mark.parametrize("namespace", ["workflow", "agent"])
async def test_thread_namespaces_need_a_scope(bus, namespace):
    with pytest.raises(ValueError, match=f"scope .* required for the {namespace} namespace"):
        await bus.get(namespace, "kubernetes_agent.result")
    ctx = ROOT if namespace == "workflow" else K8S
    with pytest.raises(ValueError, match="required"):
        await bus.set(namespace, "kubernetes_agent.result", 1, access_context=ctx, scope="")
    with pytest.raises(ValueError, match="required"):
        await bus.keys(namespace)


async def test_scope_with_whitespace_is_rejected(bus):
    with pytest.raises(ValueError, match="scope must be a thread id"):
        await bus.get("workflow", "x", scope="two words")


@pytest.mark.parametrize("key", ["", "has space", "slash/key", "star*", "ümlaut"])
async def test_invalid_key_names_are_rejected(bus, key):
    with pytest.raises(ValueError, match=re.escape("must match [A-Za-z0-9_.:-]+")):
        await bus.set("workflow", key, 1, access_context=ROOT, scope=THREAD)
    with pytest.raises(ValueError, match="must match"):
        await bus.get("workflow", key, scope=THREAD)


async def test_unknown_namespace_is_rejected(bus):
    with pytest.raises(ValueError, match="unknown memory namespace 'global'"):
        await bus.get("global", "x")


# --- values -------------------------------------------------------------------------


async def test_json_round_trip(bus):
    value = {
        "status": "success",
        "replicas": 3,
        "ratio": 0.25,
        "dry_run": False,
        "error": None,
        "pods": [{"name": "api-7d9", "ready": True}, {"name": "api-x", "ready": False}],
        "note": "déployé ✅",
        "nested": {"a": {"b": [1, [2, 3]]}},
    }
    await bus.set("agent", "kubernetes_agent.result", value, access_context=K8S, scope=THREAD)
    assert await bus.get("agent", "kubernetes_agent.result", scope=THREAD) == value
    for scalar in ["text", 42, 1.5, True, None, []]:
        await bus.set("workflow", "scalar", scalar, access_context=ROOT, scope=THREAD)
        assert await bus.get("workflow", "scalar", scope=THREAD, default="missing") == scalar


async def test_stored_value_is_a_copy(bus):
    value = {"steps": [1]}
    await bus.set("workflow", "plan", value, access_context=ROOT, scope=THREAD)
    value["steps"].append(2)
    got = await bus.get("workflow", "plan", scope=THREAD)
    got["steps"].append(3)
    assert await bus.get("workflow", "plan", scope=THREAD) == {"steps": [1]}


async def test_missing_key_returns_default(bus):
    assert await bus.get("workflow", "nothing", scope=THREAD) is None
    assert await bus.get("workflow", "nothing", scope=THREAD, default={}) == {}
    assert await bus.get("org", "nothing", default=0) == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "memory value at $ is a set, which is not JSON data"),
        (b"raw", "memory value at $ is a bytes, which is not JSON data"),
        ((1, 2), "memory value at $ is a tuple, which is not JSON data"),
        ({"at": dt.datetime(2025, 1, 16)}, "memory value at $.at is a datetime"),
        ({"plan": {"steps": [1, object()]}}, "memory value at $.plan.steps[1] is a object"),
        ({"x": float("nan")}, "memory value at $.x is nan, which JSON cannot hold"),
        ({1: "a"}, "memory value at $ has a int key 1; JSON object keys must be strings"),
    ],
)
async def test_non_json_values_are_rejected(bus, value, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        await bus.set("workflow", "bad", value, access_context=ROOT, scope=THREAD)
    assert await bus.get("workflow", "bad", scope=THREAD) is None


async def test_keys_and_snapshot(bus):
    for key in ["kubernetes_agent.result", "kubernetes_agent.plan", "kubernetes_agent.log"]:
        await bus.set("agent", key, key, access_context=K8S, scope=THREAD)
    await bus.set(
        "agent",
        "incident_agent.result",
        1,
        access_context=AccessContext.for_agent("incident_agent"),
        scope=THREAD,
    )
    assert await bus.keys("agent", scope=THREAD, prefix="kubernetes_agent.") == [
        "kubernetes_agent.log",
        "kubernetes_agent.plan",
        "kubernetes_agent.result",
    ]
    snap = await bus.snapshot("agent", scope=THREAD)
    assert list(snap) == sorted(snap)
    assert snap["incident_agent.result"] == 1
    assert await bus.snapshot("agent", scope="empty-thread") == {}


# --- TTL ----------------------------------------------------------------------------


async def test_in_memory_thread_scopes_expire_and_org_does_not(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(memory, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    bus = MemoryBus(InMemoryBackend(), thread_ttl_seconds=60)
    await bus.set("workflow", "a", 1, access_context=ROOT, scope=THREAD)
    await bus.set("org", "o", 1, access_context=LOADER)
    now[0] += 50
    await bus.set("workflow", "b", 2, access_context=ROOT, scope=THREAD)  # refreshes
    now[0] += 50
    assert await bus.snapshot("workflow", scope=THREAD) == {"a": 1, "b": 2}
    now[0] += 11
    assert await bus.snapshot("workflow", scope=THREAD) == {}
    now[0] += 10**9
    assert await bus.get("org", "o") == 1


async def test_redis_layout_and_ttl(redis_url, key_prefix):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        bus = MemoryBus(RedisBackend(client, prefix=key_prefix), thread_ttl_seconds=3600)
        await bus.set(
            "agent", "kubernetes_agent.result", {"a": 1}, access_context=K8S, scope=THREAD
        )
        await bus.set("org", "catalog.services", {}, access_context=LOADER)

        thread_key = f"{key_prefix}:mem:agent:{THREAD}"
        assert await client.hget(thread_key, "kubernetes_agent.result") == '{"a":1}'
        assert 3590 <= await client.ttl(thread_key) <= 3600
        org_key = f"{key_prefix}:mem:org:_"
        assert await client.hget(org_key, "catalog.services") == "{}"
        assert await client.ttl(org_key) == -1  # no expiry

        # Emptying a thread's hash removes the key; Redis drops empty hashes.
        await bus.delete("agent", "kubernetes_agent.result", access_context=K8S, scope=THREAD)
        assert await client.exists(thread_key) == 0
        await bus.aclose()  # does not close a client it was given
        assert await client.ping()
    finally:
        await client.aclose()


async def test_redis_default_ttl_is_fourteen_days(redis_url, key_prefix):
    bus = MemoryBus.from_redis_url(redis_url, prefix=key_prefix)
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert bus.thread_ttl_seconds == DEFAULT_THREAD_TTL_SECONDS == 14 * 24 * 3600
        await bus.set("workflow", "x", 1, access_context=ROOT, scope=THREAD)
        ttl = await client.ttl(f"{key_prefix}:mem:workflow:{THREAD}")
        assert DEFAULT_THREAD_TTL_SECONDS - 10 <= ttl <= DEFAULT_THREAD_TTL_SECONDS
    finally:
        await client.aclose()
        await bus.aclose()


async def test_redis_backend_accepts_a_bytes_client(redis_url, key_prefix):
    client = aioredis.Redis.from_url(redis_url)  # decode_responses=False
    bus = MemoryBus(RedisBackend(client, prefix=key_prefix, owns_client=True))
    try:
        await bus.set("workflow", "x", {"é": [1]}, access_context=ROOT, scope=THREAD)
        assert await bus.get("workflow", "x", scope=THREAD) == {"é": [1]}
        assert await bus.snapshot("workflow", scope=THREAD) == {"x": {"é": [1]}}
    finally:
        await bus.aclose()


async def test_two_replicas_share_one_redis(redis_url, key_prefix):
    replica_a = MemoryBus.from_redis_url(redis_url, prefix=key_prefix)
    replica_b = MemoryBus.from_redis_url(redis_url, prefix=key_prefix)
    other_install = MemoryBus.from_redis_url(redis_url, prefix=f"{key_prefix}-other")
    try:
        await replica_a.set(
            "agent", "kubernetes_agent.plan", {"h": "abc"}, access_context=K8S, scope=THREAD
        )
        await replica_a.set("org", "catalog.services", {"web": {}}, access_context=LOADER)
        assert await replica_b.get("agent", "kubernetes_agent.plan", scope=THREAD) == {"h": "abc"}
        assert await replica_b.get("org", "catalog.services") == {"web": {}}

        await replica_b.delete("agent", "kubernetes_agent.plan", access_context=K8S, scope=THREAD)
        assert await replica_a.get("agent", "kubernetes_agent.plan", scope=THREAD) is None

        # A different prefix is a different installation.
        assert await other_install.get("org", "catalog.services") is None
    finally:
        for bus in (replica_a, replica_b, other_install):
            await bus.aclose()


def test_thread_ttl_must_be_positive():
    with pytest.raises(ValueError, match="thread_ttl_seconds"):
        MemoryBus.in_memory(thread_ttl_seconds=0)
    assert MemoryBus.in_memory(thread_ttl_seconds=None).thread_ttl_seconds is None
