"""Failures benchmarks/reliability.py's fuzzer found, each kept as a regression test."""

from __future__ import annotations

from tests.slack.harness import running_bot


async def test_an_unknown_payload_type_with_a_string_view_gets_400_not_500(tmp_path):
    """bolt's log line for an unhandled request reads `view` as an object: a signed payload
    of a type no listener handles, with a string `view`, made it answer 500."""
    async with running_bot(tmp_path) as bot:
        for kind in ("x" * 40, "unknown", "shortcut"):
            payload = {"type": kind, "user": {"id": "U3", "team_id": "T1"}, "view": "x" * 100}
            status, body = await bot.send.interactive(payload)
            assert status == 400, (kind, body)
            assert "view: must be an object" in body
        # the same kinds with an object view are still bolt's: 404, no listener
        status, _ = await bot.send.interactive({"type": "unknown", "view": {"type": "modal"}})
        assert status == 404
        _, _, metrics = await bot.get("/metrics")
        assert 'status="500"' not in metrics
