"""The sandbox Alertmanager, driven by the real AlertmanagerClient (and raw httpx)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from workflow.sandbox.alertmanager_api import RECEIVER, SandboxAlertmanager, fingerprint
from workflow.tools.alertmanager import AlertmanagerClient
from workflow.tools.errors import BackendError

NS = "production"


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _by_name(alerts: list[dict]) -> dict[str, dict]:
    return {a["labels"]["alertname"]: a for a in alerts}


async def test_alerts_fire_for_checkout_in_production(kube, am):
    rolled = kube.rollout_history(NS, "checkout")[-1].started_at
    alerts = await am.alerts()
    assert {(a["labels"]["alertname"], a["labels"]["service"]) for a in alerts} == {
        ("HighErrorRate", "checkout"),
        ("HighLatencyP99", "checkout"),
    }, "only the bad rollout alerts"
    by_name = _by_name(await am.alerts(service="checkout", filters={"namespace": NS}))
    errors, latency = by_name["HighErrorRate"], by_name["HighLatencyP99"]
    assert errors["labels"] == {
        "alertname": "HighErrorRate",
        "namespace": NS,
        "service": "checkout",
        "severity": "critical",
    }
    assert latency["labels"]["severity"] == "warning"
    # When the condition began: p99 crosses 1 s within a minute of the rollout, the 5m error
    # ratio crosses 5% once ~70% of its window is the new version.
    assert rolled <= _ts(latency["startsAt"]) <= rolled + 60
    assert rolled + 150 <= _ts(errors["startsAt"]) <= rolled + 270
    for alert in (errors, latency):
        notes = alert["annotations"]
        assert notes["source"] == "devops-bot sandbox"
        assert "checkout" in notes["summary"] and "production" in notes["description"]
        runbook = Path(urlparse(notes["runbook_url"]).path)
        assert runbook.is_file() and runbook.read_text().startswith("# ")
        assert alert["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
        assert alert["receivers"] == [{"name": RECEIVER}]
        assert alert["fingerprint"] == fingerprint(alert["labels"])
        assert alert["generatorURL"].startswith("http://127.0.0.1:")
        assert _ts(alert["endsAt"]) > _ts(alert["updatedAt"])
    # "7.1% of requests fail": the slow image's ~7% error ratio (it wiggles a little in time)
    shown = re.search(r"([\d.]+)% of requests fail", errors["annotations"]["summary"])
    assert shown and 6.0 <= float(shown[1]) <= 8.0, errors["annotations"]["summary"]
    assert await am.alerts(service="payment-service") == []
    assert await am.alerts(filters={"namespace": "staging"}) == []


def test_fingerprint_is_alertmanagers():
    # As computed by Alertmanager 0.25 for these labels.
    labels = {"alertname": "X", "service": "checkout", "severity": "critical"}
    assert fingerprint(labels) == "22bd327e4466504d"


async def test_filters_and_state_flags(am_server):
    async with httpx.AsyncClient(base_url=am_server.url) as http:

        async def names(*params: tuple[str, str]) -> set[str]:
            answer = await http.get("/api/v2/alerts", params=list(params))
            assert answer.status_code == 200, answer.text
            return {a["labels"]["alertname"] for a in answer.json()}

        both = {"HighErrorRate", "HighLatencyP99"}
        assert await names(("filter", 'alertname=~"High.*"')) == both
        assert await names(("filter", "severity=critical")) == {"HighErrorRate"}
        assert await names(("filter", 'namespace!="production"')) == set()
        assert await names(("filter", 'alertname!~"HighError.*"')) == {"HighLatencyP99"}
        assert await names(("active", "false")) == set()
        assert await names(("silenced", "false"), ("inhibited", "false")) == both
        assert await names(("receiver", "devops-bot-.*")) == both
        assert await names(("receiver", "pagerduty")) == set()
        for bad, message in (
            ("bad", "bad matcher format: bad"),
            ('service="checkout', 'matcher value contains unescaped double quote: "checkout'),
        ):
            answer = await http.get("/api/v2/alerts", params={"filter": bad})
            assert answer.status_code == 400 and answer.json() == message


async def test_silence_suppresses_then_expiry_reactivates(am, clock):
    silence_id = await am.create_silence(
        matchers={"service": "checkout", "alertname": "HighErrorRate"},
        duration_minutes=30,
        comment="rolling back checkout",
        created_by="U1",
    )
    assert uuid.UUID(silence_id)
    [silence] = await am.silences()
    assert silence["id"] == silence_id and silence["status"] == {"state": "active"}
    assert silence["createdBy"] == "U1" and silence["comment"] == "rolling back checkout"
    assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]} == {
        ("service", "checkout", False, True),
        ("alertname", "HighErrorRate", False, True),
    }
    assert _ts(silence["endsAt"]) - _ts(silence["startsAt"]) == pytest.approx(1800, abs=1)
    assert await am.get_silence(silence_id) == silence
    assert await am.silences(filters={"service": "checkout"}, state="active") == [silence]
    assert await am.silences(filters={"service": "web"}) == []

    alerts = _by_name(await am.alerts(service="checkout"))
    assert alerts["HighErrorRate"]["status"] == {
        "inhibitedBy": [],
        "silencedBy": [silence_id],
        "state": "suppressed",
    }
    assert alerts["HighLatencyP99"]["status"]["state"] == "active"
    visible = await am.alerts(service="checkout", silenced=False)
    assert [a["labels"]["alertname"] for a in visible] == ["HighLatencyP99"]

    await am.expire_silence(silence_id)
    assert (await am.get_silence(silence_id))["status"]["state"] == "expired"
    assert await am.silences(state="active") == []
    alerts = _by_name(await am.alerts(service="checkout"))
    assert alerts["HighErrorRate"]["status"] == {
        "inhibitedBy": [],
        "silencedBy": [],
        "state": "active",
    }
    await am.expire_silence(silence_id)  # expiring again is fine, as in Alertmanager

    unknown = str(uuid.uuid4())
    for call in (am.get_silence, am.expire_silence):
        with pytest.raises(BackendError) as info:
            await call(unknown)
        assert info.value.status == 404 and "silence not found" in str(info.value)

    # A silence ends by itself.
    short = await am.create_silence(
        matchers={"service": "checkout"}, duration_minutes=5, comment="x", created_by="U1"
    )
    clock.advance(301)
    assert (await am.get_silence(short))["status"]["state"] == "expired"
    assert all(a["status"]["state"] == "active" for a in await am.alerts(service="checkout"))


async def test_pending_silence_and_update(am, am_server, clock):
    later = datetime.fromtimestamp(clock() + 600, UTC)
    pending = await am.create_silence(
        matchers={"service": "checkout"},
        duration_minutes=60,
        comment="maintenance",
        created_by="U1",
        starts_at=later,
    )
    assert (await am.get_silence(pending))["status"]["state"] == "pending"
    assert all(a["status"]["state"] == "active" for a in await am.alerts(service="checkout"))
    async with httpx.AsyncClient(base_url=am_server.url) as http:
        body = {
            "id": pending,
            "matchers": [{"name": "service", "value": "checkout", "isRegex": False}],
            "startsAt": _iso(clock() + 900),
            "endsAt": _iso(clock() + 4000),
            "createdBy": "U2",
            "comment": "moved",
        }
        answer = await http.post("/api/v2/silences", json=body)
        assert answer.status_code == 200 and answer.json() == {"silenceID": pending}
        # Other matchers cannot be updated in place: a new silence replaces it.
        body["matchers"][0]["value"] = "web"
        answer = await http.post("/api/v2/silences", json=body)
        replacement = answer.json()["silenceID"]
        assert replacement != pending
    assert (await am.get_silence(pending))["status"]["state"] == "expired"
    assert (await am.get_silence(replacement))["comment"] == "moved"
    clock.advance(1000)
    states = {s["id"]: s["status"]["state"] for s in await am.silences()}
    assert states == {pending: "expired", replacement: "active"}


async def test_silences_are_validated_as_alertmanager_does(am_server, clock):
    now = clock()
    good = {
        "matchers": [{"name": "service", "value": "checkout", "isRegex": False}],
        "startsAt": _iso(now),
        "endsAt": _iso(now + 3600),
        "createdBy": "U1",
        "comment": "c",
    }

    def variant(**changes) -> dict:
        body = {k: v for k, v in good.items() if k not in changes or changes[k] is not None}
        body.update({k: v for k, v in changes.items() if v is not None})
        return body

    cases = [
        (
            variant(endsAt=_iso(now - 60)),
            400,
            "Failed to create silence: start time must be before end time",
        ),
        (
            variant(startsAt=_iso(now - 7200), endsAt=_iso(now - 3600)),
            400,
            "Failed to create silence: end time can't be in the past",
        ),
        (
            variant(matchers=[{"name": "service", "value": "", "isRegex": False}]),
            400,
            "silence invalid: at least one matcher must not match the empty string",
        ),
        (
            variant(matchers=[{"name": "service", "value": ".*", "isRegex": True}]),
            400,
            "silence invalid: at least one matcher must not match the empty string",
        ),
        (
            variant(matchers=[{"name": "1bad", "value": "x", "isRegex": False}]),
            400,
            'silence invalid: invalid label matcher 0: invalid label name "1bad"',
        ),
        (
            variant(matchers=[]),
            422,
            {"code": 612, "message": "matchers in body should have at least 1 items"},
        ),
        (
            {k: v for k, v in good.items() if k != "createdBy"},
            422,
            {"code": 602, "message": "createdBy in body is required"},
        ),
        (
            variant(matchers=[{"name": "service", "value": "x"}]),
            422,
            {"code": 602, "message": "matchers.0.isRegex in body is required"},
        ),
        (variant(id=str(uuid.uuid4())), 404, "silence not found"),
    ]
    async with httpx.AsyncClient(base_url=am_server.url) as http:
        for body, status, message in cases:
            answer = await http.post("/api/v2/silences", json=body)
            assert (answer.status_code, answer.json()) == (status, message), body
        bad_regex = variant(matchers=[{"name": "service", "value": "(", "isRegex": True}])
        answer = await http.post("/api/v2/silences", json=bad_regex)
        assert answer.status_code == 400
        assert answer.json().startswith("silence invalid: invalid label matcher 0: invalid regular")
        answer = await http.post("/api/v2/silences", content=b"not json")
        assert answer.status_code == 400 and "parsing silence body" in answer.json()["message"]
        answer = await http.get("/api/v2/silence/not-a-uuid")
        assert answer.status_code == 422 and answer.json()["code"] == 601
        assert (await http.get("/api/v2/silences")).json() == []
        # A start in the past becomes now.
        answer = await http.post("/api/v2/silences", json=variant(startsAt=_iso(now - 600)))
        created = (await http.get(f"/api/v2/silence/{answer.json()['silenceID']}")).json()
        assert _ts(created["startsAt"]) >= now - 1


async def test_silences_persist_across_instances(kube, clock, tmp_path):
    state = tmp_path / "sandbox-alertmanager.json"
    with (
        SandboxAlertmanager(kube, state_file=state, clock=clock) as first,
        SandboxAlertmanager(kube, state_file=state, clock=clock) as running,
    ):
        async with AlertmanagerClient(first.url) as a, AlertmanagerClient(running.url) as b:
            silence_id = await a.create_silence(
                matchers={"service": "checkout"},
                duration_minutes=60,
                comment="persisted",
                created_by="U1",
            )
            # Another server on the same file (a later CLI process) sees it at once.
            assert [s["id"] for s in await b.silences()] == [silence_id]
            assert all(
                x["status"]["silencedBy"] == [silence_id]
                for x in await b.alerts(service="checkout")
            )
            await b.expire_silence(silence_id)
            assert (await a.get_silence(silence_id))["status"]["state"] == "expired"
    with SandboxAlertmanager(kube, state_file=state, clock=clock) as later:
        async with AlertmanagerClient(later.url) as c:
            [silence] = await c.silences()
            assert silence["id"] == silence_id and silence["comment"] == "persisted"
            assert silence["status"]["state"] == "expired"
    with SandboxAlertmanager(kube, clock=clock) as memory_only:
        async with AlertmanagerClient(memory_only.url) as d:
            assert await d.silences() == []


async def test_pushed_alerts_are_listed_until_they_resolve(am, am_server, clock):
    await am.push_alerts(
        [
            {
                "labels": {"alertname": "DiskFull", "service": "billing", "severity": "warning"},
                "annotations": {"summary": "disk 95% full"},
            }
        ]
    )
    alerts = _by_name(await am.alerts())
    assert set(alerts) == {"DiskFull", "HighErrorRate", "HighLatencyP99"}
    disk = alerts["DiskFull"]
    assert disk["annotations"] == {"summary": "disk 95% full"}
    assert _ts(disk["endsAt"]) - _ts(disk["startsAt"]) == pytest.approx(300, abs=1)
    assert await am.alerts(service="billing", filters={"severity": "warning"}) == [disk]
    clock.advance(301)  # no update within the resolve timeout: resolved
    assert "DiskFull" not in _by_name(await am.alerts())

    async with httpx.AsyncClient(base_url=am_server.url) as http:
        answer = await http.post("/api/v2/alerts", json=[{"labels": {}}])
        assert (answer.status_code, answer.json()) == (400, "at least one label pair required")
        answer = await http.post("/api/v2/alerts", json=[{"labels": {"1x": "y"}}])
        assert answer.json() == 'invalid label set: invalid name "1x"'
        answer = await http.post("/api/v2/alerts", json=[{"annotations": {"a": "b"}}])
        assert answer.status_code == 422
        now = clock()
        answer = await http.post(
            "/api/v2/alerts",
            json=[{"labels": {"a": "b"}, "startsAt": _iso(now + 60), "endsAt": _iso(now)}],
        )
        assert (answer.status_code, answer.json()) == (400, "start time must be before end time")


async def test_status_and_health(am_server):
    async with httpx.AsyncClient(base_url=am_server.url) as http:
        assert (await http.get("/-/ready")).text == "OK"
        status = (await http.get("/api/v2/status")).json()
        assert status["cluster"]["status"] == "disabled"
        assert "sandbox" in status["versionInfo"]["version"]
        assert "devops-bot sandbox" in status["config"]["original"]
        assert (await http.get("/api/v2/receivers")).json() == [{"name": RECEIVER}]
