"""Every result part kind as Slack shows it (against MockSlack), and a plan's files on its
approval card and uploaded in the thread."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, results
from tests.slack.harness import BOT_TOKEN, CHANNEL, text_of
from workflow import parts
from workflow.plan import Plan

ROOT = "1700000000.000001"
PNG = b"\x89PNG\r\n\x1a\n"


def _report(status: str, shown: list[dict[str, Any]] | None = None, approval=None):
    return SimpleNamespace(
        status=status,
        thread_id="slack:T1:C1:" + ROOT,
        interrupt_id="i1",
        result={"parts": shown or []},
        approval=approval,
        summary="s",
    )


async def _publish(slack, report) -> str | None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.url + "/api/")
    return await results.publish(
        client,
        channel=CHANNEL,
        thread_ts=ROOT,
        thread_id=report.thread_id,
        report=report,
        incident=None,
    )


def _posted(slack) -> list[dict[str, Any]]:
    return slack.of("chat.postMessage")


def _metric() -> dict[str, Any]:
    return {
        "name": "latency_p99",
        "title": "p99 latency of checkout (production)",
        "promql": "histogram_quantile(0.99, x)",
        "unit": "s",
        "start": 1700000000.0,
        "end": 1700000600.0,
        "step": "60s",
        "series": [
            {
                "labels": {},
                "points": [[1700000000.0 + 60 * i, 0.1 * i] for i in range(10)],
                "summary": {"no_data": False, "current": 0.9},
            }
        ],
        "summary": {"no_data": False, "current": 0.9},
    }


def test_every_kind_has_one_slack_renderer():
    assert set(results.RENDERERS) == set(parts.KINDS)


async def test_text_part_is_escaped(slack):
    await _publish(slack, _report("done", [parts.text("ping <!channel> & <http://x|y>")]))
    (said,) = _posted(slack)
    assert said["thread_ts"] == ROOT
    assert said["text"] == "ping &lt;!channel&gt; &amp; &lt;http://x|y&gt;"


async def test_table_part_is_an_aligned_code_block(slack):
    table = parts.table("Pods of web", ["pod", "phase"], [["web-1", "Running"], ["w-2", "<x>"]])
    await _publish(slack, _report("done", [table]))
    (said,) = _posted(slack)
    assert said["text"].startswith("*Pods of web*\n```")
    lines = said["text"].split("```")[1].splitlines()
    assert lines == ["pod    phase", "web-1  Running", "w-2    &lt;x&gt;"]


async def test_a_long_table_is_split_within_slack_limits(slack):
    rows = [[f"pod-{i}", "x" * 55] for i in range(parts.MAX_TABLE_ROWS + 5)]
    await _publish(slack, _report("done", [parts.table("Pods", ["pod", "note"], rows)]))
    said = _posted(slack)
    assert len(said) > 1 and all(len(p["text"]) < 4000 for p in said)
    assert "(part 1 of" in said[0]["text"] and "5 more row(s)" in said[-1]["text"]


async def test_file_part_is_uploaded_in_the_thread(slack):
    part = parts.file("ci/pipeline.yaml", "steps:\n  - build\n", note="Pipeline for <web>")
    await _publish(slack, _report("done", [part]))
    (shared,) = slack.files
    assert shared["name"] == "ci_pipeline.yaml" and shared["title"] == "ci/pipeline.yaml"
    assert shared["content"] == b"steps:\n  - build\n"
    assert shared["thread_ts"] == ROOT and shared["channel_id"] == CHANNEL
    assert shared["initial_comment"] == ":memo: Pipeline for &lt;web&gt;"


async def test_a_file_that_cannot_be_uploaded_is_posted_as_text(slack):
    slack.errors["files.getUploadURLExternal"] = "missing_scope"
    await _publish(slack, _report("done", [parts.file("m.sql", "select 1;\n")]))
    note, body = _posted(slack)
    assert "couldn't upload `m.sql`" in note["text"] and "files:write" in note["text"]
    assert body["text"] == "*m.sql*\n```select 1;```"


async def test_chart_part_is_a_png_upload(slack):
    await _publish(slack, _report("done", [parts.chart(_metric())]))
    (shared,) = slack.files
    assert shared["name"] == "latency_p99.png" and shared["content"].startswith(PNG)
    assert shared["title"] == "p99 latency of checkout (production)"


async def test_findings_part_posts_buttons_and_returns_its_ts(slack):
    record = {
        "id": "INC-1",
        "service": "checkout",
        "environment": "production",
        "state": "cause identified",
        "hypotheses": [],
        "remediations": {},
        "unavailable": {},
        "runbooks": [],
    }
    ts = await _publish(slack, _report("done", [parts.findings(record)]))
    (said,) = _posted(slack)
    assert ts == slack.calls[-1].response["ts"]
    assert any(b["type"] == "actions" for b in said["blocks"])
    assert "INC-1" in said["text"]


async def test_preview_part_is_a_code_block(slack):
    await _publish(slack, _report("done", [parts.preview("- image: a\n+ image: b")]))
    (said,) = _posted(slack)
    assert said["text"] == "*Dry-run preview*\n```- image: a\n+ image: b```"


async def test_unknown_kinds_and_unfinished_runs_show_nothing(slack):
    assert await _publish(slack, _report("done", [{"kind": "hologram"}])) is None
    assert await _publish(slack, _report("failed", [parts.text("x")])) is None
    assert slack.calls == []


# -- a plan's files ------------------------------------------------------------------------


def _approval(files: list[dict[str, Any]]) -> dict[str, Any]:
    plan = Plan(action="deploy", kind="Pipeline", name="web", preview="+ pipeline", files=files)
    data = plan.with_hash().model_dump(mode="json")
    return {
        "id": "apr-1",
        "action": "deploy",
        "target": "pipeline/web",
        "plan_hash": data["plan_hash"],
        "preview": data["preview"],
        "files": data["files"],
        "votes": [],
        "min_approvals": 1,
    }


LONG = "\n".join(f"line {n}" for n in range(1, 61))


async def test_a_plan_with_files_shows_them_on_the_card_and_uploads_them_whole(slack):
    approval = _approval(
        [{"path": "ci/pipeline.yaml", "content": LONG}, {"path": "db/001.sql", "content": "x;"}]
    )
    report = _report("awaiting_approval", approval=approval)
    card = blocks.approval_card(report, status_ts=ROOT)
    text = text_of(card)
    assert "*File* `ci/pipeline.yaml` (60 lines; the whole file is in the thread)" in text
    assert "line 20\n… 40 more line(s)" in text and "line 21" not in text
    assert "*File* `db/001.sql` (1 lines" in text and "x;" in text
    assert len(card) < 50 and all(len(json.dumps(b)) < 3500 for b in card)

    assert await _publish(slack, report) is None
    assert [f["name"] for f in slack.files] == ["ci_pipeline.yaml", "db_001.sql"]
    assert slack.files[0]["content"].decode() == LONG, "the exact artifact, in full"
    assert _posted(slack) == []


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", "C:\\x"])
def test_a_plan_file_outside_its_folder_is_refused(path):
    with pytest.raises(ValueError, match="not a relative path"):
        Plan(action="deploy", kind="Pipeline", name="web", files=[{"path": path, "content": ""}])


def test_files_change_the_plan_hash_and_plans_without_files_keep_theirs():
    bare = Plan(action="deploy", kind="Deployment", name="web").with_hash()
    one = Plan(
        action="deploy", kind="Deployment", name="web", files=[{"path": "a", "content": "1"}]
    ).with_hash()
    other = Plan(
        action="deploy", kind="Deployment", name="web", files=[{"path": "a", "content": "2"}]
    ).with_hash()
    assert len({bare.plan_hash, one.plan_hash, other.plan_hash}) == 3
    # the hash of a plan without files is what it was before plans carried files
    material = {
        "action": "deploy",
        "body": None,
        "kind": "Deployment",
        "name": "web",
        "namespace": None,
        "patch": None,
        "resource_version": None,
    }
    import hashlib

    blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
    assert bare.plan_hash == "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_a_file_over_the_cap_is_refused_clearly():
    with pytest.raises(parts.PartError, match="capped at"):
        parts.file("big.txt", "x" * (parts.MAX_FILE_BYTES + 1))
