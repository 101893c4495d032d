"""The incident analysis on hand-made evidence: change points, ranking, remediations, records.

The end-to-end investigation against real Prometheus and Alertmanager is in
tests/agents/incident_agent/test_incident.py; here each rule is pinned down on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.fake_openai import FakeOpenAI
from workflow.deps import OpsTuning
from workflow.durations import ago, human_minutes, minutes_of
from workflow.incident import narrative
from workflow.incident.analysis import (
    change_point,
    fmt_value,
    hypotheses,
    iso,
    remediation,
    severity_of,
    timeline,
)
from workflow.incident.report import (
    findings_text,
    postmortem_markdown,
    record_action,
    record_rollout,
)

T0 = 1_800_000_000.0  # the rollout
TARGET = {"service": "checkout", "environment": "production", "namespace": "production"}
OPS = OpsTuning()


def series(before: float, after: float, *, change_at: float = T0 + 120, n: int = 40) -> list:
    """One point a minute from T0-20min: `before` until `change_at`, then `after`."""
    start = T0 - 20 * 60
    return [[start + 60 * i, before if start + 60 * i < change_at else after] for i in range(n)]


def metric(name: str, unit: str, points: list, baseline_end: float = T0) -> dict:
    from workflow.incident.analysis import WATCHED

    title, direction, floor = WATCHED[name]
    cp = change_point(points, baseline_end, direction=direction, floor=floor)
    return {
        "name": name,
        "title": title,
        "unit": unit,
        "promql": f"<{name}>",
        "window_mean": points[-1][1],
        "previous_mean": points[0][1],
        "change": None,
        "no_data": False,
        "points": points,
        "change_point": cp.as_dict() if cp else None,
    }


HISTORY = [
    {
        "revision": 1,
        "created_at": iso(T0 - 86400),
        "images": {"checkout": "reg/checkout:v2.4.0"},
        "current": False,
        "changes": [],
    },
    {
        "revision": 2,
        "created_at": iso(T0),
        "images": {"checkout": "reg/checkout:v2.4.1"},
        "current": True,
        "changes": ["checkout image reg/checkout:v2.4.0 -> reg/checkout:v2.4.1"],
    },
]


def evidence(**parts) -> dict:
    base = {
        "metrics": {
            "error_ratio": metric("error_ratio", "ratio", series(0.002, 0.002)),
            "latency_p99": metric("latency_p99", "s", series(0.25, 0.25)),
            "request_rate": metric("request_rate", "req/s", series(40, 40)),
        },
        "kubernetes": {"history": HISTORY[:1], "status": {"pods": [], "replicas": {}}},
        "alerts": {"alerts": []},
        "logs": {"groups": []},
    }
    base.update(parts)
    return base


# ---------------------------------------------------------------------------- change points


def test_a_step_up_is_found_at_its_first_sample():
    cp = change_point(series(0.002, 0.07), T0, direction="up", floor=0.01)
    assert cp is not None and cp.at == T0 + 120 and cp.direction == "up"
    assert cp.before == 0.002 and cp.after == 0.07


@pytest.mark.parametrize(
    ("points", "why"),
    [
        (series(0.002, 0.002), "flat"),
        (series(0.002, 0.004), "below the floor and half the baseline"),
        (series(0.002, 0.07)[:5], "no baseline"),
        ([[T0 - 600 + 60 * i, 0.002 if i % 7 else 0.05] for i in range(40)], "spikes that pass"),
    ],
)
def test_no_lasting_change_is_no_change(points, why):
    assert change_point(points, T0, direction="up", floor=0.01) is None, why


def test_a_fall_counts_only_when_asked_for():
    falling = series(40, 5)
    assert change_point(falling, T0, direction="up", floor=0.5) is None
    cp = change_point(falling, T0, direction="both", floor=0.5)
    assert cp is not None and cp.direction == "down"


def test_nan_points_are_ignored():
    points = series(0.002, 0.07)
    points[3][1] = float("nan")
    assert change_point(points, T0, direction="up", floor=0.01) is not None


# ---------------------------------------------------------------------------- hypotheses


def test_a_rollout_just_before_the_errors_is_the_top_cause_with_rollback_first():
    ev = evidence(
        metrics={
            "error_ratio": metric("error_ratio", "ratio", series(0.002, 0.07)),
            "latency_p99": metric("latency_p99", "s", series(0.25, 1.9)),
            "request_rate": metric("request_rate", "req/s", series(40, 40)),
        },
        kubernetes={"history": HISTORY, "status": {"pods": [], "replicas": {"desired": 3}}},
        alerts={
            "alerts": [
                {
                    "labels": {"alertname": "HighErrorRate", "severity": "page"},
                    "startsAt": iso(T0 + 200),
                    "status": {"state": "active"},
                }
            ]
        },
    )
    ranked = hypotheses(ev, TARGET, OPS)
    top = ranked[0]
    assert top["kind"] == "rollout" and top["rank"] == 1
    assert "reg/checkout:v2.4.1" in top["title"]
    assert top["evidence"][0] == (
        "error ratio rose from 0.2% to 7% 2 min after checkout reg/checkout:v2.4.1 rolled out "
        f"(revision 2 at {datetime.fromtimestamp(T0, UTC):%H:%M:%S} UTC)"
    )
    assert any("p99 latency rose from 250 ms to 1.9 s" in line for line in top["evidence"])
    assert any("HighErrorRate" in line for line in top["evidence"])
    actions = [s["context"]["action"] for s in top["remediations"]]
    assert actions == ["rollback", "silence"]
    assert top["remediations"][0]["command"] == "rollback checkout in production"
    assert top["remediations"][1]["command"] == (
        "silence HighErrorRate for checkout in production for 1h"
    )


def test_a_rollout_long_before_the_change_is_not_blamed():
    ev = evidence(
        metrics={
            "error_ratio": metric(
                "error_ratio", "ratio", series(0.002, 0.07, change_at=T0 + 3600, n=90)
            )
        },
        kubernetes={"history": HISTORY, "status": {"pods": []}},
    )
    kinds = [h["kind"] for h in hypotheses(ev, TARGET, OPS)]
    assert "rollout" not in kinds


def test_crashing_pods_without_a_rollout_suggest_a_restart():
    pods = [
        {"name": "checkout-abc", "reason": "CrashLoopBackOff", "restart_count": 5},
        {"name": "checkout-def", "reason": None, "restart_count": 0},
    ]
    ev = evidence(kubernetes={"history": HISTORY[:1], "status": {"pods": pods}})
    top = hypotheses(ev, TARGET, OPS)[0]
    assert top["kind"] == "pods"
    assert top["evidence"][0] == "1 of 2 pods are CrashLoopBackOff (5 restarts in all)"
    assert [s["context"]["action"] for s in top["remediations"]] == ["restart"]


def test_a_traffic_surge_suggests_scaling_to_double():
    ev = evidence(
        metrics={
            "error_ratio": metric("error_ratio", "ratio", series(0.002, 0.002)),
            "latency_p99": metric("latency_p99", "s", series(0.25, 1.2)),
            "request_rate": metric("request_rate", "req/s", series(40, 95)),
        },
        kubernetes={"history": HISTORY[:1], "status": {"pods": [], "replicas": {"desired": 3}}},
    )
    top = hypotheses(ev, TARGET, OPS)[0]
    assert top["kind"] == "traffic"
    step = top["remediations"][0]
    assert (
        step["context"]["replicas"] == 6 and step["command"] == "scale checkout to 6 in production"
    )


def test_upstream_errors_in_logs_point_at_the_upstream():
    group = {
        "count": 412,
        "example": 'level=error msg="upstream request failed" upstream=payment-service '
        'error="context deadline exceeded"',
        "first_ts": iso(T0 + 60),
    }
    ev = evidence(logs={"groups": [group]})
    top = hypotheses(ev, TARGET, OPS)[0]
    assert top["kind"] == "dependency" and "payment-service" in top["title"]
    step = top["remediations"][0]
    assert step["task_type"] == "incident_response" and not step["writes"]
    assert step["command"] == "investigate payment-service in production"


def test_nothing_unusual_says_so():
    ranked = hypotheses(evidence(), TARGET, OPS)
    assert [h["kind"] for h in ranked] == ["unknown"]
    assert ranked[0]["evidence"] == ["no watched metric left its baseline in the window"]


def test_severity_from_alerts_and_error_ratio():
    assert severity_of(evidence(), "low") == "low"
    assert severity_of(evidence(), None) == "low"
    page = {"alerts": [{"labels": {"severity": "page"}}]}
    assert severity_of(evidence(alerts=page), None) == "critical"
    high = {"error_ratio": {"window_mean": 0.07}}
    assert severity_of(evidence(metrics=high), None) == "high"


def test_timeline_is_ordered_and_only_since_the_start():
    ev = evidence(
        metrics={"error_ratio": metric("error_ratio", "ratio", series(0.002, 0.07))},
        kubernetes={"history": HISTORY, "status": {"events": []}},
    )
    entries = timeline(ev, TARGET, since=T0 - 60)
    assert [e["source"] for e in entries] == ["kubernetes", "prometheus"]
    assert entries[0]["at"] == iso(T0) and entries[0]["at"].endswith("Z")


def test_remediation_context_is_exactly_what_the_run_gets():
    step = remediation("r1", "rollback", TARGET, label="Roll back")
    assert step == {
        "id": "r1",
        "label": "Roll back",
        "task_type": "kubernetes",
        "context": {**TARGET, "action": "rollback"},
        "command": "rollback checkout in production",
        "writes": True,
    }


# ---------------------------------------------------------------------------- the record


def record() -> dict:
    ev = evidence(
        metrics={"error_ratio": metric("error_ratio", "ratio", series(0.002, 0.07))},
        kubernetes={"history": HISTORY, "status": {"pods": []}},
    )
    ranked = hypotheses(ev, TARGET, OPS)
    return {
        "id": "INC-1",
        **TARGET,
        "severity": "high",
        "state": "cause identified",
        "window": {"start": iso(T0 - 900), "end": iso(T0 + 900)},
        "impact": ["error ratio: 7% in the window vs 0.2% before"],
        "hypotheses": ranked,
        "remediations": {s["id"]: s for h in ranked for s in h["remediations"]},
        "runbooks": [],
        "unavailable": {"logs": "logs are not available: set LOKI_URL"},
        "timeline": timeline(ev, TARGET, T0 - 60),
        "actions": [],
        "narrative": "checkout broke.",
    }


def test_findings_and_postmortem_read_from_the_record():
    rec = record()
    text = findings_text(rec)
    assert (
        text.splitlines()[0] == "INC-1 · checkout (production) · severity high · cause identified"
    )
    assert (
        "[r1] Roll back checkout to the previous revision: `rollback checkout in production`"
        in text
    )
    assert "Not checked: logs are not available: set LOKI_URL" in text
    markdown = postmortem_markdown(rec)
    assert markdown.startswith("# Postmortem draft: checkout (production), INC-1")
    for heading in (
        "## Summary",
        "## Impact",
        "## Timeline (UTC)",
        "## Likely causes",
        "## Remediation",
    ):
        assert heading in markdown
    assert "No remediation was applied" in markdown


def test_an_applied_remediation_is_recorded_with_its_time():
    rec = record()
    at = datetime.fromtimestamp(T0 + 1000, UTC)
    plan = {"action": "rollback", "target": "deployment/checkout -n production"}
    outcome = {"status": "applied", "summary": "applied rollback of deployment/checkout"}
    updated = record_action(rec, plan, outcome, at)
    assert updated["state"] == "mitigation applied"
    assert updated["actions"] == [
        {
            "at": iso(T0 + 1000),
            "action": "rollback",
            "target": "deployment/checkout -n production",
            "status": "applied",
            "summary": "applied rollback of deployment/checkout",
        }
    ]
    assert updated["timeline"][-1]["text"] == "applied rollback of deployment/checkout"
    assert rec["actions"] == [], "the old record is not changed"
    assert "applied rollback of deployment/checkout" in postmortem_markdown(updated)


@pytest.mark.parametrize("rolled", ["applied", "failed"])
def test_a_remediation_is_one_action_whose_status_follows_its_rollout(rolled):
    plan = {"action": "rollback", "target": "deployment/checkout -n production"}
    applied = {"status": "applied", "summary": "applied rollback of checkout; rolling out"}
    at = datetime.fromtimestamp(T0 + 1000, UTC)
    rec = record_action(record(), plan, applied, at)
    final = {
        "status": rolled,
        "stage": "rolled_out",
        "summary": "applied rollback of checkout (rollout complete)"
        if rolled == "applied"
        else "applied rollback of checkout, but the rollout did not complete within 120 s",
    }
    later = datetime.fromtimestamp(T0 + 1060, UTC)
    updated = record_rollout(rec, plan, final, later)
    assert [(a["status"], a["summary"]) for a in updated["actions"]] == [(rolled, final["summary"])]
    assert updated["actions"][0]["at"] == iso(T0 + 1000), "when it was applied"
    assert [e["text"] for e in updated["timeline"][-2:]] == [applied["summary"], final["summary"]]
    expected = "mitigation applied" if rolled == "applied" else "mitigation did not roll out"
    assert updated["state"] == expected
    assert rec["actions"][0]["status"] == "applied", "the old record is not changed"


# ---------------------------------------------------------------------------- narrative


async def test_without_a_model_the_summary_is_deterministic():
    text, source = await narrative.write(None, record())
    assert source == "rules"
    assert text.startswith("checkout in production: severity high.")
    assert "Most likely cause: the rollout of reg/checkout:v2.4.1" in text


async def test_a_failing_model_leaves_the_deterministic_summary():
    class Broken:
        async def ainvoke(self, messages):
            raise TimeoutError("model timed out")

    text, source = await narrative.write(Broken(), record())
    assert source == "rules" and text == narrative.deterministic(record())


async def test_chatopenai_writes_the_summary_from_the_evidence_only():
    from workflow.classify.llm import build_openai_model

    with FakeOpenAI() as server:
        server.enqueue("Checkout errors rose to 7% two minutes after v2.4.1 rolled out.")
        model = build_openai_model("sk-test", base_url=server.base_url)
        text, source = await narrative.write(model, record())
        assert text == "Checkout errors rose to 7% two minutes after v2.4.1 rolled out."
        assert source == "llm:gpt-4o-mini"
        sent = server.requests[0].user_text()
        assert "error ratio rose from 0.2% to 7%" in sent, "the model sees the evidence"
        assert "sk-test" not in sent


# ---------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("2h", 120), ("30m", 30), ("90s", 1.5), ("7d", 10080), ("1w", 10080), (45, 45)],
)
def test_minutes_of(text, minutes):
    assert minutes_of(text) == minutes


@pytest.mark.parametrize("text", ["", "soon", "-5m", "0h", None, True])
def test_minutes_of_rejects(text):
    assert minutes_of(text) is None


def test_human_durations():
    assert [human_minutes(m) for m in (120, 90, 45, 0.5, 2880)] == [
        "2h",
        "1h30m",
        "45m",
        "30s",
        "2d",
    ]
    assert [ago(s) for s in (45, 150, 7200)] == ["45 s", "2.5 min", "2 h"]
    assert fmt_value(0.0712, "ratio") == "7.12%" and fmt_value(0.25, "s") == "250 ms"


def test_step_ids_continue_and_a_related_investigation_does_not_take_over():
    from workflow.incident import fold_related, next_step_number

    rec = record()
    assert sorted(rec["remediations"]) == ["r1"]
    assert next_step_number(rec) == 2
    group = {
        "count": 3,
        "example": 'level=error msg="upstream request failed" upstream=payments',
        "first_ts": iso(T0 + 60),
    }
    upstream = {**TARGET, "service": "payment-service"}
    ranked = hypotheses(
        evidence(logs={"groups": [group]}), upstream, OPS, first_step=next_step_number(rec)
    )
    related = {
        **upstream,
        "hypotheses": ranked,
        "remediations": {s["id"]: s for h in ranked for s in h["remediations"]},
        "timeline": [],
        "updated_at": iso(T0 + 900),
    }
    assert sorted(related["remediations"]) == ["r2"], "never r1 again in this thread"
    folded = fold_related(rec, related)
    assert folded["service"] == "checkout" and folded["id"] == "INC-1"
    assert folded["hypotheses"] == rec["hypotheses"]
    assert sorted(folded["remediations"]) == ["r1", "r2"]
    assert folded["related"][0]["service"] == "payment-service"
    assert folded["timeline"][-1]["text"].startswith("investigated payment-service in production")


def test_an_unexplained_change_is_still_reported_with_its_numbers():
    ev = evidence(
        metrics={"error_ratio": metric("error_ratio", "ratio", series(0.002, 0.07))},
        kubernetes={"history": HISTORY[:1], "status": {"pods": []}},
    )
    top = hypotheses(ev, TARGET, OPS)[0]
    assert top["kind"] == "unknown"
    clock = datetime.fromtimestamp(T0 + 120, UTC).strftime("%H:%M:%S")
    assert top["evidence"] == [f"error ratio rose from 0.2% to 7% at {clock} UTC"]
