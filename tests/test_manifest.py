"""manifest.yml validates against Slack's official manifest schema and matches the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "slack-app-manifest"
UPSTREAM = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"

# Which bot scope each Web API method / listener the code uses needs (None: no scope).
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "views_open": None,
    "auth_test": None,
    "usergroups_users_list": "usergroups:read",
    # files.getUploadURLExternal + the upload + files.completeUploadExternal
    "files_upload_v2": "files:write",
    # a file shared with a request: described by files.info, read at url_private_download
    # with the bot token (bot.shared_files), both under files:read
    "files_info": "files:read",
}
EVENT_SCOPES = {"app_mention": "app_mentions:read", "message": "channels:history"}
# The manifest subscribes to message events per conversation type; we answer channels only.
EVENT_SUBSCRIPTIONS = {"app_mention": {"app_mention"}, "message": {"message.channels"}}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def _schemas() -> dict[str, dict]:
    if not SCHEMAS.is_dir():
        pytest.skip(f"the shared schema folder {SCHEMAS} is not present on this machine")
    return {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("manifest.schema*.json")}


def test_manifest_validates_against_the_versioned_schema(manifest):
    import jsonschema

    schema = _schemas()["manifest.schema.1.0.0.json"]
    assert manifest["_metadata"]["major_version"] == 1
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_manifest_validates_against_the_dispatcher_schema(manifest):
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    schemas = _schemas()
    registry = Registry().with_resources(
        (UPSTREAM + name, Resource.from_contents(schemas[name], default_specification=DRAFT7))
        for name in ("manifest.schema.1.0.0.json", "manifest.schema.2.0.0.json")
    )
    validator = jsonschema.Draft7Validator(schemas["manifest.schema.json"], registry=registry)
    errors = list(validator.iter_errors(manifest))
    assert not errors, [e.message for e in errors]


def test_manifest_declares_what_the_code_handles_and_no_more(manifest):
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))
    methods = set(re.findall(r"client\.(\w+)\(", source))
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {unknown} to METHOD_SCOPES and manifest.yml"
    events = set(re.findall(r"app\.event\(\"(\w+)\"\)", source))
    commands = set(re.findall(r"app\.command\(\"(/[\w-]+)\"\)", source))

    needed = {METHOD_SCOPES[m] for m in methods} | {EVENT_SCOPES[e] for e in events}
    if commands:
        needed.add("commands")
    needed.discard(None)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
    subscribed = set().union(*(EVENT_SUBSCRIPTIONS[e] for e in events))
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == subscribed
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == commands
    assert all(c.get("usage_hint") for c in manifest["features"]["slash_commands"])
    assert manifest["features"]["bot_user"]["display_name"]
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    urls = {
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    }
    urls |= {c["url"] for c in manifest["features"]["slash_commands"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")


def test_procfile_runs_both_modes():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert lines["web"].strip() == "devops-bot serve --http --port $PORT"
    assert lines["worker"].strip() == "devops-bot serve --socket"
