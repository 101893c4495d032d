"""`devops-bot`: classify, run, approve, reject, remediate, pending, incident, audit, ....

Exit status: 0 done, 10 paused for approval, 1 failed (or rejected/expired),
2 bad input, 3 refused by the approval policy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog

from bot import render
from bot.logging import configure_logging
from bot.settings import Settings, SettingsError, load_settings

__all__ = ["EXIT", "main"]

EXIT = {"ok": 0, "failed": 1, "bad_input": 2, "refused": 3, "paused": 10}
_STATUS_EXIT = {
    "done": 0,
    "applied": 0,
    "awaiting_approval": 10,
    "failed": 1,
    "rejected": 1,
    "expired": 1,
}

log = structlog.get_logger("devops-bot.cli")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT["bad_input"]):
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="devops-bot",
        description="ChatOps for DevOps: classify a request, run it through the supervisor "
        "graph, and approve or reject what it wants to change.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("classify", help="print the task type, route and context of TEXT")
    c.add_argument("text", nargs="+")

    r = sub.add_parser("run", help="run TEXT through the graph in a new thread")
    r.add_argument("text", nargs="+")
    r.add_argument("--as", dest="user", default=None, help="who is asking (default: $USER)")
    r.add_argument("--sandbox", action="store_true", help="use the built-in sandbox cluster")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--thread", default=None, help="thread id (default: a new one)")

    a = sub.add_parser("approve", help="approve the pending request of THREAD")
    a.add_argument("thread")
    a.add_argument("--as", dest="user", required=True)
    a.add_argument(
        "--group",
        dest="groups",
        action="append",
        default=[],
        help="a user group you belong to (repeatable)",
    )
    a.add_argument("--sandbox", action="store_true", help=argparse.SUPPRESS)
    a.add_argument("--json", action="store_true")

    j = sub.add_parser("reject", help="reject the pending request of THREAD")
    j.add_argument("thread")
    j.add_argument("--as", dest="user", required=True)
    j.add_argument("--reason", required=True)
    j.add_argument("--group", dest="groups", action="append", default=[])
    j.add_argument("--sandbox", action="store_true", help=argparse.SUPPRESS)
    j.add_argument("--json", action="store_true")

    m = sub.add_parser(
        "remediate",
        help="run remediation STEP (r1, r2, ...) that THREAD's incident investigation offered",
    )
    m.add_argument("thread")
    m.add_argument("step", help="the step id shown by the investigation, e.g. r1")
    m.add_argument("--as", dest="user", default=None, help="who is asking (default: $USER)")
    m.add_argument("--json", action="store_true")

    i = sub.add_parser("incident", help="incident records: 'summary THREAD' drafts a postmortem")
    i.add_argument("action", choices=["summary"])
    i.add_argument("thread")

    s = sub.add_parser("status", help="show where THREAD stands")
    s.add_argument("thread")
    s.add_argument("--json", action="store_true")

    n = sub.add_parser("pending", help="list paused approvals")
    n.add_argument("--json", action="store_true")

    t = sub.add_parser(
        "audit",
        help="print the audit trail: requests, votes, decisions, applies, rollouts, failures",
    )
    t.add_argument("--thread", default=None, help="only this thread")
    t.add_argument(
        "--since", default=None, help="a duration (30m, 2h, 7d) or an ISO time (2026-11-25T10:00Z)"
    )
    t.add_argument("--limit", type=int, default=1000, help="newest N entries (default 1000)")
    t.add_argument("--json", action="store_true", help="one JSON object per line")

    d = sub.add_parser(
        "demo",
        help="sandbox walk-through: a production deploy pauses, self-approval is refused, "
        "a second user approves, it is applied",
    )
    d.add_argument("--image", default=None, help="default: the next patch release of api-server")

    sub.add_parser("graph", help="print the graph as Mermaid")
    sub.add_parser("examples", help="run the seed's three scenarios and check their routing")

    b = sub.add_parser("sandbox", help="inspect, reset or serve the sandbox cluster")
    b.add_argument(
        "action",
        choices=["show", "reset", "serve"],
        help="serve: run its Kubernetes API in this process until interrupted",
    )
    b.add_argument("--port", type=int, default=0, help="serve: port (default: a free one)")
    b.add_argument(
        "--kubeconfig", default=None, help="serve: write a kubeconfig for it to this file"
    )

    v = sub.add_parser("serve", help="serve Slack: --http (/slack/events) or --socket")
    mode = v.add_mutually_exclusive_group(required=True)
    mode.add_argument("--http", action="store_true", help="HTTP mode (Events API, production)")
    mode.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    v.add_argument("--port", type=int, default=None, help="HTTP port (default: $PORT or 3000)")
    v.add_argument("--host", default="0.0.0.0", help="HTTP bind address")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return asyncio.run(_dispatch(args, settings))
    except CliError as exc:
        print(f"devops-bot: {exc}", file=sys.stderr)
        return exc.code
    except SettingsError as exc:
        print(f"devops-bot: {exc}", file=sys.stderr)
        return EXIT["bad_input"]
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `devops-bot run ... | head`: the run itself finished
        sys.stderr.close()
        return EXIT["failed"]


# Errors that end a command with one clear line: (module, class) -> (exit code, prefix).
# Matched by name so that `classify` never has to import the graph machinery.
_KNOWN_ERRORS = {
    ("workflow.service", "InputError"): (EXIT["bad_input"], ""),
    ("workflow.service", "RefusedError"): (EXIT["refused"], "refused: "),
    ("workflow.approval.policy", "PolicyError"): (EXIT["bad_input"], ""),
    ("workflow.catalog", "CatalogError"): (EXIT["bad_input"], ""),
    ("workflow.approval.store", "LockTimeoutError"): (EXIT["failed"], ""),
    ("workflow.tools.kubernetes", "KubernetesError"): (EXIT["failed"], ""),
    ("workflow.persistence", "PersistenceError"): (EXIT["failed"], ""),
    ("redis.exceptions", "ConnectionError"): (EXIT["failed"], "lost the connection to Redis: "),
}


def _known_error(exc: BaseException) -> tuple[int, str] | None:
    for (module, name), verdict in _KNOWN_ERRORS.items():
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return verdict
    return None


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return await _COMMANDS[args.command](args, settings)
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        code, prefix = known
        raise CliError(f"{prefix}{exc}", code) from None


# -- commands ----------------------------------------------------------------------------


async def _classify(args: argparse.Namespace, settings: Settings) -> int:
    request, route = await _classify_text(" ".join(args.text), settings)
    out: dict[str, Any] = {
        "task_type": request.task_type,
        "supervisor": route.supervisor if route else None,
        "agent": route.agent if route else None,
        "context": request.context,
        "confidence": request.confidence,
        "source": request.source,
    }
    if request.task_type is None:
        out["hint"] = request.hint
    print(json.dumps(out))
    return EXIT["ok"] if request.task_type else EXIT["bad_input"]


async def _classify_text(text: str, settings: Settings):
    from workflow.catalog import ServiceCatalog, load_catalog
    from workflow.classify import classify
    from workflow.routing import route_for

    if not text.strip():
        raise CliError("empty request: say what to do, e.g. 'deploy api-server:v1.2.3 staging'")
    request = await classify(text, llm=settings.llm())
    if request.task_type is None:
        return request, None
    catalog = (
        load_catalog(settings.devops_bot_catalog)
        if settings.devops_bot_catalog
        else ServiceCatalog(services={})
    )
    service = catalog.canonical_name(request.context.get("service"))
    if service:
        request.context["service"] = service
    pipeline = catalog.harness_pipeline_for(service) if service else None
    return request, route_for(request.task_type, harness_pipeline=pipeline)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    text = " ".join(args.text)
    request, _ = await _classify_text(text, settings)
    if request.task_type is None:
        raise CliError(request.hint or "could not understand the request")
    user = args.user or getpass.getuser()
    sandbox = args.sandbox or settings.devops_bot_sandbox
    context = {**request.context, "sandbox": sandbox}
    structlog.contextvars.bind_contextvars(user=user, task_type=request.task_type)
    async with _service(settings, sandbox=sandbox) as handle:
        if not args.json:
            render.banner(handle)
            print(f"thread: {args.thread or '(new)'}  request: {text!r}  as: {user}")
            print(render.classification(request))
        report = await handle.service.start(
            task_type=request.task_type,
            context=context,
            text=request.text or text,
            requester=user,
            thread_id=args.thread,
            on_progress=None if args.json else render.progress,
        )
        structlog.contextvars.bind_contextvars(thread_id=report.thread_id)
        log.info("run finished", status=report.status)
        render.report(report, as_json=args.json, charts_dir=_charts_dir(settings))
    return _STATUS_EXIT.get(report.status, EXIT["failed"])


async def _vote(args: argparse.Namespace, settings: Settings) -> int:
    structlog.contextvars.bind_contextvars(thread_id=args.thread, user=args.user)
    sandbox = args.sandbox or await _thread_is_sandbox(args.thread, settings)
    async with _service(settings, sandbox=sandbox) as handle:
        service = handle.service
        groups = frozenset(args.groups)
        progress = None if args.json else render.progress
        if not args.json and sandbox:
            render.banner(handle)
        if args.command == "approve":
            report = await service.approve(
                args.thread, args.user, groups=groups, on_progress=progress
            )
        else:
            report = await service.reject(
                args.thread, args.user, args.reason, groups=groups, on_progress=progress
            )
        log.info("vote recorded", decision=args.command, status=report.status)
        render.report(report, as_json=args.json)
    return _STATUS_EXIT.get(report.status, EXIT["failed"])


async def _remediate(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    user = args.user or getpass.getuser()
    structlog.contextvars.bind_contextvars(thread_id=args.thread, user=user)
    sandbox = await _thread_is_sandbox(args.thread, settings)
    async with _service(settings, sandbox=sandbox) as handle:
        if not args.json:
            render.banner(handle)
        report = await handle.service.remediate(
            args.thread, args.step, user, on_progress=None if args.json else render.progress
        )
        render.report(report, as_json=args.json, charts_dir=_charts_dir(settings))
    return _STATUS_EXIT.get(report.status, EXIT["failed"])


async def _incident(args: argparse.Namespace, settings: Settings) -> int:
    from workflow.incident import postmortem_markdown

    async with _service(settings, sandbox=False, kubernetes=False) as handle:
        values = await handle.service.state_of(args.thread)
    if values is None:
        raise CliError(f"unknown thread id {args.thread!r}")
    record = values.get("incident")
    if not record:
        raise CliError(
            f"thread {args.thread} has no incident investigation; start one with "
            'devops-bot run "investigate checkout in production"'
        )
    print(postmortem_markdown(record))
    return EXIT["ok"]


def _charts_dir(settings: Settings):
    return settings.devops_bot_data_dir / "charts"


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    async with _service(settings, sandbox=False, kubernetes=False) as handle:
        report = await handle.service.report(args.thread)
        render.report(report, as_json=args.json)
    return _STATUS_EXIT.get(report.status, EXIT["failed"])


async def _pending(args: argparse.Namespace, settings: Settings) -> int:
    async with _service(settings, sandbox=False, kubernetes=False) as handle:
        items = await handle.service.pending()
    render.pending(items, as_json=args.json)
    return EXIT["ok"]


async def _audit(args: argparse.Namespace, settings: Settings) -> int:
    since = _parse_since(args.since) if args.since is not None else None
    if args.limit <= 0:
        raise CliError(f"--limit must be a positive number, got {args.limit}")
    async with _service(settings, sandbox=False, kubernetes=False) as handle:
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
    if args.action == "reset":  # every piece of sandbox state, whichever agent uses it
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
    async with _service(settings, sandbox=True) as handle:
        render.banner(handle)
        server = handle.sandbox_server
        before = server.snapshot()["production"]["api-server"]["image"]
        text = f"deploy {args.image or _next_patch(before)} prod"
        request, _ = await _classify_text(text, settings)
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
    return _STATUS_EXIT.get(report.status, EXIT["failed"])


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
        await server.run_socket(settings)
    else:
        await server.run_http(settings, port=args.port or settings.port, host=args.host)
    return EXIT["ok"]


_COMMANDS = {
    "serve": _serve,
    "demo": _demo,
    "classify": _classify,
    "run": _run,
    "approve": _vote,
    "reject": _vote,
    "status": _status,
    "remediate": _remediate,
    "incident": _incident,
    "pending": _pending,
    "audit": _audit,
    "graph": _graph,
    "examples": _examples,
    "sandbox": _sandbox,
}


# -- wiring ------------------------------------------------------------------------------


def _options(settings: Settings, *, sandbox: bool):
    return settings.service_options(sandbox=sandbox)


@asynccontextmanager
async def _service(settings: Settings, *, sandbox: bool, kubernetes: bool = True):
    from workflow.assembly import open_service

    options = _options(settings, sandbox=sandbox)
    if not kubernetes:
        options.kubernetes = options.operations = False
    async with open_service(options) as handle:
        yield handle


async def _thread_is_sandbox(thread_id: str, settings: Settings) -> bool:
    """Whether the thread was started with --sandbox (its apply must go there too)."""
    async with _service(settings, sandbox=False, kubernetes=False) as handle:
        values = await handle.service.state_of(thread_id)
    return bool(values and (values.get("context") or {}).get("sandbox"))
