"""Follow a pipeline execution the apply started, to its end, and give the run its word.

Each stage's status change is reported as progress (the Slack status message and the CLI
print it as it happens). The execution ends the run when it is final: Success ("applied"),
Failed (the failed stage and Harness's message), Aborted or Expired ("failed"); when it waits
on Harness's own approval step the thread says so with the link and stops following (the
approval is given in Harness). Following is bounded by HARNESS_FOLLOW_TIMEOUT; after that
the thread says the execution is still running, with its link. A restarted bot runs this
again (it only reads).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from workflow.agents.harness_expert.client import BACKEND, Execution, HarnessClient, HarnessError
from workflow.deps import WorkflowDeps

__all__ = ["follow_execution", "until_settled"]

_READ_FAILURES = 5  # consecutive failed reads before following gives up


def _writer() -> Any:
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except (RuntimeError, ImportError):  # called outside a graph run
        return lambda _chunk: None


async def follow_execution(applied: dict[str, Any], deps: WorkflowDeps) -> dict[str, Any]:
    result = dict(applied.get("result") or {})
    voters = applied.get("approved_by") or []
    by = f", approved by {', '.join(voters)}" if voters else ""
    head = f"{applied.get('action')} of {applied.get('target')}"
    base = {
        **{k: v for k, v in applied.items() if k not in {"summary", "status", "result"}},
        "stage": "rolled_out",
        "applied_summary": applied.get("summary"),
    }
    client: HarnessClient | None = deps.backend(BACKEND)
    url = result.get("url", "")
    if client is None:
        why = deps.why_missing(BACKEND)
        summary = f"started {head}, but its execution cannot be followed: {why}; see {url}"
        return {**base, "status": "failed", "summary": summary, "result": result}
    execution, why = await until_settled(client, str(result.get("execution")))
    if execution is None:
        summary = f"started {head}{by}, but following its execution failed ({why}); see {url}"
        return {**base, "status": "failed", "summary": summary, "result": result}
    result.update(
        status=execution.status,
        run=execution.run_sequence,
        stages=[{k: s[k] for k in ("name", "status")} for s in execution.stages],
    )
    run = f"execution #{execution.run_sequence}" if execution.run_sequence else "the execution"
    link = execution.url or url
    if execution.status == "Success":
        summary = f"{head}: {run} succeeded on {client.label}{by}: {link}"
        return {**base, "status": "applied", "summary": summary, "result": result}
    if execution.waiting:
        stage = next((s for s in execution.stages if s["status"] == execution.status), None)
        step = f" ({stage['name']})" if stage else ""
        summary = (
            f"{head}: {run} is waiting on Harness's own approval step{step}; approve or reject "
            f"it in Harness: {link}"
        )
        return {**base, "status": "applied", "summary": summary, "result": result}
    if not execution.final:
        summary = (
            f"{head}: {run} is still {execution.status} after "
            f"{client.config.follow_timeout:g} s; no longer followed here, follow it at {link}"
        )
        return {**base, "status": "applied", "summary": summary, "result": result}
    failed = execution.failed_stage()
    if failed:
        message = failed.get("failure") or execution.failure or "no message"
        why = f"failed at stage {failed['name']}: {message}"
    else:
        why = execution.status.lower()
        if execution.failure:
            why += f": {execution.failure}"
    summary = f"{head}: {run} {why}{by}: {link}"
    return {**base, "status": "failed", "summary": summary, "result": result}


async def until_settled(client: HarnessClient, execution_id: str) -> tuple[Execution | None, str]:
    """Poll the execution until it is final, waits on a person, or the time is up; stage
    changes are written to the run's progress stream."""
    write = _writer()
    deadline = time.monotonic() + client.config.follow_timeout
    seen: dict[str, str] = {}
    failures = 0
    execution: Execution | None = None
    while True:
        try:
            execution = await client.execution(execution_id)
            failures = 0
        except HarnessError as exc:
            failures += 1
            if failures >= _READ_FAILURES or not exc.retryable:
                return None, exc.message
        if execution is not None:
            for stage in execution.stages:
                if seen.get(stage["identifier"]) != stage["status"]:
                    seen[stage["identifier"]] = stage["status"]
                    line = f"stage {stage['name']}: {stage['status']}"
                    if stage.get("failure"):
                        line += f" ({stage['failure']})"
                    write({"progress": line})
            if execution.final or execution.waiting or time.monotonic() >= deadline:
                return execution, ""
        await asyncio.sleep(client.poll_interval)
