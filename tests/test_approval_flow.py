"""Plan -> approve -> apply through the real graph, over every persistence backend.

memory: InMemorySaver; sqlite: the embedded default; redis: AsyncRedisSaver on the
session's Redis Stack. "Restart" = the service is closed and opened again on the same
data directory / Redis, which is what a process restart leaves behind.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from workflow.assembly import SANDBOX_POLICY, ServiceOptions, open_service
from workflow.sandbox.kube_api import KubeApiServer
from workflow.service import InputError, RefusedError

DEPLOY = {
    "task_type": "deploy",
    "context": {
        "action": "deploy",
        "service": "api-server",
        "environment": "production",
        "image": "api-server:v1.2.3",
        "sandbox": True,
    },
    "text": "deploy api-server:v1.2.3 prod",
}
OLD = "registry.example.com/api-server:v1.2.2"
NEW = "registry.example.com/api-server:v1.2.3"


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request):
    return request.param


@pytest.fixture
def opener(backend, tmp_path, request, key_prefix):
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None

    @asynccontextmanager
    async def open_(policy=None, persistence=None):
        options = ServiceOptions(
            data_dir=tmp_path,
            redis_url=redis_url,
            sandbox=True,
            policy_path=str(policy) if policy else None,
            persistence="memory" if backend == "memory" else "auto",
            key_prefix=key_prefix,
            rollout_timeout=10,
        )
        async with open_service(options) as handle:
            yield handle

    return open_


def image(tmp_path) -> str:
    return KubeApiServer(tmp_path / "sandbox-cluster.json").snapshot()["production"]["api-server"][
        "image"
    ]


async def test_deploy_to_production_pauses_then_second_user_applies(opener, backend, tmp_path):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        assert report.status == "awaiting_approval"
        request = report.approval
        assert request["plan_hash"].startswith("sha256:")
        assert f"- image: {OLD}" in request["preview"] and f"+ image: {NEW}" in request["preview"]
        assert request["requester"] == "U1" and request["environment"] == "production"
        assert request["required_approvers"]["users"] == ["U1", "U2", "U3"]
        assert [p["thread_id"] for p in await h.service.pending()] == [report.thread_id]
        assert image(tmp_path) == OLD, "nothing may change before approval"
        with pytest.raises(RefusedError, match="self-approval is not allowed"):
            await h.service.approve(report.thread_id, "U1")
        assert image(tmp_path) == OLD
        if backend == "memory":
            done = await h.service.approve(report.thread_id, "U2")
            with pytest.raises(InputError, match=r"already decided \(approved by U2\)"):
                await h.service.approve(report.thread_id, "U3")
    if backend != "memory":
        async with opener() as h:  # a restart between pause and approval
            assert [p["thread_id"] for p in await h.service.pending()] == [report.thread_id]
            done = await h.service.approve(report.thread_id, "U2")
    assert done.status == "applied", done.summary
    assert "approved by U2" in done.summary
    assert image(tmp_path) == NEW
    assert done.approval["status"] == "approved" and done.approval["decided_by"] == "U2"
    if backend != "memory":
        async with opener() as h:
            with pytest.raises(InputError, match=r"already decided \(approved by U2\)"):
                await h.service.approve(report.thread_id, "U3")


async def test_reject_applies_nothing(opener, tmp_path):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        with pytest.raises(InputError, match="needs a reason"):
            await h.service.reject(report.thread_id, "U2", "  ")
        done = await h.service.reject(report.thread_id, "U2", "wrong tag")
        assert done.status == "rejected"
        assert "wrong tag" in done.summary and "nothing was applied" in done.summary
        assert await h.service.pending() == []
    assert image(tmp_path) == OLD


async def test_a_vote_on_a_request_seen_earlier_counts_only_for_that_request(opener, tmp_path):
    """`seen` (the request on the card the voter clicked) is judged without reading the
    state again; under the lock the vote must still find that very request pending."""
    async with opener() as h:
        first = await h.service.start(**DEPLOY, requester="U1")
        await h.service.reject(first.thread_id, "U2", "wrong tag")
        second = await h.service.start(**DEPLOY, requester="U1", thread_id=first.thread_id)
        assert second.approval["id"] != first.approval["id"]
        with pytest.raises(InputError, match="already decided"):
            await h.service.approve(first.thread_id, "U2", seen=first.approval)
        # Seen expired: the expiry, too, only closes the request that was seen.
        expired = {**first.approval, "expires_at": "2000-01-01T00:00:00+00:00"}
        with pytest.raises(InputError, match="already decided"):
            await h.service.approve(first.thread_id, "U2", seen=expired)
        still = await h.service.report(first.thread_id)
        assert still.status == "awaiting_approval"
        assert still.approval["id"] == second.approval["id"] and still.approval["votes"] == []
        assert image(tmp_path) == OLD
        done = await h.service.approve(first.thread_id, "U2", seen=still.approval)
        assert done.status == "applied" and image(tmp_path) == NEW


async def test_concurrent_approvals_apply_once(opener, backend, tmp_path):
    """Double click (one service) and two replicas (two services on one store)."""
    state = tmp_path / "sandbox-cluster.json"
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        revision = KubeApiServer(state).snapshot()["production"]["api-server"]["revision"]
        if backend == "memory":
            results = await asyncio.gather(
                _approve(h, report.thread_id, "U2"), _approve(h, report.thread_id, "U3")
            )
        else:
            async with opener() as h2, opener() as h3:
                results = await asyncio.gather(
                    _approve(h2, report.thread_id, "U2"), _approve(h3, report.thread_id, "U3")
                )
    results.sort()
    assert results[0] == "applied", results
    assert "already decided" in results[1] or "not awaiting" in results[1], results
    after = KubeApiServer(state).snapshot()["production"]["api-server"]
    assert after["revision"] == revision + 1, "the deploy must be applied exactly once"


async def _approve(handle, thread_id, user):
    try:
        return (await handle.service.approve(thread_id, user)).status
    except InputError as exc:
        return f"refused: {exc}"


async def test_m_of_n_waits_for_quorum(opener, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "environments:\n  production:\n    approvers: {users: [U2, U3]}\n    min_approvals: 2\n"
    )
    async with opener(policy=policy) as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        first = await h.service.approve(report.thread_id, "U2")
        assert first.status == "awaiting_approval" and "1/2" in first.summary
        assert image(tmp_path) == OLD
        with pytest.raises(RefusedError, match="already voted"):
            await h.service.approve(report.thread_id, "U2")
        second = await h.service.approve(report.thread_id, "U3")
        assert second.status == "applied"
        assert [v["user"] for v in second.approval["votes"]] == ["U2", "U3"]
    assert image(tmp_path) == NEW


async def test_no_approvers_configured_refuses_everyone(opener, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("environments:\n  staging: {}\n")
    async with opener(policy=policy) as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        assert report.status == "awaiting_approval"
        with pytest.raises(RefusedError, match="production has no approvers configured"):
            await h.service.approve(report.thread_id, "U2")
    assert image(tmp_path) == OLD


async def test_expired_request_is_closed_and_applies_nothing(opener, tmp_path):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        later = datetime.now(UTC) + timedelta(hours=2)
        h.service.deps.clock = lambda: later
        pending = await h.service.pending()
        assert pending[0]["expired"] is True
        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "expired" and "nothing was applied" in done.summary
        assert await h.service.pending() == []
    assert image(tmp_path) == OLD


async def test_staging_deploy_needs_no_approval_and_applies(opener, tmp_path):
    async with opener() as h:
        ctx = {**DEPLOY["context"], "environment": "staging"}
        report = await h.service.start(**{**DEPLOY, "context": ctx}, requester="U1")
    assert report.status == "applied", report.summary
    snap = KubeApiServer(tmp_path / "sandbox-cluster.json").snapshot()
    assert snap["staging"]["api-server"]["image"] == NEW
    assert snap["production"]["api-server"]["image"] == OLD


async def test_delete_needs_approval_even_in_dev(opener, tmp_path):
    async with opener() as h:
        ctx = {"action": "delete", "service": "web", "environment": "dev", "sandbox": True}
        report = await h.service.start(
            task_type="kubernetes", context=ctx, text="delete web dev", requester="U1"
        )
        assert report.status == "awaiting_approval"
        assert "destructive" in report.approval["risk_tags"]
    assert "web" in KubeApiServer(tmp_path / "sandbox-cluster.json").snapshot()["dev"]


async def test_unknown_thread_and_bad_votes(opener):
    async with opener() as h:
        with pytest.raises(InputError, match="unknown thread id 'nope'"):
            await h.service.approve("nope", "U2")
        with pytest.raises(InputError, match="unknown thread id"):
            await h.service.report("nope")


def test_sandbox_policy_is_the_one_shipped():
    assert SANDBOX_POLICY.exists()


async def test_a_rollout_that_does_not_complete_fails_the_run_after_the_apply(tmp_path):
    """apply says the change went in; the rollout node then says it did not roll out."""
    options = ServiceOptions(
        data_dir=tmp_path, sandbox=True, persistence="memory", rollout_timeout=0.5
    )
    async with open_service(options) as h:
        seen: list[tuple[str, dict]] = []
        report = await h.service.start(
            task_type="deploy",
            context={
                "action": "deploy",
                "service": "checkout",
                "environment": "staging",
                "image": "checkout:v2.5.0-crashloop",
                "sandbox": True,
            },
            text="deploy checkout:v2.5.0-crashloop staging",
            requester="U1",
            on_progress=lambda node, update: seen.append((node, update)),
        )
        rows = await h.service.audit.read(thread_id=report.thread_id)
    applied = [u["outcome"] for node, u in seen if node == "apply"]
    assert applied and applied[0]["status"] == "applied" and applied[0]["stage"] == "rolling_out"
    assert report.status == "failed"
    assert "but the rollout did not complete within 0.5 s" in report.summary
    assert report.outcome["stage"] == "rolled_out"
    assert any(
        p["reason"] == "CrashLoopBackOff" for p in report.outcome["result"]["status"]["pods"]
    )
    assert [r["event"] for r in rows] == ["run", "apply", "failure"]
