"""The audit trail: both stored backends, the service's entries for a whole approval flow,
filters, a failing backend that must not break a run, and `devops-bot audit`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from tests.cli_helpers import Cli
from workflow.assembly import ServiceOptions, open_service
from workflow.audit import STREAM_MAXLEN, InMemoryAuditLog, RedisAuditLog, SqliteAuditLog
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


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def audit_log(request, tmp_path, key_prefix):
    if request.param == "memory":
        yield InMemoryAuditLog()
    elif request.param == "sqlite":
        log = SqliteAuditLog(tmp_path / "audit.sqlite")
        yield log
        log.close()
    else:
        client = Redis.from_url(request.getfixturevalue("redis_url"))
        yield RedisAuditLog(client, prefix=key_prefix)
        await client.aclose()


async def test_append_and_read_oldest_first(audit_log):
    await audit_log.append({"event": "run", "thread_id": "t1", "user": "U1", "detail": "one"})
    await audit_log.append({"event": "request", "thread_id": "t2", "plan_hash": "sha256:ab"})
    await audit_log.append({"event": "vote", "thread_id": "t1", "user": "U2", "action": None})
    rows = await audit_log.read()
    assert [r["event"] for r in rows] == ["run", "request", "vote"]
    assert rows[0]["user"] == "U1" and rows[0]["detail"] == "one"
    assert rows[2]["action"] == "" and rows[1]["plan_hash"] == "sha256:ab"
    assert datetime.fromisoformat(rows[0]["at"]).tzinfo is not None
    assert [r["event"] for r in await audit_log.read(thread_id="t1")] == ["run", "vote"]
    assert await audit_log.read(thread_id="nope") == []
    # limit keeps the newest entries, still oldest first
    assert [r["event"] for r in await audit_log.read(limit=2)] == ["request", "vote"]


async def test_since_filters_by_time(audit_log):
    old = datetime.now(UTC) - timedelta(hours=3)
    await audit_log.append({"event": "run", "thread_id": "t", "at": old})
    await audit_log.append({"event": "apply", "thread_id": "t"})
    since = datetime.now(UTC) - timedelta(hours=1)
    assert [r["event"] for r in await audit_log.read(since=since)] == ["apply"]
    assert [r["event"] for r in await audit_log.read(since=old - timedelta(seconds=1))] == [
        "run",
        "apply",
    ]
    future = datetime.now(UTC) + timedelta(minutes=5)
    assert await audit_log.read(since=future) == []


async def test_unknown_event_and_secrets_are_refused(audit_log):
    with pytest.raises(ValueError, match="unknown audit event"):
        await audit_log.append({"event": "oops", "thread_id": "t"})
    await audit_log.append(
        {
            "event": "failure",
            "thread_id": "t",
            "detail": "token=abc123 xoxb-1234-5678-abcdef " + "x" * 1000,
        }
    )
    (row,) = await audit_log.read()
    assert "abc123" not in row["detail"] and "xoxb" not in row["detail"]
    assert len(row["detail"]) <= 300


async def test_redis_stream_is_capped_with_approximate_trimming(redis_url, key_prefix):
    client = Redis.from_url(redis_url)
    try:
        log = RedisAuditLog(client, prefix=key_prefix)
        await log.append({"event": "run", "thread_id": "t"})
        assert await client.type(f"{key_prefix}:audit") == b"stream"
        info = await client.xinfo_stream(f"{key_prefix}:audit")
        assert info["length"] == 1
    finally:
        await client.aclose()
    assert STREAM_MAXLEN == 100_000


async def test_redis_read_pages_through_a_long_stream(redis_url, key_prefix):
    client = Redis.from_url(redis_url)
    try:
        log = RedisAuditLog(client, prefix=key_prefix)
        for i in range(1200):
            await log.append({"event": "vote", "thread_id": "hot" if i % 3 else "cold"})
        cold = await log.read(thread_id="cold", limit=1000)
        assert len(cold) == 400
        assert len(await log.read(limit=1000)) == 1000
        ids = [r["id"] for r in cold]
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    finally:
        await client.aclose()


async def test_sqlite_log_survives_reopen(tmp_path):
    log = SqliteAuditLog(tmp_path / "audit.sqlite")
    await log.append({"event": "run", "thread_id": "t"})
    log.close()
    log = SqliteAuditLog(tmp_path / "audit.sqlite")
    await log.append({"event": "apply", "thread_id": "t"})
    rows = await log.read()
    log.close()
    assert [(r["id"], r["event"]) for r in rows] == [("1", "run"), ("2", "apply")]


# -- through the service ------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def opener(request, tmp_path, key_prefix):
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None

    def open_():
        return open_service(
            ServiceOptions(
                data_dir=tmp_path,
                sandbox=True,
                redis_url=redis_url,
                key_prefix=key_prefix,
                persistence="auto",
                rollout_timeout=10,
            )
        )

    return open_


async def test_approval_flow_is_audited_in_order(opener):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        assert report.status == "awaiting_approval"
        thread = report.thread_id
        with pytest.raises(RefusedError):
            await h.service.approve(thread, "U1")
    async with opener() as h:  # a restart between the refusal and the approval
        done = await h.service.approve(thread, "U2")
        assert done.status == "applied"
        other = await h.service.start(
            **{**DEPLOY, "context": {**DEPLOY["context"], "environment": "staging"}},
            requester="U3",
        )
        rows = await h.service.audit.read(thread_id=thread)
    assert [r["event"] for r in rows] == [
        "run",
        "request",
        "vote_refused",
        "vote",
        "decision",
        "apply",
        "rollout",
    ]
    assert {r["thread_id"] for r in rows} == {thread}
    run, *rest = rows
    assert run["user"] == "U1" and "deploy" in run["detail"]
    assert run["environment"] == "production" and run["target"] == "api-server"
    plan_hash = report.approval["plan_hash"]
    assert plan_hash.startswith("sha256:")
    assert {r["plan_hash"] for r in rest} == {plan_hash}
    assert {r["approval_id"] for r in rest} == {report.approval["id"]}
    request, refused, vote, decision, apply, rollout = rest
    assert request["user"] == "U1" and request["environment"] == "production"
    assert refused["user"] == "U1" and "self-approval is not allowed" in refused["detail"]
    assert vote["user"] == "U2" and vote["detail"] == "approve"
    assert decision["user"] == "U2" and decision["detail"] == "approved by U2"
    assert apply["action"] == "deploy" and "applied" in apply["detail"]
    assert apply["user"] == "U2" and "rolling out" in apply["detail"]
    assert rollout["user"] == "U2" and "(rollout complete)" in rollout["detail"]
    times = [r["at"] for r in rows]
    assert times == sorted(times)
    # a staging deploy needs no approval: run then apply, in its own thread
    async with opener() as h:
        staged = await h.service.audit.read(thread_id=other.thread_id)
        everything = await h.service.audit.read()
    assert [r["event"] for r in staged] == ["run", "apply", "rollout"]
    assert staged[0]["user"] == "U3"
    assert [r["thread_id"] for r in everything] == [thread] * 7 + [other.thread_id] * 3


async def test_reject_flow_is_audited(opener):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        done = await h.service.reject(report.thread_id, "U2", "wrong tag")
        assert done.status == "rejected"
        rows = await h.service.audit.read(thread_id=report.thread_id)
    assert [r["event"] for r in rows] == ["run", "request", "vote", "decision"]
    assert rows[2]["detail"] == "reject: wrong tag"
    assert rows[3]["detail"] == "rejected by U2: wrong tag" and rows[3]["user"] == "U2"


async def test_expiry_is_audited_as_a_decision(opener):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        later = datetime.now(UTC) + timedelta(hours=2)
        h.service.deps.clock = lambda: later
        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "expired"
        rows = await h.service.audit.read(thread_id=report.thread_id)
    assert [r["event"] for r in rows] == ["run", "request", "decision"]
    assert rows[-1]["detail"] == "expired" and rows[-1]["user"] == "system"


async def test_since_filter_through_the_service(opener):
    async with opener() as h:
        first = await h.service.start(**DEPLOY, requester="U1")
        cut = datetime.now(UTC)
        await h.service.reject(first.thread_id, "U2", "not today")
        rows = await h.service.audit.read(since=cut)
    assert [r["event"] for r in rows] == ["vote", "decision"]


async def test_check_vote_tells_without_voting(opener):
    async with opener() as h:
        report = await h.service.start(**DEPLOY, requester="U1")
        thread = report.thread_id
        self_approve = await h.service.check_vote(thread, "U1", "approve")
        assert not self_approve.allowed and "self-approval" in self_approve.reason
        assert (await h.service.check_vote(thread, "U1", "reject")).allowed  # withdraw
        assert (await h.service.check_vote(thread, "U2", "reject")).allowed
        outsider = await h.service.check_vote(thread, "U9", "approve")
        assert not outsider.allowed and "not an approver" in outsider.reason
        with pytest.raises(InputError, match="unknown thread id"):
            await h.service.check_vote("nope", "U2", "approve")
        # nothing was voted or audited by the checks
        assert (await h.service.report(thread)).status == "awaiting_approval"
        events = [r["event"] for r in await h.service.audit.read(thread_id=thread)]
        assert events == ["run", "request"]
        later = datetime.now(UTC) + timedelta(hours=2)
        h.service.deps.clock = lambda: later
        expired = await h.service.check_vote(thread, "U2", "approve")
        assert not expired.allowed and expired.expired


class _BrokenAudit:
    async def append(self, entry):
        raise ConnectionError("audit backend down")

    async def read(self, thread_id=None, since=None, limit=1000):
        raise ConnectionError("audit backend down")


async def test_a_failing_audit_backend_never_breaks_a_run(opener):
    async with opener() as h:
        h.service.audit = _BrokenAudit()
        report = await h.service.start(**DEPLOY, requester="U1")
        with pytest.raises(RefusedError):
            await h.service.approve(report.thread_id, "U1")
        done = await h.service.approve(report.thread_id, "U2")
    assert done.status == "applied"


# -- CLI ------------------------------------------------------------------------------------


def test_cli_audit_after_run_and_approve(tmp_path):
    cli = Cli(tmp_path)
    run = cli("run", "deploy api-server:v1.2.3 prod", "--as", "U1", "--sandbox", "--json")
    assert run.code == 10, run
    thread = run.json()["thread_id"]
    refused = cli("approve", thread, "--as", "U1")
    assert refused.code == 3, refused
    approved = cli("approve", thread, "--as", "U2", "--json")
    assert approved.code == 0, approved

    res = cli("audit", "--thread", thread, "--json")
    assert res.code == 0, res
    rows = [json.loads(line) for line in res.out.splitlines()]
    assert [r["event"] for r in rows] == [
        "run",
        "request",
        "vote_refused",
        "vote",
        "decision",
        "apply",
        "rollout",
    ]
    assert {r["plan_hash"] for r in rows[1:]} == {run.json()["approval"]["plan_hash"]}
    assert [r["user"] for r in rows] == ["U1", "U1", "U1", "U2", "U2", "U2", "U2"]

    text = cli("audit", "--since", "1h")
    assert text.code == 0, text
    lines = text.out.splitlines()
    assert len(lines) == 7 and all(thread in line for line in lines)
    assert "vote_refused" in lines[2] and "self-approval" in lines[2]

    iso = cli("audit", "--since", "2999-01-01T00:00:00Z")
    assert iso.code == 0 and "no audit entries" in iso.out, iso
    assert cli("audit", "--thread", "nope", "--json").out == ""


@pytest.mark.parametrize("bad", ["yesterday", "2h30", "-5m", "2026-13-45"])
def test_cli_audit_bad_since_is_one_clear_line(tmp_path, bad):
    res = Cli(tmp_path)("audit", f"--since={bad}")
    assert res.code == 2, res
    assert len(res.err_lines) == 1 and "--since" in res.err_lines[0], res
