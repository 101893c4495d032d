"""The commands about the bot itself: audit, graph, examples, sandbox, demo, serve."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bot import render
from bot.cli_common import EXIT, STATUS_EXIT, CliError, service_for
from bot.cli_runs import classify_text
from bot.settings import Settings

__all__ = ["commands"]


async def _audit(args: argparse.Namespace, settings: Settings) -> int:
    since = _parse_since(args.since) if args.since is not None else None
    if args.limit <= 0:
        raise CliError(f"--limit must be a positive number, got {args.limit}")
    async with service_for(settings, sandbox=False, kubernetes=False) as handle:
        entries = await handle.service.audit.read(
            thread_id=args.thread, since=since, limit=args.limit
        )
    for entry in entries:
        if args.json:
            print(json.dumps(entry))
            continue
        at = entry.get("at", "")[:19] + "Z"
        what = " ".join(x for x in (entry.get("action"), entry.get("target")) if x) or "-"
        if entry.get("environment"):
            what += f" ({entry['environment']})"
        plan = (entry.get("plan_hash") or "-")[:19]
        print(
            f"{at}  {entry.get('event', ''):<12} {entry.get('user') or '-':<10} "
            f"{entry.get('thread_id') or '-'}  {what}  {plan}  {entry.get('detail', '')}"
        )
    if not entries and not args.json:
        print("no audit entries" + (f" for thread {args.thread}" if args.thread else ""))
    return EXIT["ok"]


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_since(value: str):
    """`2h`, `30m`, `7d` (ago) or an ISO 8601 time (naive means UTC) -> aware datetime."""
    import re
    from datetime import UTC, datetime, timedelta

    text = value.strip()
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text.lower())
    if match:
        seconds = int(match[1]) * _DURATION_UNITS[match[2]]
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--since {value!r} is neither a duration (30m, 2h, 7d) nor an ISO time "
            "(2026-11-25T10:00:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def _graph(args: argparse.Namespace, settings: Settings) -> int:
    from workflow.graph import create_devops_workflow

    print(create_devops_workflow().get_graph().draw_mermaid())
    return EXIT["ok"]


async def _examples(args: argparse.Namespace, settings: Settings) -> int:
    from workflow.examples import run_examples

    ok = await run_examples()
    return EXIT["ok"] if ok else EXIT["failed"]


async def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from workflow.agents.registry import REGISTRY
    from workflow.sandbox.files import cluster_state_file, reset_sandbox

    data_dir = settings.devops_bot_data_dir
    if args.action == "reset":  # every agent's sandbox state, then the sandbox runbooks
        print(f"sandbox reset in {data_dir}:")
        for item in await reset_sandbox(data_dir):
            print(f"  {item.what}: {item.detail} ({item.path.name})")
        return EXIT["ok"]
    if args.action == "serve":
        from workflow.sandbox.kube_api import KubeApiServer

        data_dir.mkdir(parents=True, exist_ok=True)
        state = cluster_state_file(data_dir)
        return await _serve_sandbox(KubeApiServer(state, port=args.port), args.kubeconfig)
    for spec in REGISTRY:  # every agent with a sandbox backend shows it
        if spec.sandbox is not None:
            print("\n".join(spec.sandbox.load().show(data_dir)))
    return EXIT["ok"]


async def _serve_sandbox(server: Any, kubeconfig: str | None) -> int:
    """The sandbox cluster's API as its own process, for kubectl or a bot on KUBECONFIG."""
    from workflow.sandbox.kube_api import write_kubeconfig

    url = server.start()
    try:
        if kubeconfig:
            write_kubeconfig(Path(kubeconfig), url)
        # One line a supervising process can read; the rest is for people.
        print(f"SANDBOX cluster (simulated) serving at {url}", flush=True)
        if kubeconfig:
            print(f"kubeconfig written to {kubeconfig} (context: devops-bot-sandbox)", flush=True)
        print("stop with Ctrl-C", flush=True)
        await asyncio.Event().wait()  # until interrupted
    finally:
        server.stop()
    return EXIT["ok"]


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    """The product's main job end to end on the embedded default, narrated."""
    import uuid

    from workflow.service import RefusedError

    thread = f"demo-{uuid.uuid4().hex[:8]}"
    async with service_for(settings, sandbox=True) as handle:
        render.banner(handle)
        server = handle.sandbox_server
        before = server.snapshot()["production"]["api-server"]["image"]
        text = f"deploy {args.image or _next_patch(before)} prod"
        request, _ = await classify_text(text, settings)
        print(f"\n$ devops-bot run {text!r} --as U1 --sandbox")
        print(render.classification(request))
        report = await handle.service.start(
            task_type=request.task_type,
            context={**request.context, "sandbox": True},
            text=text,
            requester="U1",
            thread_id=thread,
            on_progress=render.progress,
        )
        render.report(report, as_json=False)
        if report.status != "awaiting_approval":
            return EXIT["failed"]
        print(
            f"\nimage in the sandbox now: {server.snapshot()['production']['api-server']['image']}"
            " (unchanged: nothing runs before approval)"
        )
        print(f"\n$ devops-bot approve {thread} --as U1")
        try:
            await handle.service.approve(thread, "U1")
            print("UNEXPECTED: self-approval was accepted")
            return EXIT["failed"]
        except RefusedError as exc:
            print(f"refused: {exc}")
        print(f"\n$ devops-bot approve {thread} --as U2")
        report = await handle.service.approve(thread, "U2", on_progress=render.progress)
        render.report(report, as_json=False)
        after = server.snapshot()["production"]["api-server"]["image"]
        print(f"\nimage in the sandbox: {before} -> {after}")
    return STATUS_EXIT.get(report.status, EXIT["failed"])


def _next_patch(image: str) -> str:
    """api-server:<next patch>, so the demo always shows a real change."""
    import re

    match = re.search(r":v?(\d+)\.(\d+)\.(\d+)$", image)
    if not match:
        return "api-server:v1.2.3"
    major, minor, patch = (int(g) for g in match.groups())
    return f"api-server:v{major}.{minor}.{patch + 1}"


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot import server

    if args.socket:
        await server.run_socket(settings, port=args.port, host=args.host)
    else:
        await server.run_http(settings, port=args.port or settings.port, host=args.host)
    return EXIT["ok"]


commands = {
    "serve": _serve,
    "demo": _demo,
    "audit": _audit,
    "graph": _graph,
    "examples": _examples,
    "sandbox": _sandbox,
}
