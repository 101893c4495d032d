"""The commands about one request: classify, run, approve/reject, remediate, incident, status,
pending."""

from __future__ import annotations

import argparse
import json
from typing import Any

import structlog

from bot import render
from bot.cli_common import EXIT, STATUS_EXIT, CliError, log, out_dir, service_for, thread_is_sandbox
from bot.settings import Settings

__all__ = ["classify_text", "commands"]


async def _classify(args: argparse.Namespace, settings: Settings) -> int:
    request, route = await classify_text(" ".join(args.text), settings)
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


async def classify_text(text: str, settings: Settings):
    from workflow.assembly import service_catalog
    from workflow.classify import classify
    from workflow.routing import route_for

    if not text.strip():
        raise CliError("empty request: say what to do, e.g. 'deploy api-server:v1.2.3 staging'")
    request = await classify(text, llm=settings.llm())
    if request.task_type is None:
        return request, None
    catalog = service_catalog(settings.devops_bot_catalog, sandbox=settings.devops_bot_sandbox)
    service = catalog.canonical_name(request.context.get("service"))
    if service:
        request.context["service"] = service
    pipeline = catalog.harness_pipeline_for(service) if service else None
    return request, route_for(request.task_type, harness_pipeline=pipeline)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    text = " ".join(args.text)
    request, _ = await classify_text(text, settings)
    if request.task_type is None:
        raise CliError(request.hint or "could not understand the request")
    user = args.user or getpass.getuser()
    sandbox = args.sandbox or settings.devops_bot_sandbox
    context = {**request.context, "sandbox": sandbox}
    if args.spec:
        context.update(_spec_file(args.spec))
    structlog.contextvars.bind_contextvars(user=user, task_type=request.task_type)
    async with service_for(settings, sandbox=sandbox) as handle:
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
        render.report(
            report,
            as_json=args.json,
            charts_dir=_charts_dir(settings),
            out_dir=out_dir(args.out),
        )
    return STATUS_EXIT.get(report.status, EXIT["failed"])


def _spec_file(path: str) -> dict[str, str]:
    """`--spec FILE`: the document's text in the run's context, as a file uploaded in Slack."""
    from pathlib import Path

    from workflow.agents.codegen_agent.documents import MAX_DOCUMENT_BYTES

    file = Path(path)
    try:
        if file.stat().st_size > MAX_DOCUMENT_BYTES:
            raise CliError(f"{path}: over {MAX_DOCUMENT_BYTES} bytes")
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text (an OpenAPI document is JSON or YAML)") from None
    return {"spec_text": text, "spec_name": file.name}


async def _vote(args: argparse.Namespace, settings: Settings) -> int:
    structlog.contextvars.bind_contextvars(thread_id=args.thread, user=args.user)
    sandbox = args.sandbox or await thread_is_sandbox(args.thread, settings)
    async with service_for(settings, sandbox=sandbox) as handle:
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
        render.report(report, as_json=args.json, out_dir=out_dir(args.out))
    return STATUS_EXIT.get(report.status, EXIT["failed"])


async def _remediate(args: argparse.Namespace, settings: Settings) -> int:
    import getpass

    user = args.user or getpass.getuser()
    structlog.contextvars.bind_contextvars(thread_id=args.thread, user=user)
    sandbox = await thread_is_sandbox(args.thread, settings)
    async with service_for(settings, sandbox=sandbox) as handle:
        if not args.json:
            render.banner(handle)
        report = await handle.service.remediate(
            args.thread, args.step, user, on_progress=None if args.json else render.progress
        )
        render.report(
            report,
            as_json=args.json,
            charts_dir=_charts_dir(settings),
            out_dir=out_dir(args.out),
        )
    return STATUS_EXIT.get(report.status, EXIT["failed"])


async def _incident(args: argparse.Namespace, settings: Settings) -> int:
    from workflow.incident import postmortem_markdown

    async with service_for(settings, sandbox=False, kubernetes=False) as handle:
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
    async with service_for(settings, sandbox=False, kubernetes=False) as handle:
        report = await handle.service.report(args.thread)
        render.report(report, as_json=args.json, out_dir=out_dir(args.out))
    return STATUS_EXIT.get(report.status, EXIT["failed"])


async def _pending(args: argparse.Namespace, settings: Settings) -> int:
    async with service_for(settings, sandbox=False, kubernetes=False) as handle:
        items = await handle.service.pending()
    render.pending(items, as_json=args.json)
    return EXIT["ok"]


commands = {
    "classify": _classify,
    "run": _run,
    "approve": _vote,
    "reject": _vote,
    "status": _status,
    "remediate": _remediate,
    "incident": _incident,
    "pending": _pending,
}
