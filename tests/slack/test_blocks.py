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
