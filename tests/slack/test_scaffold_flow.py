"""A service scaffolded from Slack, over real HTTP with signed requests: the card shows the
plan with a *Create* button, the files are uploaded into the thread, nothing is pushed
before the click, the requester's own click creates the repository (once, however many
clicks) and registers the service."""

from __future__ import annotations

import asyncio

from tests.slack.harness import text_of
from workflow.tools.changes.sandbox import SandboxForge

SCAFFOLD = "scaffold a python service invoice-api for the billing team"


def _buttons(card: dict) -> dict[str, str]:
    return {
        e["action_id"]: e["text"]["text"]
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


async def test_scaffold_a_service_from_slack(bot):
    forge = SandboxForge(bot.data_dir)
    status, _ = await bot.send.command(SCAFFOLD, user="U1")
    assert status == 200
    card = await bot.wait_card()
    text = text_of(card["blocks"])
    assert "create_repository" in text or "Create repository acme/invoice-api" in text
    assert _buttons(card)["approval_approve"] == "Create"

    def uploaded() -> list[str]:
        return [u["filename"] for u in bot.slack.uploads.values()]

    # every file of the plan, uploaded one after the other (tests/test_app.py is the last)
    await bot.slack.wait_for(lambda: any(n.endswith("test_app.py") for n in uploaded()))
    assert any(n.endswith("deployment.yaml") for n in uploaded()), uploaded()
    assert len(uploaded()) == 14, uploaded()
    assert forge.repositories() == [], "nothing pushed before the click"

    await bot.send.click(card, "approval_approve", user="U1")  # self-confirmation
    await bot.slack.wait_for(lambda: forge.repositories() or None, timeout=20)
    await bot.send.click(card, "approval_approve", user="U1")  # a second click
    await asyncio.sleep(0.5)
    assert forge.repositories() == ["acme/invoice-api"]
    assert list(forge.branches("acme/invoice-api")) == ["main"]
    said = await bot.slack.wait_for(
        lambda: (
            [p for p in bot.posted() if "created repository acme/invoice-api" in p.get("text", "")]
            or None
        ),
        timeout=20,
    )
    assert "registered in the catalog" in said[0]["text"]
    assert bot.runtime.service.deps.catalog.resolve("invoice-api") is not None
