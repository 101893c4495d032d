"""Incident threads over real HTTP: investigation header, findings, remediation clicks, charts
and postmortem uploads (files_upload_v2 against MockSlack), on the sandbox cluster, Prometheus
and Alertmanager (checkout in production was just rolled out to a bad image)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.slack.harness import CHANNEL, TEAM, text_of, two_replicas

INVESTIGATE = "investigate checkout latency in prod"
BAD = "registry.example.com/checkout:v2.4.1"
GOOD = "registry.example.com/checkout:v2.4.0"
PNG = b"\x89PNG\r\n\x1a\n"


def _buttons(message: dict) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def _button(message: dict, action_id: str, step: str | None = None) -> dict:
    return next(
        e
        for e in _buttons(message)
        if e["action_id"] == action_id and (step is None or json.loads(e["value"])["step"] == step)
    )


async def _investigate(bot, user: str = "U1") -> tuple[dict, dict]:
    """/devops investigate: (root status message, findings message)."""
    status, body = await bot.send.command(INVESTIGATE, user=user)
    assert (status, body) == (200, "")
    findings = (await bot.slack.wait_for(bot.findings, timeout=30))[0]
    await bot.runtime.drain()
    return bot.posted()[0], findings


async def _click(
    bot, message: dict, action_id: str, *, user: str, step: str | None = None, value: str = ""
):
    """Click an incident button (`message` is the recorded chat.postMessage args)."""
    value = value or _button(message, action_id, step)["value"]
    return await bot.send.click(message, action_id, user=user, value=value)


async def test_investigation_header_evidence_and_findings(bot):
    bot.runtime.update_interval = 0.0  # no coalescing: every piece of evidence shows at once
    root, findings = await _investigate(bot)
    assert "thread_ts" not in root, "the status message starts the thread"
    first = root["text"].splitlines()
    assert first[0].startswith(":rotating_light: INC-")
    assert first[0].endswith("· checkout (production) · severity not yet known · investigating")
    assert first[1].startswith("<@U1> asked: `investigate checkout latency in prod`")
    incident_id = first[0].split()[1]

    updates = [u["text"] for u in bot.updates_of(root["ts"])]
    seen = [text.count("• evidence from ") for text in updates]
    assert {1, 2, 3, 4} <= set(seen), "the header grows one line per evidence source"
    assert all(t.startswith(f":rotating_light: {incident_id} ") for t in updates)
    final = updates[-1]
    header = final.splitlines()[0]
    assert header.startswith(f":rotating_light: {incident_id} · checkout (production) · severity ")
    assert header.endswith("· cause identified")
    for source in ("kubernetes", "alerts", "logs", "metrics"):
        assert f"• evidence from {source}: " in final
    assert "*Cause identified*: the rollout of " + BAD in final

    assert findings["thread_ts"] == root["ts"] and findings["channel"] == CHANNEL
    text = text_of(findings["blocks"])
    assert incident_id in text and "cause identified" in text
    assert "1. the rollout of " + BAD in text and "confidence 0.9" in text
    assert "Runbooks" in text and "Not checked: web search is not configured" in text
    assert "SANDBOX (simulated cluster, metrics and alerts)" in text
    thread_id = f"slack:{TEAM}:{CHANNEL}:{root['ts']}"
    rollback = _button(findings, "incident_remediate", "r1")
    assert rollback["text"]["text"] == "Roll back checkout to the previous revision"
    value = json.loads(rollback["value"])
    assert value["thread_id"] == thread_id and value["step"] == "r1" and len(value["sig"]) == 16
    assert "approval policy" in rollback["confirm"]["text"]["text"], "a write asks first"
    reads = [e for e in _buttons(findings) if e["action_id"] == "incident_remediate"]
    assert any("confirm" not in e for e in reads), "a read-only step runs without a dialog"
    postmortem = _button(findings, "incident_postmortem")
    assert json.loads(postmortem["value"]) == {"thread_id": thread_id}
    assert bot.deployment("checkout", "production")["image"] == BAD, "investigating only reads"


async def test_metrics_question_uploads_a_png_chart_in_the_thread(bot):
    await bot.send.command("p99 latency of checkout in prod", user="U1")
    shared = await bot.slack.wait_for(lambda: bot.slack.files, timeout=30)
    await bot.runtime.drain()
    root = bot.posted()[0]
    methods = [
        c.method for c in bot.slack.calls if c.method.startswith("files.") or c.method == "upload"
    ]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    asked = bot.slack.of("files.getUploadURLExternal")[0]
    assert asked["filename"] == "latency_p99.png" and int(asked["length"]) > 1000
    assert len(shared) == 1
    chart = shared[0]
    assert chart["content"].startswith(PNG) and len(chart["content"]) == int(asked["length"])
    assert chart["channel_id"] == CHANNEL and chart["thread_ts"] == root["ts"]
    assert chart["title"] == "p99 latency of checkout (production)"
    final = bot.updates_of(root["ts"])[-1]["text"]
    assert "*Done*: checkout (production)" in final and "p99 latency: current" in final


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_rollback_button_leads_to_an_approval_card_and_mitigation(bot):
    root, findings = await _investigate(bot)
    incident_id = root["text"].split()[1]
    await _click(bot, findings, "incident_remediate", user="U1", step="r1")
    card = await bot.wait_card()
    await bot.runtime.drain()
    assert card["thread_ts"] == root["ts"]
    status = [p for p in bot.posted() if "(remediation r1" in p["text"]]
    assert len(status) == 1 and status[0]["thread_ts"] == root["ts"]
    assert status[0]["text"].startswith(
        f"<@U1> asked: `rollback checkout in production` (remediation r1 of {incident_id})"
    )
    text = text_of(card["blocks"])
    assert "Approval required: rollback" in text and "Requested by*\n<@U1>" in text
    assert bot.deployment("checkout", "production")["image"] == BAD

    # The clicker asked for it: in production they cannot approve it themselves.
    await bot.send.click(card, "approval_approve", user="U1")
    refusal = await bot.slack.wait_for(lambda: bot.ephemerals_to("U1"))
    assert "self-approval is not allowed" in refusal[0]["text"]
    await bot.runtime.drain()
    assert bot.deployment("checkout", "production")["image"] == BAD

    await bot.send.click(card, "approval_approve", user="U2")
    await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p["text"].startswith("*Applied*")], timeout=30
    )
    await bot.runtime.drain()
    assert bot.deployment("checkout", "production")["image"] == GOOD
    header = bot.updates_of(root["ts"])[-1]["text"]
    assert header.splitlines()[0].endswith("· mitigation applied")
    assert header.splitlines()[0].startswith(f":rotating_light: {incident_id} · checkout")
    assert "• evidence from alerts: " in header, "the investigation's lines stay"
    assert "*Mitigation applied*: " in header
    closed = bot.updates_of(status[0]["ts"])[-1]["text"]
    assert closed.startswith("<@U1> asked: `rollback checkout in production` (remediation r1")


@pytest.mark.parametrize("bot", ["sqlite", "redis"], indirect=True)
async def test_a_double_click_on_a_remediation_starts_one_run(bot):
    _, findings = await _investigate(bot)
    results = await asyncio.gather(
        _click(bot, findings, "incident_remediate", user="U1", step="r1"),
        _click(bot, findings, "incident_remediate", user="U3", step="r1"),
    )
    assert [r for r in results] == [(200, ""), (200, "")]
    await bot.wait_card()
    await bot.runtime.drain()
    assert len(bot.cards()) == 1
    assert len([p for p in bot.posted() if "(remediation r1" in p["text"]]) == 1
    told = bot.ephemerals_to("U1") + bot.ephemerals_to("U3")
    assert len(told) == 1 and "already started" in told[0]["text"]
    assert "`rollback checkout in production`" in told[0]["text"]


async def test_two_replicas_one_remediation_click_each_start_one_run(
    tmp_path, key_prefix, redis_url
):
    async with two_replicas(tmp_path, redis_url=redis_url, key_prefix=key_prefix) as (a, b):
        _, findings = await _investigate(a)
        await asyncio.gather(
            _click(a, findings, "incident_remediate", user="U1", step="r1"),
            _click(b, findings, "incident_remediate", user="U3", step="r1"),
        )
        await a.wait_card()
        await asyncio.gather(a.runtime.drain(), b.runtime.drain())
        assert len(a.cards()) == 1
        assert len([p for p in a.posted() if "(remediation r1" in p["text"]]) == 1
        told = a.ephemerals_to("U1") + a.ephemerals_to("U3")
        assert len(told) == 1 and "already started" in told[0]["text"]


async def test_stale_and_blocked_remediation_clicks_are_told_privately(bot):
    root, findings = await _investigate(bot)
    thread_id = f"slack:{TEAM}:{CHANNEL}:{root['ts']}"
    posted = len(bot.posted())

    await _click(
        bot,
        findings,
        "incident_remediate",
        user="U2",
        value=json.dumps({"thread_id": thread_id, "step": "r9"}),
    )
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U2"))
    assert "no longer offers remediation `r9`" in told[0]["text"]
    assert told[0]["thread_ts"] == root["ts"]

    # r1 under the same id but another command (a later investigation replaced the steps).
    changed = {
        **json.loads(_button(findings, "incident_remediate", "r1")["value"]),
        "sig": "0" * 16,
    }
    await _click(bot, findings, "incident_remediate", user="U5", value=json.dumps(changed))
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U5"))
    assert "no longer offers remediation `r1` as shown on this button" in told[0]["text"]

    unknown = json.dumps({"thread_id": f"slack:{TEAM}:{CHANNEL}:1.000001", "step": "r1"})
    await _click(bot, findings, "incident_remediate", user="U3", value=unknown)
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U3"))
    assert "does not belong to this request" in told[0]["text"], "not its message's thread"
    await bot.runtime.drain()
    assert len(bot.posted()) == posted, "nothing was started"

    # While r1 waits for approval, r2 (another write) cannot start in the same thread.
    await _click(bot, findings, "incident_remediate", user="U1", step="r1")
    await bot.wait_card()
    await _click(bot, findings, "incident_remediate", user="U4", step="r2")
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U4"))
    assert "is waiting for approval" in told[0]["text"] and "nothing was started" in told[0]["text"]
    await bot.runtime.drain()
    assert len(bot.cards()) == 1


async def test_a_related_investigation_keeps_the_incident_and_its_buttons(bot):
    """r3 investigates payment-service in the same thread: its findings get new step ids, the
    thread's incident stays about checkout, and the first findings' r1 still means "roll back
    checkout" (a step id is never reused in a thread)."""
    root, findings = await _investigate(bot)
    await _click(bot, findings, "incident_remediate", user="U2", step="r3")
    later = (await bot.slack.wait_for(lambda: len(bot.findings()) == 2 and bot.findings()))[1]
    await bot.runtime.drain()
    assert later["thread_ts"] == root["ts"]
    assert "payment-service (production)" in text_of(later["blocks"])
    assert bot.cards() == [], "reading needs no approval"
    later_steps = {
        json.loads(e["value"])["step"]
        for b in later["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == "incident_remediate"
    }
    assert not later_steps & {"r1", "r2", "r3"}, later_steps
    thread_id = json.loads(_button(findings, "incident_remediate", "r1")["value"])["thread_id"]
    incident = (await bot.runtime.service.state_of(thread_id))["incident"]
    assert incident["service"] == "checkout" and incident["related"][0]["service"] == (
        "payment-service"
    )

    await _click(bot, findings, "incident_remediate", user="U2", step="r1")
    card = await bot.wait_card()
    assert "rollback" in card["text"] and "checkout" in card["text"]
    assert bot.deployment("checkout", "production")["image"] == BAD, "it waits for approval"


async def test_postmortem_button_and_typed_postmortem_upload_markdown(bot):
    root, findings = await _investigate(bot)
    incident_id = root["text"].split()[1]
    await _click(bot, findings, "incident_postmortem", user="U2")
    shared = await bot.slack.wait_for(lambda: bot.slack.files)
    draft = shared[0]
    assert draft["name"] == f"{incident_id}-postmortem.md"
    assert draft["thread_ts"] == root["ts"] and draft["channel_id"] == CHANNEL
    markdown = draft["content"].decode()
    assert markdown.startswith(f"# Postmortem draft: checkout (production), {incident_id}")
    assert BAD in markdown
    assert "<@U2>" in draft["initial_comment"]

    # A plain reply in the thread: classified as the incident's postmortem action.
    await bot.send.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "U1",
            "text": "postmortem",
            "ts": "1700000999.000001",
            "thread_ts": root["ts"],
            "channel_type": "channel",
        },
        event_id="Ev-postmortem",
    )
    shared = await bot.slack.wait_for(lambda: len(bot.slack.files) == 2 and bot.slack.files)
    await bot.runtime.drain()
    typed = shared[1]
    assert typed["name"] == f"{incident_id}-postmortem.md" and typed["thread_ts"] == root["ts"]
    assert typed["content"].decode().startswith("# Postmortem draft: checkout (production)")


async def test_a_postmortem_button_on_a_message_without_findings_is_refused(bot):
    """Only the findings message the bot posted carries incident buttons that work."""
    await bot.send.command("p99 latency of checkout in prod", user="U1")
    await bot.slack.wait_for(lambda: bot.slack.files, timeout=30)
    await bot.runtime.drain()
    root = bot.posted()[0]
    thread_id = f"slack:{TEAM}:{CHANNEL}:{root['ts']}"
    message = {
        **root,
        "blocks": [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "incident_postmortem",
                        "value": json.dumps({"thread_id": thread_id}),
                    }
                ],
            }
        ],
    }
    await bot.send.click(message, "incident_postmortem", user="U2")
    told = await bot.slack.wait_for(lambda: bot.ephemerals_to("U2"))
    assert "does not belong to this request" in told[0]["text"]
    assert len(bot.slack.files) == 1, "only the chart"


async def test_upload_failures_fall_back_to_text(bot):
    bot.slack.errors["files.getUploadURLExternal"] = "missing_scope"
    await bot.send.command("p99 latency of checkout in prod", user="U1")
    note = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if "couldn't upload the chart" in p["text"]], timeout=30
    )
    root = bot.posted()[0]
    assert note[0]["thread_ts"] == root["ts"]
    assert "p99 latency of checkout (production)" in note[0]["text"]
    assert "files:write" in note[0]["text"]
    await bot.runtime.drain()
    assert "*Done*: checkout (production)" in bot.updates_of(root["ts"])[-1]["text"]

    # The upload URL answers 500: slack_sdk raises before files.completeUploadExternal.
    bot.slack.errors = {"upload": "upstream down"}
    bot.slack.calls.clear()
    await bot.send.command("p99 latency of checkout in prod", user="U1")
    note = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if "couldn't upload the chart" in p["text"]], timeout=30
    )
    assert "SlackRequestError" in note[0]["text"]
    assert not bot.slack.of("files.completeUploadExternal")
    await bot.runtime.drain()

    bot.slack.errors = {"files.getUploadURLExternal": "missing_scope"}
    bot.slack.calls.clear()
    _, findings = await _investigate(bot)
    root = bot.posted()[0]
    incident_id = root["text"].split()[1]
    await _click(bot, findings, "incident_postmortem", user="U2")
    parts = await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p["text"].startswith("*Postmortem draft for")]
    )
    await bot.runtime.drain()
    parts = [p for p in bot.posted() if p["text"].startswith("*Postmortem draft for")]
    said = [p for p in bot.posted() if "couldn't upload the postmortem draft" in p["text"]]
    assert len(said) == 1 and said[0]["thread_ts"] == root["ts"]
    text = "\n".join(p["text"] for p in parts)
    assert f"# Postmortem draft: checkout (production), {incident_id}" in text
    assert all(p["text"].count("```") == 2 for p in parts)
    assert bot.slack.files == []
    assert bot.runtime.busy == 0


async def test_silence_button_plans_a_silence_that_waits_for_approval(bot):
    _, findings = await _investigate(bot)
    silence = next(
        json.loads(e["value"])["step"]
        for b in findings["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == "incident_remediate" and "Silence" in e["text"]["text"]
    )
    await _click(bot, findings, "incident_remediate", user="U1", step=silence)
    card = await bot.wait_card()
    text = text_of(card["blocks"])
    assert "Approval required: silence" in text and "for 1h" in text, text
    alertmanager = bot.runtime.service.deps.alertmanager
    name = "HighErrorRate"
    assert not await alertmanager.silences(filters={"alertname": name})
    await bot.send.click(card, "approval_approve", user="U2")
    await bot.slack.wait_for(
        lambda: [p for p in bot.posted() if p["text"].startswith("*Applied*")], timeout=30
    )
    await bot.runtime.drain()
    made = await alertmanager.silences(filters={"alertname": name})
    assert [s["status"]["state"] for s in made] == ["active"]
    assert made[0]["createdBy"] == "devops-bot/U1"
