"""The approval card stays inside Slack's Block Kit limits whatever the plan looks like."""

from __future__ import annotations

import json
from types import SimpleNamespace

from bot import blocks


def _request(preview: str, **extra) -> dict:
    return {
        "id": "apr-1",
        "action": "deploy",
        "target": "deployment/api-server -n production",
        "environment": "production",
        "namespace": "production",
        "requester": "U1",
        "risk_tags": ["production"],
        "reasons": ["every write in production needs approval"],
        "preview": preview,
        "plan_hash": "sha256:abc",
        "required_approvers": {"users": ["U1", "U2"], "groups": ["S0SRE"]},
        "min_approvals": 2,
        "allow_self_approval": False,
        "expires_at": "2030-01-01T00:00:00+00:00",
        "votes": [{"user": "U2", "decision": "approve"}],
        **extra,
    }


def _texts(block_list):
    for b in block_list:
        if isinstance(b.get("text"), dict):
            yield b["type"], b["text"]["text"]
        for f in b.get("fields", []):
            yield "field", f["text"]


def test_a_huge_preview_is_cut_at_a_line_and_says_how_much_is_left():
    preview = "\n".join(f"+ line {i:05d} " + "x" * 60 for i in range(500))
    report = SimpleNamespace(
        thread_id="slack:T1:C1:1.2", interrupt_id="i" * 32, approval=_request(preview)
    )
    card = blocks.approval_card(report, status_ts="1.2")
    for kind, text in _texts(card):
        assert len(text) <= (150 if kind == "header" else 3000), kind
    shown = next(t for _, t in _texts(card) if t.startswith("*Dry-run preview*"))
    assert "+ line 00000" in shown and "more line(s)" in shown
    assert shown.rstrip("`").splitlines()[-2].startswith("+ line "), "cut at a line boundary"
    buttons = [e for b in card if b["type"] == "actions" for e in b["elements"]]
    assert [b.get("style") for b in buttons] == ["primary", "danger", None]
    assert buttons[2]["action_id"] == "approval_full_preview", "the cut preview has a button"
    for button in buttons:
        assert len(button["value"]) <= 2000
        assert json.loads(button["value"]) == {
            "thread_id": "slack:T1:C1:1.2",
            "interrupt_id": "i" * 32,
            "approval_id": "apr-1",
            "status_ts": "1.2",
        }
    assert "1 of 2: <@U2>" in "\n".join(t for _, t in _texts(card))


def test_fences_in_a_preview_cannot_break_out_of_the_code_block():
    assert "```" not in blocks.truncate_preview("a\n```\nb")


def test_closed_card_has_no_buttons_and_says_who_decided():
    approval = _request(
        "x", status="rejected", decided_by="U2", decided_at="2030-01-01T00:00:00+00:00",
        reason="wrong tag",
    )  # fmt: skip
    card = blocks.closed_card(approval, "rejected", "slack:T1:C1:1.2")
    assert not any(b["type"] == "actions" for b in card)
    text = "\n".join(t for _, t in _texts(card))
    assert "Rejected by <@U2>" in text and "wrong tag" in text


def test_button_values_that_are_not_ours_are_ignored():
    assert blocks.parse_button_value("not json") is None
    assert blocks.parse_button_value('{"thread_id": "x"}') is None
    assert blocks.parse_button_value(None) is None


def test_a_short_preview_has_no_full_preview_button():
    report = SimpleNamespace(thread_id="t", interrupt_id="i", approval=_request("+ a\n- b"))
    card = blocks.approval_card(report, status_ts="1.2")
    ids = [e["action_id"] for b in card if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["approval_approve", "approval_reject"]
    small = blocks.approval_card(report, status_ts="1.2", preview_limit=4)
    ids = [e["action_id"] for b in small if b["type"] == "actions" for e in b["elements"]]
    assert ids[-1] == "approval_full_preview"


def test_full_preview_chunks_keep_every_line_and_respect_the_limit():
    preview = "\n".join(f"+ line {i:05d} " + "x" * 60 for i in range(500)) + "\n```\n"
    chunks = blocks.preview_chunks(preview, limit=3500)
    assert len(chunks) > 1 and all(len(c) <= 3500 for c in chunks)
    joined = "\n".join(chunks)
    assert joined.count("+ line ") == 500 and "```" not in joined
    assert blocks.preview_chunks("y" * 8000, limit=3500) == ["y" * 3500, "y" * 3500, "y" * 1000]


def _incident(steps: int, *, long: bool = False) -> dict:
    big = "x" * (5000 if long else 20)
    remediations = {
        f"r{n}": {
            "id": f"r{n}",
            "label": f"Roll back service-{n} to the previous revision " + big,
            "task_type": "kubernetes",
            "context": {"service": f"service-{n}", "action": "rollback"},
            "command": f"rollback service-{n} in production " + big,
            "writes": n % 2 == 1,
        }
        for n in range(1, steps + 1)
    }
    return {
        "id": "INC-20261127-60b3",
        "service": "checkout",
        "environment": "production",
        "severity": "high",
        "state": "cause identified",
        "narrative": "checkout is failing " + big,
        "hypotheses": [
            {
                "rank": n,
                "kind": "rollout",
                "title": f"cause {n} " + big,
                "score": 0.9 / n,
                "evidence": [f"evidence {i} " + big for i in range(10)],
                "remediations": [],
            }
            for n in range(1, 12)
        ],
        "remediations": remediations,
        "runbooks": [
            {"title": f"runbook {n}", "path_or_url": f"https://wiki.example.com/{n}"}
            for n in range(20)
        ],
        "unavailable": {f"source{n}": "not configured " + big for n in range(5)},
    }


def test_incident_findings_stay_inside_block_kit_limits_however_big():
    for steps, long in (
        (0, False),
        (3, False),
        (24, False),
        (25, True),
        (400, True),
        (1200, False),
    ):
        record = _incident(steps, long=long)
        found = blocks.incident_findings(record, "slack:T1:C1:1.2")
        assert len(found) <= 50, steps
        for kind, text in _texts(found):
            assert len(text) <= 3000, (steps, kind)
        for b in found:
            for element in b.get("elements", []):
                if isinstance(element.get("text"), str):
                    assert len(element["text"]) <= 3000
        actions = [b for b in found if b["type"] == "actions"]
        buttons = [e for b in actions for e in b["elements"]]
        assert all(len(b["elements"]) <= 25 for b in actions)
        assert len({b["block_id"] for b in actions}) == len(actions)
        assert buttons[-1]["action_id"] == "incident_postmortem", "always offered"
        steps_shown = [e for e in buttons if e["action_id"] == "incident_remediate"]
        assert len(steps_shown) == min(steps, 25 * len(actions) - 1)
        for e in buttons:
            assert len(e["text"]["text"]) <= 75 and len(e["value"]) <= 2000
            if "confirm" in e:
                assert len(e["confirm"]["text"]["text"]) <= 300
        assert (
            found[-1]["type"] == "context"
            and "INC-20261127-60b3" in found[-1]["elements"][0]["text"]
        )


def test_incident_findings_buttons_carry_the_thread_and_step():
    found = blocks.incident_findings(_incident(2), "slack:T1:C1:1.2")
    buttons = [e for b in found if b["type"] == "actions" for e in b["elements"]]
    values = [blocks.parse_incident_value(e["value"]) for e in buttons]
    steps = _incident(2)["remediations"]
    sig = {k: blocks.step_signature(step) for k, step in steps.items()}
    assert values == [
        {"thread_id": "slack:T1:C1:1.2", "step": "r1", "sig": sig["r1"]},
        {"thread_id": "slack:T1:C1:1.2", "step": "r2", "sig": sig["r2"]},
        {"thread_id": "slack:T1:C1:1.2"},
    ]
    other = {**steps["r1"], "command": "rollback payment-service in production"}
    assert blocks.step_signature(other) != values[0]["sig"]
    assert "confirm" in buttons[0] and "confirm" not in buttons[1], "only writes ask first"
    text = "\n".join(t for _, t in _texts(found))
    assert "<https://wiki.example.com/0|runbook 0>" in text
    assert "(change, goes through approval)" in text and "(read only)" in text
    assert blocks.parse_incident_value("nope") is None
    assert blocks.parse_incident_value('{"step": "r1"}') is None
    assert blocks.parse_button_value(buttons[0]["value"]) is None, "not an approval button"


def test_outside_text_cannot_ping_or_link_anyone():
    """Log lines, alert text and model summaries are shown literally, never as Slack markup."""
    from types import SimpleNamespace

    from bot import messages
    from bot.blocks import incident_findings

    hostile = 'level=error msg="<!channel> see <http://evil.example|docs> & <@U999>"'
    record = {
        "id": "INC-1",
        "service": "checkout",
        "environment": "production",
        "severity": "high",
        "state": "cause identified",
        "narrative": "<!here> it broke",
        "hypotheses": [
            {"rank": 1, "title": "a <b>", "score": 0.5, "evidence": [hostile], "kind": "x"}
        ],
        "remediations": {},
        "runbooks": [{"title": "<!everyone>", "path_or_url": "/tmp/r.md"}],
        "unavailable": {"web": "<!channel> off"},
    }
    shown = json.dumps(incident_findings(record, "slack:T:C:1"))
    for markup in ("<!channel>", "<!here>", "<!everyone>", "<http://evil", "<@U999>"):
        assert markup not in shown, markup
    assert "&lt;!channel&gt; see &lt;http://evil.example|docs&gt; &amp; &lt;@U999&gt;" in shown
    report = SimpleNamespace(status="done", summary=hostile)
    assert "<!channel>" not in messages.result_line(report)


def test_the_result_line_says_the_agents_warnings_escaped_and_bounded():
    from bot import messages

    report = SimpleNamespace(
        status="awaiting_approval",
        summary="deploy deployment/api-server -n production is waiting for approval",
        result={"warnings": ["not used: change_ticket= (<!here>)", *[f"w{i}" for i in range(6)]]},
    )
    line = messages.result_line(report)
    first, *notes = line.splitlines()
    assert first.endswith("The approval card is in this thread.")
    assert notes[0] == "_Note:_ not used: change_ticket= (&lt;!here&gt;)"
    assert len(notes) == messages.RESULT_NOTES_MAX + 1 and notes[-1] == "_… and 2 more notes_"
    quiet = SimpleNamespace(status="done", summary="ok", result={"warnings": []})
    assert messages.result_line(quiet) == "*Done*: ok"
