"""An OpenAPI document uploaded in Slack with an API request, over real HTTP: the fake Slack
describes it (files.info) and serves its bytes at url_private_download to the bot token only;
the bot reads it, and the run uses it instead of the catalog's document."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import yaml

from tests.api_services import BROKEN
from tests.slack.harness import BOT_TOKEN, CHANNEL, TEAM
from workflow.agents.codegen_agent.sandbox_api import orders_document

ROOT = "1699999999.000001"


def _mention(text: str, ts: str, files: list[dict], thread_ts: str | None = None) -> dict:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        "team": TEAM,
        "files": files,
        "upload": True,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def _said(bot) -> str:
    """Everything the bot posted or updated in the channel."""
    return "\n".join(
        str(c.args.get("text") or "")
        for c in bot.slack.calls
        if c.method in ("chat.postMessage", "chat.update")
    )


def _yaml_file(bot, document: dict, name: str = "openapi.yaml") -> dict:
    content = yaml.safe_dump(document).encode()
    return bot.slack.share_file(name, content, mimetype="application/x-yaml", filetype="yaml")


async def _private(bot, fragment: str) -> str:
    found = await bot.slack.wait_for(
        lambda: [e["text"] for e in bot.ephemerals_to("U1") if fragment in e["text"]], timeout=20
    )
    return found[0]


async def test_a_client_is_generated_from_an_uploaded_document_and_a_reply_compares_the_next(
    bot, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    shared = _yaml_file(bot, orders_document(version="7.7.7"))
    status, _ = await bot.send.event(
        _mention("generate a python client from this", ROOT, [shared]), event_id="Ev1"
    )
    assert status == 200
    uploads = await bot.slack.wait_for(
        lambda: [u for u in bot.slack.uploads.values() if u["data"] is not None], timeout=60
    )
    (upload,) = uploads
    assert upload["filename"] == "checkout_client.zip"
    names = zipfile.ZipFile(io.BytesIO(upload["data"])).namelist()
    assert "checkout_client/api/default/list_orders.py" in names
    (download,) = [c for c in bot.slack.calls if c.method == "download"]
    assert download.token == BOT_TOKEN and download.args["file_id"] == shared["id"]
    await bot.slack.wait_for(lambda: "Checkout API 7.7.7" in _said(bot), timeout=20)

    # A reply in the thread with the next version (a message with subtype file_share): it is
    # compared with the document the client was made from.
    newer = orders_document(version="8.0.0")
    del newer["paths"]["/orders/{order_id}"]
    reply = {
        "type": "message",
        "subtype": "file_share",
        "user": "U1",
        "text": "is this spec breaking?",
        "ts": "1699999999.000009",
        "thread_ts": ROOT,
        "channel": CHANNEL,
        "team": TEAM,
        "files": [_yaml_file(bot, newer)],
    }
    await bot.send.event(reply, event_id="Ev2")
    await bot.slack.wait_for(lambda: "breaking change(s)" in _said(bot), timeout=30)
    said = _said(bot)
    assert "the document of the last client (7.7.7)" in said, said[-1500:]
    assert "the uploaded openapi.yaml (8.0.0)" in said and "/orders/{order_id}" in said
    await bot.runtime.drain()

    out = capsys.readouterr()
    logged = caplog.text + out.out + out.err
    assert "slack.file_read" in logged  # the log was captured, and it holds no token
    assert BOT_TOKEN not in logged
    assert BOT_TOKEN not in json.dumps([c.args for c in bot.slack.calls])


async def test_a_broken_document_described_by_files_info_gets_its_json_paths(bot):
    shared = bot.slack.share_file(
        "openapi.json", json.dumps(BROKEN).encode(), mimetype="application/json", filetype="json"
    )
    # The event carries the id only: the bot asks files.info for the rest.
    only_id = {"id": shared["id"], "file_access": "check_file_info"}
    await bot.send.event(
        _mention("generate a python client from this", ROOT, [only_id]), event_id="Ev1"
    )
    await bot.slack.wait_for(lambda: "is not a valid OpenAPI document" in _said(bot), timeout=30)
    said = _said(bot)
    assert "the uploaded openapi.json" in said
    assert '$.info: "version" is a required property' in said, said[-1500:]
    assert [a["file"] for a in bot.slack.of("files.info")] == [shared["id"]]
    assert "Traceback" not in said


async def test_an_oversized_or_non_document_file_is_refused_before_anything_runs(bot):
    big = bot.slack.share_file(
        "openapi.json", b"{" + b" " * (1024 * 1024) + b"}", mimetype="application/json"
    )
    await bot.send.event(
        _mention("generate a python client from this", ROOT, [big]), event_id="Ev1"
    )
    said = await _private(bot, "bytes")
    assert "up to 1,048,576 bytes" in said and "1,048,578 bytes" in said

    picture = bot.slack.share_file("diagram.png", b"\x89PNG\r\n", mimetype="image/png")
    await bot.send.event(
        _mention("generate a python client from this", "1699999999.000002", [picture]),
        event_id="Ev2",
    )
    said = await _private(bot, "diagram.png")
    assert "JSON or YAML file" in said

    # Named .yaml but not text: refused once read.
    binary = bot.slack.share_file("openapi.yaml", b"\xff\xfe\x00binary", mimetype="text/yaml")
    await bot.send.event(
        _mention("generate a python client from this", "1699999999.000003", [binary]),
        event_id="Ev3",
    )
    await _private(bot, "is not UTF-8 text")
    await bot.runtime.drain()
    assert not [p for p in bot.posted() if "asked:" in p["text"]]  # no run started
    assert not [c for c in bot.slack.calls if c.method == "download" and c.args["file_id"] in (
        big["id"], picture["id"])]  # fmt: skip


async def test_a_refused_download_or_a_missing_scope_is_said_plainly(bot, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    shared = _yaml_file(bot, orders_document())
    bot.slack.accepted_token = "xoxb-someone-else"  # Slack does not take the bot's token
    await bot.send.event(
        _mention("generate a python client from this", ROOT, [shared]), event_id="Ev1"
    )
    said = await _private(bot, "HTTP 403")
    assert "files:read" in said

    bot.slack.errors["files.info"] = "missing_scope"
    await bot.send.event(
        _mention(
            "generate a python client from this",
            "1699999999.000002",
            [{"id": shared["id"], "file_access": "check_file_info"}],
        ),
        event_id="Ev2",
    )
    said = await _private(bot, "lacks the `files:read` scope")
    assert "reinstall it from manifest.yml" in said
    await bot.runtime.drain()
    assert not [p for p in bot.posted() if "asked:" in p["text"]]
    out = capsys.readouterr()
    logged = caplog.text + out.out + out.err
    assert "slack.file_download_refused" in logged and BOT_TOKEN not in logged
