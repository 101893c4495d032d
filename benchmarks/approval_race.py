"""Race probe: what racing approvers see, against what the audit trail records.

Two app replicas (real HTTP servers, one Redis Stack, one sandbox cluster, one local Slack)
serve N production deploys. Each card gets, at the same instant, an Approve by U2 on
replica a, an Approve by U3 on replica b, and Slack's retry of U2's click. Printed:

- decisions, applies and duplicates, per the audit trail;
- cards that ever named an approver the audit does not record as the decider (target 0);
- losing clicks answered with an error (target 0), and how long the losers waited for
  their private answer (p50 / p99 / max; target: within a second);
- with --rollout-timeout S and a crashloop image, clicks on the closed card while the
  winner follows a rollout that never completes: how long they waited for their answer.

    .venv/bin/python benchmarks/approval_race.py [--deploys 20] [--stuck 3]

Prints one `TARGET MISSED: …` line per missed target and exits 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _slack_common import ROOT, fmt_ms, percentile, quiet_logs

sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisStackServer
from tests.slack.harness import BotUnderTest, two_replicas


def _thread_of(card: dict) -> str:
    button = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"])
    return json.loads(button["value"])["thread_id"]


def _named(a: BotUnderTest, card_ts: str) -> set[str]:
    names: set[str] = set()
    for update in a.slack.of("chat.update"):
        if update.get("ts") == card_ts:
            names |= set(re.findall(r"Approved by <@(\w+)>", json.dumps(update)))
    return names


async def _answer_time(a: BotUnderTest, users: tuple[str, ...], since: int, start: float) -> float:
    """Seconds from `start` until every one of `users` has a private answer after `since`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        told = {e.get("user") for e in a.slack.of("chat.postEphemeral")[since:]}
        if set(users) <= told:
            return time.monotonic() - start
        await asyncio.sleep(0.005)
    return float("inf")


async def probe(args: argparse.Namespace) -> dict[str, float]:
    redis = RedisStackServer().start()
    figures: dict[str, float] = {}
    waits: list[float] = []
    late_waits: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as data:
            async with two_replicas(
                Path(data),
                redis_url=redis.url,
                key_prefix=f"race{uuid.uuid4().hex[:6]}",
                rollout_timeout=args.rollout_timeout,
            ) as (a, b):
                cards, wrong_name, errors = [], 0, 0
                for n in range(args.deploys + args.stuck):
                    tag = f"v2.{n}.0" if n < args.deploys else f"v2.{n}.0-crashloop"
                    await a.send.command(f"deploy api-server:{tag} prod", user="U1")
                    card = await a.wait_card(n + 1)
                    cards.append(card)
                    since = len(a.slack.of("chat.postEphemeral"))
                    start = time.monotonic()
                    await asyncio.gather(
                        a.send.click(card, "approval_approve", user="U2"),
                        b.send.click(card, "approval_approve", user="U3"),
                        a.send.click(card, "approval_approve", user="U2"),
                    )
                    # Two of the three clicks lose: one of U2/U3, and U2's retry (or U2 twice).
                    deadline = time.monotonic() + 30
                    while len(a.slack.of("chat.postEphemeral")) < since + 2:
                        if time.monotonic() > deadline:
                            break
                        await asyncio.sleep(0.005)
                    waits.append(time.monotonic() - start)
                    if n >= args.deploys:  # a rollout that never completes: click the closed card
                        await a.slack.wait_for(lambda c=card: _named(a, c["ts"]), timeout=10)
                        for replica, user in ((a, "U4"), (b, "U5")):
                            since = len(a.slack.of("chat.postEphemeral"))
                            start = time.monotonic()
                            await replica.send.click(card, "approval_approve", user=user)
                            late_waits.append(await _answer_time(a, (user,), since, start))
                    # Every deploy changes the same Deployment: let this one finish (its
                    # rollout, or its rollout timeout) before the next is planned.
                    await asyncio.gather(a.runtime.drain(60), b.runtime.drain(60))

                decisions = applies = 0
                for card in cards:
                    rows = await a.runtime.service.audit.read(thread_id=_thread_of(card))
                    decided = [r for r in rows if r["event"] == "decision"]
                    decisions += len(decided)
                    applies += len([r for r in rows if r["event"] == "apply"])
                    for row in rows:
                        if row["event"] == "failure":
                            print(f"failure in {row['thread_id']}: {row.get('detail')}")
                    deciders = {r["user"] for r in decided}
                    if _named(a, card["ts"]) - deciders:
                        wrong_name += 1
                for told in a.slack.of("chat.postEphemeral"):
                    if "Something went wrong" in told.get("text", ""):
                        errors += 1
                figures = {
                    "requests": float(len(cards)),
                    "decisions": float(decisions),
                    "applies": float(applies),
                    "cards naming a non-decider": float(wrong_name),
                    "losing clicks answered with an error": float(errors),
                }
    finally:
        redis.stop()
    figures["loser answer p50"] = percentile(waits, 50)
    figures["loser answer p99"] = percentile(waits, 99)
    figures["loser answer max"] = max(waits) if waits else float("nan")
    if late_waits:
        figures["click during stuck rollout max"] = max(late_waits)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=20, help="deploys whose rollouts complete")
    parser.add_argument("--stuck", type=int, default=3, help="deploys whose rollouts never do")
    parser.add_argument("--rollout-timeout", type=float, default=15.0)
    args = parser.parse_args()
    quiet_logs()
    figures = asyncio.run(probe(args))
    for name, value in figures.items():
        timed = name.startswith(("loser answer", "click during"))
        shown = fmt_ms(value) if timed else f"{value:g}"
        print(f"{name:<40} {shown}")
    missed = [
        name
        for name in ("cards naming a non-decider", "losing clicks answered with an error")
        if figures[name] != 0
    ]
    if figures["decisions"] != figures["requests"] or figures["applies"] != figures["requests"]:
        missed.append("one decision and one apply per request")
    if figures["loser answer max"] > 1.0:
        missed.append("every losing click answered within a second")
    if figures.get("click during stuck rollout max", 0.0) > 1.0:
        missed.append("clicks during a stuck rollout answered within a second")
    for name in missed:
        print(f"TARGET MISSED: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
