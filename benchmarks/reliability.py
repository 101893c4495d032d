"""Reliability figures: two real `devops-bot serve --http` replicas sharing Redis Stack (AOF on,
password set) and the sandbox cluster as its own process, on loopback, bounded in count and time.

    .venv/bin/python benchmarks/reliability.py [--requests 100] [--fuzz 10000] [--replays 300]

Prints, with the target of each:
- approval race: per request, Approve by U2 (replica a) and by U3 (replica b) at the same
  instant plus Slack's retry of U2's click (replica b): decisions per request (exactly 1) and
  applies per request (at most 1), from the audit trail in Redis;
- fuzz (seeded generator): slash texts, mention events, block_actions and view_submission
  payloads with wrong types, missing fields, oversized and unicode-heavy values, and forged
  button values naming other threads (clicked by a real approver): 5xx responses (0),
  requests left without a reply (0), state changed by the fuzz (0: pending approvals stay
  pending, no deployment changes);
- replayed and re-signed requests outside the 5-minute window: accepted (0);
- every log line of both replicas and every Slack call scanned for the bot token, the
  signing secret and the Redis password they were given: leaks (0).

Prints one `TARGET MISSED: …` line per missed target and exits 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _slack_common import ROOT, free_port, sandbox_process
from slack_flow import write_policy

sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisStackServer
from tests.slack.harness import BOT_TOKEN, CHANNEL, SECRET, TEAM, MockSlack, SlackSender, sign

PASSWORD = "redis-pw-" + os.urandom(8).hex()
PROD_SERVICES = ["api-server", "checkout", "payment-service", "web"]
TIMEOUT = 10.0  # seconds a request may take before it counts as left without a reply


class Replicas:
    """`count` processes of `devops-bot serve --http`, each on its own port for its whole
    life (a restart reuses it); JSON logs (INFO) appended to data_dir/replica-N.log."""

    CODE = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"

    def __init__(self, env: dict[str, str], data_dir: Path, count: int = 2) -> None:
        self.env, self.data_dir = env, data_dir
        self.ports = [free_port() for _ in range(count)]
        self.bases = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.children: list[subprocess.Popen[bytes] | None] = [None] * count

    def start(self, i: int) -> None:
        folder = self.data_dir / f"replica-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / f"replica-{i}.log", "ab") as log:
            self.children[i] = subprocess.Popen(
                [sys.executable, "-c", self.CODE, "serve", "--http", "--port", str(self.ports[i])],
                env={
                    **os.environ,
                    **self.env,
                    "DEVOPS_BOT_DATA_DIR": str(folder),
                    "LOG_LEVEL": "INFO",
                    "LOG_FORMAT": "json",
                },
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self, i: int) -> None:
        child, base = self.children[i], self.bases[i]
        assert child is not None
        deadline = time.monotonic() + 60
        while True:  # bounded by the deadline
            if child.poll() is not None:
                raise RuntimeError(f"the app at {base} exited with {child.returncode}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app at {base} did not become healthy in 60 s")
            time.sleep(0.1)

    def kill(self, i: int) -> None:
        child = self.children[i]
        if child is not None:
            child.send_signal(signal.SIGKILL)
            child.wait()

    def stop(self) -> None:
        for child in self.children:
            if child is not None and child.poll() is None:
                child.terminate()
        for child in self.children:
            if child is None:
                continue
            try:
                child.wait(45)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextlib.contextmanager
def replicas(env: dict[str, str], data_dir: Path, count: int = 2) -> Iterator[Replicas]:
    group = Replicas(env, data_dir, count)
    try:
        for i in range(count):
            group.start(i)
        for i in range(count):
            group.wait_healthy(i)
        yield group
    finally:
        group.stop()


def posted(slack: MockSlack) -> list[dict[str, Any]]:
    return [
        {**c.args, "ts": c.response["ts"]}
        for c in slack.calls
        if c.method == "chat.postMessage" and c.response.get("ok")
    ]


def is_card(message: dict[str, Any]) -> bool:
    return any(
        e.get("action_id") == "approval_approve"
        for b in message.get("blocks") or []
        for e in b.get("elements", [])
    )


def thread_of(card: dict[str, Any]) -> str:
    button = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"])
    return json.loads(button["value"])["thread_id"]


async def wait_for(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        await asyncio.sleep(0.02)
    return None


async def request_card(slack: MockSlack, sender: SlackSender, text: str) -> dict | None:
    """Send `/devops text` as U1; the approval card posted in its thread (None: no card)."""
    await sender.command(text, user="U1")
    root = await wait_for(
        lambda: next((p for p in posted(slack) if f"`{text}`" in p.get("text", "")), None), 30
    )
    if root is None:
        return None
    return await wait_for(
        lambda: next(
            (p for p in posted(slack) if is_card(p) and p.get("thread_ts") == root["ts"]), None
        ),
        30,
    )


async def settled(slack: MockSlack, card: dict[str, Any], timeout: float = 30) -> None:
    """Wait until the run in the card's thread has said how it ended."""
    ends = ("*Rolled out*", "*Rollout failed*", "*Rejected*", ":warning:", "*Failed*")
    await wait_for(
        lambda: [
            p
            for p in posted(slack)
            if p.get("thread_ts") == card["thread_ts"] and p.get("text", "").startswith(ends)
        ],
        timeout,
    )


# -- the approval race --------------------------------------------------------------------------


async def race(slack: MockSlack, senders: list[SlackSender], requests: int) -> list[dict]:
    """`requests` production deploys, four services at a time (one run per Deployment)."""
    cards: list[dict] = []

    async def one_service(service: str, count: int) -> None:
        for n in range(count):
            text = f"deploy {service}:v7.{n}.{random.randrange(10**6)} prod"
            card = await request_card(slack, senders[n % 2], text)
            if card is None:
                print(f"no card for {text!r}")
                continue
            cards.append(card)
            first = senders[0].click(card, "approval_approve", user="U2")
            await asyncio.gather(
                first,
                senders[1].click(card, "approval_approve", user="U3"),
                senders[1].click(card, "approval_approve", user="U2"),  # Slack's retry
            )
            await settled(slack, card)

    per = [requests // 4 + (1 if i < requests % 4 else 0) for i in range(4)]
    await asyncio.gather(*(one_service(s, c) for s, c in zip(PROD_SERVICES, per, strict=True)))
    return cards


# -- fuzzed inputs ------------------------------------------------------------------------------

# Accents, CJK, emoji with a skin-tone modifier, bidi overrides, zero-width and NUL, BOM,
# mathematical and fullwidth look-alikes, Arabic-Indic digits (escaped: ruff's RUF001).
UNICODE = (
    "\u00e4\u00f6\u00fc\u00df\u00e9\u00e7\u00f1\u4e2d\u6587\u65e5\u672c\uc5b4"
    "\U0001f600\U0001f680\U0001f44d\U0001f3fd\u202e\u200f\u200b\u0000\ufeff"
    "\U0001d518\U0001d52b\U0001d526\uff43\uff4f\uff44\uff45\u0661\u0662\u0663"
)


def junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, 1.5e308, float("nan")])
    if kind == 3:
        return "".join(rng.choice(UNICODE) for _ in range(rng.randrange(1, 40)))
    if kind == 4:
        return "x" * rng.choice([0, 1, 3001, 40000])
    if kind == 5:
        return rng.choice(["", " ", "deploy", "{", "null", "<@U2>", "`rm -rf /`", "%00"])
    if kind == 6:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["a", "type", "id", "value"]): junk(rng, depth + 1)}


def mutate(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with one to three fields dropped, retyped, oversized or made unicode-heavy."""
    out = json.loads(json.dumps(base))
    for _ in range(rng.randrange(1, 4)):
        target = out
        path = [k for k in out]
        if not path:
            break
        key = rng.choice(path)
        if isinstance(target[key], dict) and target[key] and rng.random() < 0.5:
            target, key = target[key], rng.choice(list(target[key]))
        if rng.random() < 0.3:
            del target[key]
        else:
            target[key] = junk(rng)
    return out


def fuzz_body(rng: random.Random, pending: list[dict], sender: SlackSender) -> tuple[str, str]:
    """(body, content type) of one fuzzed request, Slack-shaped enough to reach the listeners."""
    kind = rng.randrange(5)
    user = rng.choice(["U1", "U2", "U3", "U9", junk(rng)])
    if kind == 0:  # slash command
        form = {
            "team_id": TEAM,
            "channel_id": rng.choice([CHANNEL, "C2", junk(rng)]),
            "user_id": user,
            "command": rng.choice(["/devops", "/devops", "/other", junk(rng)]),
            "text": junk(rng)
            if rng.random() < 0.5
            else rng.choice(
                [
                    "deploy web:v1 prod",
                    "approve everything",
                    "scale web to -3 in prod",
                    "status of checkout",
                    "help",
                    "rollback " + "ü" * 500,
                ]
            ),
            "response_url": f"{sender.response_base}/respond/fuzz",
            "trigger_id": "t",
        }
        form = {k: v for k, v in form.items() if rng.random() > 0.1}
        return urlencode({k: str(v) for k, v in form.items()}), "application/x-www-form-urlencoded"
    if kind == 1:  # mention / thread message
        event = {
            "type": rng.choice(["app_mention", "message"]),
            "user": user,
            "text": junk(rng) if rng.random() < 0.5 else "<@UBOT> deploy web:v2 prod",
            "channel": CHANNEL,
            "ts": f"{time.time():.6f}",
            "thread_ts": rng.choice([None, pending[0]["thread_ts"] if pending else None]),
        }
        body = {
            "type": "event_callback",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event_id": f"EvFuzz{rng.randrange(10**12)}",
            "event": mutate(rng, event) if rng.random() < 0.7 else event,
        }
        return json.dumps(body), "application/json"
    card = rng.choice(pending) if pending else None
    # Never a genuine click: a forged value (an approver clicking card A whose value names
    # card B's thread), or a mangled one from someone who may not approve (U9).
    others = [p for p in pending if card is not None and p["ts"] != card["ts"]]
    if kind in (2, 3) and card is not None and others:
        button = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"])
        value = json.loads(button["value"])
        other = rng.choice(others)
        forged = {**value, "thread_id": thread_of(other)} if kind == 2 else mutate(rng, value)
        payload = {
            "type": "block_actions",
            "user": {"id": rng.choice(["U2", "U3"]) if kind == 2 else "U9", "team_id": TEAM},
            "team": {"id": TEAM},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "message_ts": card["ts"], "channel_id": CHANNEL},
            "message": {"ts": card["ts"], "thread_ts": card.get("thread_ts"), "blocks": []},
            "response_url": f"{sender.response_base}/respond/fuzz",
            "trigger_id": "t",
            "actions": [
                {
                    "type": "button",
                    "action_id": rng.choice(
                        ["approval_approve", "approval_reject", "approval_preview", junk(rng)]
                    ),
                    "block_id": "approval_actions",
                    "value": json.dumps(forged) if rng.random() < 0.9 else junk(rng),
                }
            ],
        }
        if kind == 3:
            payload = mutate(rng, payload)
        return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    # view_submission (the reject modal), mangled
    meta = (
        json.loads(
            next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"])[
                "value"
            ]
        )
        if card
        else {}
    )
    payload = {
        "type": "view_submission",
        "user": {"id": rng.choice(["U2", "U3", junk(rng)]), "team_id": TEAM},
        "team": {"id": TEAM},
        "view": {
            "callback_id": rng.choice(["reject_reason", junk(rng)]),
            "private_metadata": json.dumps(meta) if meta else junk(rng),
            "state": {
                "values": {"reason": {"reason": {"type": "plain_text_input", "value": junk(rng)}}}
            },
        },
    }
    return urlencode({"payload": json.dumps(mutate(rng, payload))}), (
        "application/x-www-form-urlencoded"
    )


async def fuzz(
    senders: list[SlackSender], pending: list[dict], count: int, seed: int
) -> Counter[str]:
    rng = random.Random(seed)
    statuses: Counter[str] = Counter()
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        sender = senders[i % 2]
        body, ctype = fuzz_body(rng, pending, sender)
        async with gate:
            try:
                status, _ = await asyncio.wait_for(sender.post(body, ctype), TIMEOUT)
                statuses[str(status)] += 1
                if status >= 500 and statuses[str(status)] <= 3:
                    print(f"HTTP {status} for: {body[:1500]}")
            except (TimeoutError, OSError) as exc:
                statuses[f"no reply ({type(exc).__name__})"] += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return statuses


# -- replays outside the window -----------------------------------------------------------------


async def replays(senders: list[SlackSender], count: int, seed: int) -> int:
    """Requests signed correctly for a timestamp outside the 5-minute window: accepted."""
    rng = random.Random(seed)
    accepted = 0
    for i in range(count):
        form = {
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": "U1",
            "command": "/devops",
            "text": "deploy web:v9.9.9 prod",
            "response_url": "http://127.0.0.1:9/x",
        }
        body = urlencode(form)
        now = int(time.time())
        ts = rng.choice([now - 301, now - 3600, now - 86400 * 30, now + 301, now + 7200])
        if i % 3 == 0:  # a replay: the original signature and timestamp, sent again later
            ts = now - 300 - rng.randrange(1, 10**6)
        status, _ = await senders[i % 2].post(
            body, "application/x-www-form-urlencoded", timestamp=ts, signature=sign(body, ts)
        )
        accepted += status != 401
    return accepted


# -- the whole run ------------------------------------------------------------------------------


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    import aiohttp
    import redis.asyncio as aioredis

    from workflow.audit import RedisAuditLog

    server = RedisStackServer(aof=True, extra_args=("--requirepass", PASSWORD)).start()
    figures: dict[str, float] = {}
    try:
        redis_url = server.url.replace("redis://", f"redis://default:{PASSWORD}@")
        slack = MockSlack()
        api_url = await slack.start()
        policy = write_policy(tmp)
        with sandbox_process(tmp / "cluster") as kubeconfig:
            env = {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": api_url,
                "REDIS_URL": redis_url,
                "DEVOPS_BOT_POLICY": str(policy),
                "KUBECONFIG": str(kubeconfig),
                "DEVOPS_BOT_SWEEP_INTERVAL": "2",
            }
            with replicas(env, tmp) as group:
                bases = group.bases
                async with aiohttp.ClientSession() as session:
                    senders = [SlackSender(session, base, slack.url) for base in bases]
                    started = time.monotonic()
                    cards = await race(slack, senders, args.requests)
                    figures["race seconds"] = time.monotonic() - started
                    store = aioredis.from_url(redis_url)
                    audit = await RedisAuditLog(store).read(limit=10**7)
                    by_thread: dict[str, Counter[str]] = {}
                    for row in audit:
                        by_thread.setdefault(row.get("thread_id", ""), Counter())[row["event"]] += 1
                    decisions = [by_thread.get(thread_of(c), Counter())["decision"] for c in cards]
                    applies = [by_thread.get(thread_of(c), Counter())["apply"] for c in cards]
                    figures["race requests"] = len(cards)
                    figures["requests with decisions != 1"] = sum(d != 1 for d in decisions)
                    figures["requests with applies > 1"] = sum(a > 1 for a in applies)
                    figures["decisions per request (max)"] = max(decisions, default=0)
                    figures["applies per request (max)"] = max(applies, default=0)

                    # Pending approvals the fuzz aims its forged values at.
                    pending = []
                    for service in PROD_SERVICES:
                        card = await request_card(
                            slack,
                            senders[0],
                            f"deploy {service}:v8.0.{random.randrange(10**6)} prod",
                        )
                        if card is not None:
                            pending.append(card)
                    before_audit = len(await RedisAuditLog(store).read(limit=10**7))
                    before_cluster = snapshot(kubeconfig)
                    started = time.monotonic()
                    statuses = await fuzz(senders, pending, args.fuzz, args.seed)
                    figures["fuzz seconds"] = time.monotonic() - started
                    await asyncio.sleep(3)  # let background runs the fuzz started settle
                    after = await RedisAuditLog(store).read(limit=10**7)
                    decided = [
                        r
                        for r in after[before_audit:]
                        if r["event"] in ("decision", "apply")
                        and r.get("thread_id") in {thread_of(c) for c in pending}
                    ]
                    figures["fuzz requests"] = sum(statuses.values())
                    figures["fuzz 5xx"] = sum(v for k, v in statuses.items() if k.startswith("5"))
                    figures["fuzz left without a reply"] = sum(
                        v for k, v in statuses.items() if k.startswith("no reply")
                    )
                    figures["state changed by the fuzz"] = len(decided) + (
                        snapshot(kubeconfig) != before_cluster
                    )
                    print("fuzz statuses:", dict(sorted(statuses.items())))
                    for row in decided:
                        print(
                            "CHANGED BY THE FUZZ:",
                            {
                                k: row.get(k)
                                for k in ("event", "user", "thread_id", "detail", "status")
                            },
                        )
                    if snapshot(kubeconfig) != before_cluster:
                        print("CLUSTER CHANGED:", before_cluster, snapshot(kubeconfig))
                    figures["replays accepted"] = await replays(senders, args.replays, args.seed)

                    # Redis restarted (same data directory, AOF) with approvals pending.
                    await store.aclose()
                    server.halt()
                    await asyncio.sleep(1.0)
                    server.start()
                    started = time.monotonic()
                    for base in bases:
                        await wait_store_ok(session, base)
                    figures["redis restart: seconds until served again"] = (
                        time.monotonic() - started
                    )
                    store = aioredis.from_url(redis_url)
                    applied = 0
                    for i, card in enumerate(pending):
                        await senders[i % 2].click(card, "approval_approve", user="U2")
                        said = await wait_for(
                            lambda c=card: [
                                p
                                for p in posted(slack)
                                if p.get("thread_ts") == c["thread_ts"]
                                and p.get("text", "").startswith("*Applied*")
                            ],
                            30,
                        )
                        applied += bool(said)
                        await settled(slack, card)  # its rollout ends before the next phase
                    figures["redis restart: approvals pending"] = len(pending)
                    figures["redis restart: approvals lost"] = len(pending) - applied
                    figures.update(await kill_one(slack, senders, group, store))
                    await store.aclose()
        await slack.stop()
        secrets = {"bot token": BOT_TOKEN, "signing secret": SECRET, "redis password": PASSWORD}
        logs = "".join(p.read_text(errors="replace") for p in sorted(tmp.glob("replica-*.log")))
        calls = json.dumps([c.args for c in slack.calls], default=str)
        figures["kill: runs recovered by a sweeper (log)"] = logs.count("slack.recovering_run")
        figures["log lines scanned"] = logs.count("\n")
        figures["slack calls scanned"] = len(slack.calls)
        figures["secret leaks"] = sum(logs.count(s) + calls.count(s) for s in secrets.values())
        for name, value in secrets.items():
            if value in logs or value in calls:
                print(f"LEAK: the {name}")
    finally:
        server.stop()
    return figures


async def kill_one(
    slack: MockSlack, senders: list[SlackSender], group: Replicas, store: Any
) -> dict[str, float]:
    """SIGKILL replica 0 while requests are being planned, paused and applied; restart it.

    Paused: four production deploys wait for approval (posted through replica 1). Applying:
    two of them are approved through replica 0. Planning: four staging deploys are sent to
    replica 0. 50 ms later replica 0 is killed, then started again.
    """
    from workflow.audit import RedisAuditLog

    paused = []
    for service in PROD_SERVICES:
        text = f"deploy {service}:v9.0.{random.randrange(10**6)} prod"
        card = await request_card(slack, senders[1], text)
        if card is not None:
            paused.append(card)
    applying, waiting = paused[:2], paused[2:]
    planning = [f"deploy {s}:v9.1.{random.randrange(10**6)} staging" for s in PROD_SERVICES]
    await asyncio.gather(
        *(senders[0].click(c, "approval_approve", user="U2") for c in applying),
        *(senders[0].command(text, user="U1") for text in planning),
    )
    await asyncio.sleep(0.05)
    group.kill(0)
    group.start(0)
    await asyncio.to_thread(group.wait_healthy, 0)
    await asyncio.sleep(8)  # a few sweeper rounds (DEVOPS_BOT_SWEEP_INTERVAL=2)

    def replies(root_ts: str) -> list[dict]:
        return [p for p in posted(slack) if p.get("thread_ts") == root_ts]

    # Every run says something in its thread; a request acked but never posted is silent.
    silent = 0
    cards_now: list[dict] = list(waiting)
    for text in planning:
        root = next((p for p in posted(slack) if f"`{text}`" in p.get("text", "")), None)
        if root is None or not await wait_for(lambda r=root: replies(r["ts"]), 45):
            silent += 1
            print(f"left without a word: {text!r} (status message posted: {root is not None})")
            continue
        card = next((p for p in replies(root["ts"]) if is_card(p)), None)
        if card is not None:
            cards_now.append(card)

    def told(user: str, root_ts: str) -> list[dict]:
        return [
            a
            for a in slack.of("chat.postEphemeral")
            if a.get("user") == user and a.get("thread_ts") == root_ts
        ]

    for card in applying:  # a word in the thread, or to the approver whose click was cut off
        if not await wait_for(
            lambda c=card: (
                [p for p in replies(c["thread_ts"]) if not is_card(p)] or told("U2", c["thread_ts"])
            ),
            20,
        ):
            silent += 1
            events = [
                r["event"] for r in await RedisAuditLog(store).read(thread_id=thread_of(card))
            ]
            print(f"left without a word: the approved card {card['ts']}; audit: {events}")
        elif not [p for p in replies(card["thread_ts"]) if not is_card(p)]:
            cards_now.append(card)  # the click was cut off: the approval still waits
    # Every approval still pending is served by either replica: a click brings a decision
    # (what the apply then does, a stale plan refused included, is the decision's business).
    lost = 0
    for i, card in enumerate(cards_now):
        await senders[i % 2].click(card, "approval_approve", user="U3")

        async def decided(c: dict = card) -> bool:
            rows = await RedisAuditLog(store).read(thread_id=thread_of(c))
            return any(r["event"] == "decision" for r in rows)

        for _ in range(225):  # 45 s
            if await decided():
                break
            await asyncio.sleep(0.2)
        if not await decided():
            lost += 1
            said = [p.get("text", "")[:120] for p in replies(card["thread_ts"])]
            answers = [a.get("text", "")[:160] for a in told("U3", card["thread_ts"])]
            print(f"approval lost: card {card['ts']}; thread: {said}; U3: {answers}")
    await asyncio.sleep(2)
    applies: Counter[str] = Counter(
        r.get("thread_id", "")
        for r in await RedisAuditLog(store).read(limit=10**7)
        if r["event"] == "apply"
    )
    return {
        "kill: requests being planned": float(len(planning)),
        "kill: approvals paused": float(len(waiting)),
        "kill: approvals being applied": float(len(applying)),
        "kill: pending approvals lost": float(lost),
        "kill: runs left without a word": float(silent),
        "kill: changes applied twice": float(sum(n > 1 for n in applies.values())),
    }


async def wait_store_ok(session: Any, base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            async with session.get(base + "/healthz") as answer:
                if (await answer.json()).get("state_store") == "ok":
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not see Redis again within {timeout} s")


def snapshot(kubeconfig: Path) -> dict:
    """The production Deployments' images and replicas, through the sandbox's API."""
    config = json.loads(kubeconfig.read_text())
    url = config["clusters"][0]["cluster"]["server"]
    with urllib.request.urlopen(f"{url}/apis/apps/v1/namespaces/production/deployments") as r:
        items = json.load(r)["items"]
    return {
        d["metadata"]["name"]: (
            d["spec"]["replicas"],
            d["spec"]["template"]["spec"]["containers"][0]["image"],
        )
        for d in items
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="approval races (max 1000)")
    parser.add_argument("--fuzz", type=int, default=10000, help="fuzzed requests (max 20000)")
    parser.add_argument("--replays", type=int, default=300, help="out-of-window requests")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, 1000))
    args.fuzz = max(0, min(args.fuzz, 20000))
    random.seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    for name, value in figures.items():
        print(f"{name:<40} {value:g}" if "seconds" not in name else f"{name:<40} {value:.1f}")
    missed = [
        name
        for name in (
            "requests with decisions != 1",
            "requests with applies > 1",
            "fuzz 5xx",
            "fuzz left without a reply",
            "state changed by the fuzz",
            "replays accepted",
            "redis restart: approvals lost",
            "kill: pending approvals lost",
            "kill: runs left without a word",
            "kill: changes applied twice",
            "secret leaks",
        )
        if figures.get(name, 0) != 0
    ]
    for name in missed:
        print(f"TARGET MISSED: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
