"""How the CLI shows a run to a person: routing, progress, the approval request, results."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

__all__ = ["banner", "classification", "pending", "progress", "report"]


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


def report(report: Any, *, as_json: bool, charts_dir: Path | None = None) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), default=str))
        return
    print(f"thread: {report.thread_id}")
    if report.status == "awaiting_approval":
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
        print(
            f"\nnothing has changed yet. approve: devops-bot approve {report.thread_id} "
            f"--as USER\n  reject: devops-bot reject {report.thread_id} --as USER "
            "--reason TEXT"
        )
        return
    label = {
        "done": "DONE",
        "applied": "APPLIED",
        "failed": "FAILED",
        "rejected": "REJECTED",
        "expired": "EXPIRED",
    }.get(report.status, report.status.upper())
    print(f"{label}: {report.summary}")
    output = (report.result or {}).get("output") or {}
    if report.status == "done" and "status" in output:
        _print_status(output["status"])
    if report.status == "done" and output.get("metrics") and charts_dir is not None:
        _write_charts(output["metrics"], charts_dir, report.thread_id)
    if report.status == "done" and output.get("markdown"):
        print()
        print(output["markdown"])
    incident = output.get("incident") or {}
    if report.status == "done" and incident.get("remediations"):
        first = next(iter(incident["remediations"]))
        print(
            f"\nrun a remediation (it goes through the approval policy): "
            f"devops-bot remediate {report.thread_id} {first} --as USER"
        )
        print(f"postmortem draft: devops-bot incident summary {report.thread_id}")


def _write_charts(metrics: list[dict[str, Any]], folder: Path, thread_id: str) -> None:
    """One PNG per metric result, drawn from the points Prometheus returned."""
    from workflow.tools.charts import render_chart
    from workflow.tools.prometheus import MetricResult

    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", thread_id)
    for n, data in enumerate(metrics, 1):
        png = render_chart(MetricResult.model_validate(data), title=data.get("title", "metric"))
        path = folder / f"{safe}-{n}-{data.get('name', 'metric')}.png"
        path.write_bytes(png)
        print(f"  chart  {path}")


def _print_status(status: dict[str, Any]) -> None:
    for pod in status.get("pods", [])[:10]:
        reason = f" {pod['reason']}" if pod.get("reason") else ""
        print(
            f"  pod {pod['name']}: {pod.get('phase')} ready={pod.get('ready')} "
            f"restarts={pod.get('restart_count', pod.get('restarts', 0))}{reason}"
        )
    for event in status.get("events", [])[-5:]:
        print(f"  event {event.get('type')} {event.get('reason')}: {event.get('message')}")


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
