"""How the CLI shows a run to a person: routing, progress, the approval request, results.

A result's parts (`workflow.parts`) are printed by one renderer per kind (`RENDERERS`; no
agent is named here): text as is, tables aligned, files listed with their text (or written
under `--out DIR`), charts drawn as PNG files, an incident's findings as the commands that
act on them, a plan's preview indented. A plan's files are shown with the approval request
and written under `--out DIR` too. `--json` prints the report, parts and files included.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow import parts

__all__ = [
    "RENDERERS",
    "banner",
    "classification",
    "pending",
    "progress",
    "report",
    "write_files",
]

FILE_LINES_SHOWN = 20  # of each plan file with the approval request (the rest: --out)


def banner(handle: Any) -> None:
    if handle.sandbox_url:
        print(
            f"SANDBOX: simulated Kubernetes cluster at {handle.sandbox_url} (not a real "
            "cluster; its state is kept in the data directory)"
        )
    print(f"state: {handle.persistence} ({handle.where}); policy: {handle.policy_source}")


def classification(request: Any) -> str:
    ctx = ", ".join(f"{k}={v}" for k, v in request.context.items())
    return f"classified: {request.task_type} ({request.source}, {request.confidence:.2f}) {ctx}"


def progress(node: str, update: dict[str, Any]) -> None:
    if update.get("evidence"):
        print(f"  found  {update['evidence']}: {update.get('summary', '')}")
    if update.get("progress"):  # a step of long work (a pipeline execution's stages)
        print(f"  ...    {update['progress']}")
    for step in update.get("routing_trace", []) or []:
        print(f"  route  {step['node']} -> {step['target']}  ({step['reason']})")
    for agent, result in (update.get("subagent_results") or {}).items():
        first, *more = (result["summary"] or "").splitlines() or [""]
        print(f"  agent  {agent}: {result['status']}: {first}{' …' if more else ''}")
        for warning in result.get("warnings", []):
            print(f"         warning: {warning}")
    for agent, outcome in (update.get("reflection_outcomes") or {}).items():
        risks = ", ".join(outcome["risks"]) or "none"
        line = (
            f"  check  reflection on {agent}: quality {outcome['quality']}, "
            f"{outcome['completeness']}, risks: {risks}"
        )
        if outcome.get("approval_reasons"):
            line += "; approval needed: " + "; ".join(outcome["approval_reasons"])
        print(line)
    signals = update.get("context_signals") or {}
    if signals.get("needs_retry"):
        print(
            f"  retry  attempt {signals['recent_failure_count'] + 1} "
            f"(failed so far: {', '.join(signals['last_failure_agents'])})"
        )
    if node == "apply" and update.get("outcome"):
        print(f"  apply  {update['outcome']['summary']}")


def _approvers(request: dict[str, Any]) -> str:
    who = request.get("required_approvers") or {}
    names = list(who.get("users", [])) + [f"group {g}" for g in who.get("groups", [])]
    return ", ".join(names) or "nobody (no approvers configured for this environment)"


def report(
    report: Any, *, as_json: bool, charts_dir: Path | None = None, out_dir: Path | None = None
) -> None:
    """The report; `out_dir` (`--out DIR`): write its files and charts there."""
    shown = parts.parts_of(report.result) if report.status == "done" else []
    plan_files = parts.plan_files((report.approval or {}).get("files"))
    if as_json:
        if out_dir is not None:
            write_files(out_dir, plan_files + [p for p in shown if p["kind"] == "file"])
        print(json.dumps(report.as_dict(), default=str))
        return
    print(f"thread: {report.thread_id}")
    if report.status == "awaiting_approval":
        _approval(report, plan_files, out_dir)
        return
    label = {
        "done": "DONE",
        "applied": "APPLIED",
        "failed": "FAILED",
        "rejected": "REJECTED",
        "expired": "EXPIRED",
    }.get(report.status, report.status.upper())
    print(f"{label}: {report.summary}")
    where = _Terminal(report.thread_id, charts=out_dir or charts_dir, out=out_dir)
    for part in shown:
        RENDERERS[part["kind"]](where, part)
    if plan_files and out_dir is not None:
        for path in write_files(out_dir, plan_files):
            print(f"  file   {path}")


def _approval(report: Any, plan_files: list[dict[str, Any]], out_dir: Path | None) -> None:
    r = report.approval
    votes = [v["user"] for v in r.get("votes", []) if v["decision"] == "approve"]
    self_rule = "allowed" if r.get("allow_self_approval") else "not allowed"
    print(
        f"\nAPPROVAL REQUIRED ({r['id']}): {r['action']} {r['target']} "
        f"({len(votes)}/{r['min_approvals']} approvals)"
    )
    print(f"  environment: {r.get('environment')}   namespace: {r.get('namespace')}")
    print(f"  requested by: {r['requester']}   at {r['requested_at']}")
    print(f"  why: {'; '.join(r.get('reasons', []))}")
    print(f"  risk tags: {', '.join(r.get('risk_tags', [])) or 'none'}")
    print(f"  plan hash: {r['plan_hash']}")
    print(
        f"  approvers: {_approvers(r)}; {r['min_approvals']} needed "
        f"(so far: {', '.join(votes) or 'none'}); self-approval {self_rule}"
    )
    print(f"  expires: {r['expires_at']}")
    print("  preview:")
    print(textwrap.indent(r.get("preview", "").rstrip(), "    "))
    if plan_files:
        print(f"  files ({len(plan_files)}):")
        for f in plan_files:
            lines = f["content"].splitlines()
            print(f"    {f['path']} ({len(lines)} lines, {f['media_type']})")
            print(textwrap.indent("\n".join(lines[:FILE_LINES_SHOWN]), "      "))
            if len(lines) > FILE_LINES_SHOWN:
                hint = "" if out_dir else "; --out DIR writes the whole file"
                print(f"      … {len(lines) - FILE_LINES_SHOWN} more line(s){hint}")
        if out_dir is not None:
            for path in write_files(out_dir, plan_files):
                print(f"  file   {path}")
    print(
        f"\nnothing has changed yet. approve: devops-bot approve {report.thread_id} "
        f"--as USER\n  reject: devops-bot reject {report.thread_id} --as USER "
        "--reason TEXT"
    )


def write_files(folder: Path, files: list[dict[str, Any]]) -> list[Path]:
    """Write each file part under `folder`; a path that would land outside it (`..`, an
    absolute path, a symlink out of it) raises `PartError` before anything is written."""
    root = folder.resolve()
    targets = []
    for f in files:
        target = (root / parts.check_path(f["path"])).resolve()
        if not target.is_relative_to(root) or target == root:
            raise parts.PartError(f"file path {f['path']!r} would be written outside {folder}")
        targets.append((target, f))
    written = []
    for target, f in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(parts.file_bytes(f))
        written.append(target)
    return written


@dataclass(frozen=True)
class _Terminal:
    thread_id: str
    charts: Path | None = None  # where charts are drawn (none: listed only)
    out: Path | None = None  # --out DIR: where files are written


def _print_text(where: _Terminal, part: dict[str, Any]) -> None:
    print()
    print(part.get("body", "").rstrip())


def _print_table(where: _Terminal, part: dict[str, Any]) -> None:
    print(f"  {part.get('title', '')}")
    for line in parts.table_lines(part, max_cell=80):
        print(f"    {line}")


def _print_file(where: _Terminal, part: dict[str, Any]) -> None:
    if where.out is not None:
        for path in write_files(where.out, [part]):
            print(f"  file   {path}")
        return
    if part.get("encoding") == "base64":
        size = len(parts.file_bytes(part))
        print(f"  file   {part['path']} ({size} bytes; --out DIR writes it)")
        return
    lines = part.get("content", "").splitlines()
    print(f"  file   {part['path']} ({len(lines)} lines; --out DIR writes it)")
    print()
    print(part.get("content", "").rstrip())


def _print_chart(where: _Terminal, part: dict[str, Any]) -> None:
    """A PNG drawn from the points the backend returned, when there is a folder for it."""
    if where.charts is None:
        print(f"  chart  {part.get('title')} (not drawn: no folder for charts)")
        return
    from workflow.tools.charts import ChartsUnavailable, render_chart
    from workflow.tools.prometheus import MetricResult

    try:
        png = render_chart(MetricResult.model_validate(part["metric"]), title=part.get("title"))
    except ChartsUnavailable as exc:
        print(f"  chart  {part.get('title')} (not drawn: {exc})")
        return
    where.charts.mkdir(parents=True, exist_ok=True)
    n = len(list(where.charts.glob(f"{_safe(where.thread_id)}-*.png"))) + 1
    path = where.charts / f"{_safe(where.thread_id)}-{n}-{_safe(part.get('name', 'metric'))}.png"
    path.write_bytes(png)
    print(f"  chart  {path}")


def _print_findings(where: _Terminal, part: dict[str, Any]) -> None:
    remediations = (part.get("incident") or {}).get("remediations") or {}
    if remediations:
        first = next(iter(remediations))
        print(
            f"\nrun a remediation (it goes through the approval policy): "
            f"devops-bot remediate {where.thread_id} {first} --as USER"
        )
        print(f"postmortem draft: devops-bot incident summary {where.thread_id}")


def _print_preview(where: _Terminal, part: dict[str, Any]) -> None:
    print(f"  {part.get('title') or 'preview'}:")
    print(textwrap.indent(part.get("body", "").rstrip(), "    "))


def _safe(name: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


# kind -> printer: every kind once.
RENDERERS: dict[str, Callable[[_Terminal, dict[str, Any]], None]] = {
    "text": _print_text,
    "table": _print_table,
    "file": _print_file,
    "chart": _print_chart,
    "findings": _print_findings,
    "preview": _print_preview,
}
assert set(RENDERERS) == set(parts.KINDS), "a part kind without its terminal renderer"


def pending(items: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(items, default=str))
        return
    if not items:
        print("no approvals are pending")
        return
    for item in items:
        flag = " EXPIRED" if item.get("expired") else ""
        print(
            f"{item['thread_id']}  {item['action']} {item['target']}  env={item['environment']}"
            f"  by {item['requester']}  approvals {len(item.get('approvals', []))}/"
            f"{item.get('min_approvals')}  expires {item['expires_at']}{flag}"
        )
