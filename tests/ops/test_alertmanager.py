"""AlertmanagerClient against a real Alertmanager: alerts, silences, validation."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from workflow.tools.alertmanager import AlertmanagerClient
from workflow.tools.errors import BackendError, BackendNotConfigured, InvalidRequestError


@pytest.fixture
async def client(alertmanager_url):
    async with AlertmanagerClient(alertmanager_url, timeout=5.0, backoff=0.05) as c:
        yield c


@pytest.fixture
def run_id() -> str:
    """A label value unique to the test: the session's Alertmanager is shared."""
    return uuid.uuid4().hex[:10]


def _names(alerts: list[dict]) -> set[str]:
    return {a["labels"]["alertname"] for a in alerts}


async def _push_two(client: AlertmanagerClient, run_id: str) -> None:
    await client.push_alerts(
        [
            {
                "labels": {
                    "alertname": "HighErrorRate",
                    "service": "checkout",
                    "namespace": "production",
                    "severity": "critical",
                    "run": run_id,
                },
                "annotations": {"summary": "checkout 5xx ratio above 5%"},
            },
            {
                "labels": {
                    "alertname": "DiskFull",
                    "service": "billing",
                    "severity": "warning",
                    "run": run_id,
                },
            },
        ]
    )


async def test_list_silence_and_expire(client, run_id):
    await _push_two(client, run_id)
    mine = {"run": run_id}
    assert _names(await client.alerts(filters=mine)) == {"HighErrorRate", "DiskFull"}
    by_service = await client.alerts(service="checkout", filters=mine)
    assert _names(by_service) == {"HighErrorRate"}
    assert by_service[0]["annotations"]["summary"] == "checkout 5xx ratio above 5%"
    assert _names(await client.alerts(filters={**mine, "severity": "warning"})) == {"DiskFull"}

    silence_id = await client.create_silence(
        matchers={"service": "checkout", "run": run_id},
        duration_minutes=120,
        comment="investigating checkout errors",
        created_by="devops-bot test",
    )
    checkout = await client.alerts(service="checkout", filters=mine)
    assert checkout[0]["status"]["state"] == "suppressed"
    assert checkout[0]["status"]["silencedBy"] == [silence_id]
    assert _names(await client.alerts(silenced=False, filters=mine)) == {"DiskFull"}
    assert _names(await client.alerts(silenced=True, filters=mine)) == {
        "HighErrorRate",
        "DiskFull",
    }

    silences = {s["id"]: s for s in await client.silences()}
    silence = silences[silence_id]
    assert silence["status"]["state"] == "active"
    assert silence["comment"] == "investigating checkout errors"
    assert silence["createdBy"] == "devops-bot test"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
        ("service", "checkout"),
        ("run", run_id),
    }
    starts = datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert abs((ends - starts).total_seconds() - 7200) < 5
    assert [s["id"] for s in await client.silences(filters={"run": run_id})] == [silence_id]

    await client.expire_silence(silence_id)
    expired = await client.get_silence(silence_id)
    assert expired["status"]["state"] == "expired"
    assert [s["id"] for s in await client.silences(state="active", filters=mine)] == []
    checkout = await client.alerts(service="checkout", filters=mine)
    assert checkout[0]["status"]["state"] == "active" and checkout[0]["status"]["silencedBy"] == []


async def test_expire_unknown_silence_is_backend_error(client):
    with pytest.raises(BackendError) as err:
        await client.expire_silence(str(uuid.uuid4()))
    assert err.value.status == 404 or "not found" in err.value.message.lower()


async def test_invalid_silence_rejected_before_http():
    def refuse(request):
        raise AssertionError(f"unexpected HTTP call {request.url}")

    async with AlertmanagerClient("http://127.0.0.1:9", transport=httpx.MockTransport(refuse)) as c:
        ok = {"matchers": {"service": "checkout"}, "comment": "x", "created_by": "me"}
        for duration in (0, 0.5, -5, 30 * 24 * 60 + 1, "2h", None, True):
            with pytest.raises(InvalidRequestError, match="silence duration"):
                await c.create_silence(duration_minutes=duration, **ok)
        with pytest.raises(InvalidRequestError, match="invalid matcher name"):
            await c.create_silence(
                matchers={"bad-name": "x"}, duration_minutes=60, comment="x", created_by="me"
            )
        with pytest.raises(InvalidRequestError, match="at least one matcher"):
            await c.create_silence(matchers={}, duration_minutes=60, comment="x", created_by="me")
        with pytest.raises(InvalidRequestError, match="comment"):
            await c.create_silence(
                matchers={"service": "checkout"}, duration_minutes=60, comment=" ", created_by="me"
            )
        with pytest.raises(InvalidRequestError, match="invalid matcher name"):
            await c.alerts(filters={"1abc": "x"})
        with pytest.raises(InvalidRequestError, match="invalid silence id"):
            await c.expire_silence("../alerts")


async def test_regex_matchers_list_form(client, run_id):
    await _push_two(client, run_id)
    silence_id = await client.create_silence(
        matchers=[
            {"name": "run", "value": run_id},
            {"name": "alertname", "value": "Disk.*", "isRegex": True},
        ],
        duration_minutes=1,
        comment="regex",
        created_by="me",
    )
    try:
        silenced = await client.alerts(silenced=True, inhibited=False, filters={"run": run_id})
        by_name = {a["labels"]["alertname"]: a["status"]["silencedBy"] for a in silenced}
        assert by_name == {"DiskFull": [silence_id], "HighErrorRate": []}
    finally:
        await client.expire_silence(silence_id)


def test_not_configured():
    for url in (None, ""):
        with pytest.raises(BackendNotConfigured, match="ALERTMANAGER_URL is not set"):
            AlertmanagerClient(url)


async def test_transient_503_is_retried():
    calls = []

    def flaky(request):
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(503, json={"message": "alertmanager is reloading"})
        return httpx.Response(200, json=[])

    url = "http://alertmanager.test"
    transport = httpx.MockTransport(flaky)
    async with AlertmanagerClient(url, retries=3, backoff=0.01, transport=transport) as c:
        assert await c.alerts() == []
    assert calls == ["/api/v2/alerts"] * 3
    calls.clear()
    async with AlertmanagerClient(url, retries=2, backoff=0.01, transport=transport) as c:
        with pytest.raises(BackendError) as err:
            await c.silences()
    assert calls == ["/api/v2/silences"] * 2
    assert err.value.status == 503 and err.value.backend == "Alertmanager"
    assert err.value.message == (
        "Alertmanager at http://alertmanager.test answered HTTP 503 to GET /api/v2/silences "
        "after 2 attempts: alertmanager is reloading"
    )


async def test_unreachable_is_backend_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AlertmanagerClient(
        f"http://127.0.0.1:{port}", timeout=0.5, retries=2, backoff=0.01
    ) as c:
        with pytest.raises(BackendError, match="unreachable after 2 attempts"):
            await c.alerts()
