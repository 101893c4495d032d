"""A service's unit tests as a Kubernetes Job (catalog `unit_tests: {image, command}`).

The Job runs in the service's namespace with a deadline (activeDeadlineSeconds, from the
catalog's `deadline_s`), no retry (backoffLimit 0) and ttlSecondsAfterFinished, so the cluster
removes it after a while. It is followed to its end (Complete / Failed / deadline), bounded
by the deadline plus a margin on this side too, progress written to the thread; then
passed/failed/skipped are read from its pod's log: pytest's summary line, or a JUnit XML
report printed on stdout.

Running a Job is a write: it is planned (the manifest previewed) and applied per policy.
Re-applying the same plan finds the Job already created and follows it (idempotent).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

__all__ = ["JobRun", "UnitTestError", "job_manifest", "parse_results", "run_test_job"]

TTL_S = 3600  # ttlSecondsAfterFinished: the finished Job stays an hour for a look, then goes
MARGIN_S = 60  # followed this much past the Job's own deadline before giving up
LOG_LINES = 400

_PYTEST = re.compile(r"^=+ (?P<counts>.*?\d+ (?:passed|failed|skipped|errors?|deselected).*?)"
                     r" in [\d.]+s(?: \([^)]*\))? =+$", re.M)  # fmt: skip
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)")
_SUITE = re.compile(r"<testsuites?\b([^>]*)>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


class UnitTestError(Exception):
    """The Job could not be created or followed; the message is safe to show."""


@dataclass
class JobRun:
    name: str
    namespace: str
    outcome: str  # passed | failed | deadline | gave up
    passed: int | None = None
    failed: int | None = None
    skipped: int | None = None
    source: str = ""  # pytest summary | JUnit XML | none
    seconds: float = 0.0
    log_tail: list[str] = field(default_factory=list)
    pod: str | None = None

    def counts(self) -> str:
        if self.passed is None:
            return "no test counts in the log"
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def job_manifest(
    name: str, namespace: str, service: str, image: str, command: list[str], deadline_s: int
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": service,
                "app.kubernetes.io/component": "unit-tests",
                "app.kubernetes.io/managed-by": "devops-bot",
            },
        },
        "spec": {
            "activeDeadlineSeconds": int(deadline_s),
            "ttlSecondsAfterFinished": TTL_S,
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "unit-tests"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "unit-tests", "image": image, "command": command}],
                },
            },
        },
    }


def parse_results(log: str) -> tuple[dict[str, int] | None, str]:
    """{passed, failed, skipped} from pytest's summary line or a printed JUnit XML report."""
    summary = _PYTEST.findall(log)
    if summary:
        found = {"passed": 0, "failed": 0, "skipped": 0}
        for number, word in _COUNT.findall(summary[-1]):
            key = {"error": "failed", "errors": "failed", "xpassed": "passed"}.get(word, word)
            if key in found:
                found[key] += int(number)
        return found, "pytest summary"
    suite = _SUITE.search(log)
    if suite:
        attrs = dict(_ATTR.findall(suite.group(1)))
        try:
            tests = int(attrs.get("tests", "0"))
            failed = int(attrs.get("failures", "0")) + int(attrs.get("errors", "0"))
            skipped = int(attrs.get("skipped", attrs.get("skips", "0")))
        except ValueError:
            return None, "none"
        return {"passed": tests - failed - skipped, "failed": failed, "skipped": skipped}, (
            "JUnit XML"
        )
    return None, "none"


def _state(job: Job) -> str | None:
    for condition in (job.status.conditions or []) if job.status else []:
        if condition.status != "True":
            continue
        if condition.type == "Complete":
            return "complete"
        if condition.type == "Failed":
            return "deadline" if condition.reason == "DeadlineExceeded" else "failed"
    return None


async def run_test_job(
    client: Any,
    manifest: dict[str, Any],
    *,
    poll_s: float = 2.0,
    progress: Callable[[str], None] | None = None,
) -> JobRun:
    """Create the Job (or find it, on a retried apply), follow it to its end, read its log."""
    name = manifest["metadata"]["name"]
    namespace = manifest["metadata"]["namespace"]
    say = progress or (lambda _line: None)
    started = time.monotonic()
    try:
        await client.create(Job.from_dict(manifest), namespace=namespace)
        say(f"created Job {namespace}/{name}")
    except ApiError as exc:
        if exc.status.code != 409:
            raise UnitTestError(
                f"the Job {name} could not be created in {namespace}: {exc.status.message}"
            ) from None
        say(f"Job {namespace}/{name} already exists (a retried apply): following it")
    bound = float(manifest["spec"]["activeDeadlineSeconds"]) + MARGIN_S
    state, last = None, ""
    while state is None:
        try:
            job = await client.get(Job, name, namespace=namespace)
        except ApiError as exc:
            raise UnitTestError(f"the Job {name} could not be read: {exc.status.message}") from None
        state = _state(job)
        active = (job.status.active or 0) if job.status else 0
        now = "running" if active else "waiting for its pod"
        if state is None and now != last:
            say(f"Job {name}: {now}")
            last = now
        if state is None:
            if time.monotonic() - started > bound:
                state = "gave up"
                break
            await asyncio.sleep(poll_s)
    seconds = time.monotonic() - started
    pod_name, lines = None, []
    try:
        async for pod in client.list(Pod, namespace=namespace, labels={"job-name": name}):
            pod_name = pod.metadata.name
        if pod_name:
            async for line in client.log(pod_name, namespace=namespace, tail_lines=LOG_LINES):
                lines.append(line.rstrip("\n"))
    except ApiError as exc:
        raise UnitTestError(
            f"the log of Job {name} could not be read: {exc.status.message}"
        ) from None
    counts, source = parse_results("\n".join(lines))
    outcome = {"complete": "passed", "failed": "failed"}.get(state or "", state or "gave up")
    if counts is not None and counts["failed"]:
        outcome = "failed"
    run = JobRun(name, namespace, outcome, source=source, seconds=seconds, pod=pod_name,
                 log_tail=lines[-20:])  # fmt: skip
    if counts is not None:
        run.passed, run.failed, run.skipped = counts["passed"], counts["failed"], counts["skipped"]
    say(f"Job {name}: {outcome} ({run.counts()})")
    return run
