"""batch/v1 Jobs in the sandbox cluster: the minimum a test run needs, honestly simulated.

Nothing runs: a Job created here gets one pod (labels `job-name`, `controller-uid`) that is
Pending, then Running for `JOB_SECONDS`, then Succeeded or Failed. Its log is a test report
whose numbers are derived from the image and the command (the same Job always gives the same
result) and whose first line says it is simulated. A command or image naming `fail` or
`broken` fails 2 tests. `activeDeadlineSeconds` shorter than the run ends it with
DeadlineExceeded; `ttlSecondsAfterFinished` deletes the Job and its pod once it has passed.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from typing import Any

from workflow.sandbox.kube.common import _iso
from workflow.sandbox.kube.errors import _already_exists, _invalid, _not_found

__all__ = ["JOB_SECONDS", "create_job", "find_job_pod", "get_job", "job_log", "job_pods"]

JOB_SECONDS = 1.0  # how long a sandbox test Job "runs"
SIMULATED = "[sandbox] simulated test run: no container ran; the numbers derive from the image"


def _bucket(cluster: Any, namespace: str) -> dict[str, dict]:
    return cluster.data.setdefault("jobs", {}).setdefault(namespace, {})


def _command(job: dict) -> tuple[str, str]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    return str(container.get("image") or ""), " ".join(str(w) for w in words)


def result_of(image: str, command: str) -> tuple[int, int, int]:
    """(passed, failed, skipped) of a sandbox run: deterministic in the image and command."""
    digest = int(hashlib.sha256(f"{image}\n{command}".encode()).hexdigest()[:8], 16)
    failed = 2 if any(w in f"{image} {command}".lower() for w in ("fail", "broken")) else 0
    return 20 + digest % 40, failed, digest % 4


def _phase(job: dict, now: float) -> str:
    started = job["_sandbox"]["created"]
    deadline = job["spec"].get("activeDeadlineSeconds")
    if deadline is not None and now - started >= float(deadline) and JOB_SECONDS > deadline:
        return "DeadlineExceeded"
    if now - started < JOB_SECONDS:
        return "Pending" if now - started < JOB_SECONDS / 4 else "Running"
    image, command = _command(job)
    return "Failed" if result_of(image, command)[1] else "Succeeded"


def _finished_at(job: dict) -> float:
    started = job["_sandbox"]["created"]
    deadline = job["spec"].get("activeDeadlineSeconds")
    if deadline is not None and JOB_SECONDS > float(deadline):
        return started + float(deadline)
    return started + JOB_SECONDS


def _collect(cluster: Any, now: float) -> None:
    """ttlSecondsAfterFinished: finished Jobs (and their pods) deleted once it has passed."""
    for bucket in list((cluster.data.get("jobs") or {}).values()):
        for name, job in list(bucket.items()):
            ttl = job["spec"].get("ttlSecondsAfterFinished")
            if ttl is None or _phase(job, now) in ("Pending", "Running"):
                continue
            if now >= _finished_at(job) + float(ttl):
                del bucket[name]
                cluster.dirty = True


def create_job(cluster: Any, namespace: str, body: dict, *, dry_run: bool, now: float) -> dict:
    cluster._require_namespace(namespace)
    meta = body.get("metadata") or {}
    name = meta.get("name")
    containers = ((body.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    causes = []
    if not name:
        causes.append(("metadata.name", "Required value: name is required"))
    if not containers or not containers[0].get("image"):
        causes.append(("spec.template.spec.containers[0].image", "Required value"))
    if causes:
        raise _invalid("Job", "batch", name or "", causes)
    _collect(cluster, now)
    bucket = _bucket(cluster, namespace)
    if name in bucket:
        raise _already_exists("jobs", "batch", name)
    job = copy.deepcopy(body)
    job.update({"apiVersion": "batch/v1", "kind": "Job"})
    job["metadata"] = {
        **meta,
        "namespace": namespace,
        "uid": str(uuid.uuid4()),
        "creationTimestamp": _iso(now),
        "labels": {**(meta.get("labels") or {}), "job-name": name},
    }
    job["_sandbox"] = {"created": now}
    if dry_run:
        return render_job(job, now)
    job["metadata"]["resourceVersion"] = cluster._next_rv()
    bucket[name] = job
    cluster.dirty = True
    return render_job(job, now)


def render_job(job: dict, now: float) -> dict:
    out = {k: copy.deepcopy(v) for k, v in job.items() if k != "_sandbox"}
    phase = _phase(job, now)
    status: dict[str, Any] = {"startTime": _iso(job["_sandbox"]["created"])}
    if phase in ("Pending", "Running"):
        status["active"] = 1
    else:
        done = _iso(_finished_at(job))
        kind, reason = {
            "Succeeded": ("Complete", None),
            "Failed": ("Failed", "BackoffLimitExceeded"),
            "DeadlineExceeded": ("Failed", "DeadlineExceeded"),
        }[phase]
        status["succeeded" if phase == "Succeeded" else "failed"] = 1
        if phase == "Succeeded":
            status["completionTime"] = done
        condition = {"type": kind, "status": "True", "lastTransitionTime": done}
        if reason:
            condition["reason"] = reason
            condition["message"] = (
                "Job was active longer than specified deadline"
                if reason == "DeadlineExceeded"
                else "Job has reached the specified backoff limit"
            )
        status["conditions"] = [condition]
    out["status"] = status
    return out


def get_job(cluster: Any, namespace: str, name: str, now: float) -> dict:
    _collect(cluster, now)
    job = _bucket(cluster, namespace).get(name)
    if job is None:
        raise _not_found("jobs", "batch", name)
    return render_job(job, now)


def _pod_of(job: dict, now: float) -> dict:
    name = job["metadata"]["name"]
    suffix = job["metadata"]["uid"].replace("-", "")[:5]
    phase = _phase(job, now)
    pod_phase = {"DeadlineExceeded": "Failed"}.get(phase, phase)
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-{suffix}",
            "namespace": job["metadata"]["namespace"],
            "uid": f"{job['metadata']['uid'][:-5]}pod00",
            "creationTimestamp": job["metadata"]["creationTimestamp"],
            "labels": {"job-name": name, "controller-uid": job["metadata"]["uid"]},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": name,
                    "uid": job["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [copy.deepcopy(container)], "restartPolicy": "Never"},
        "status": {
            "phase": pod_phase,
            "containerStatuses": [
                {
                    "name": container.get("name", "test"),
                    "ready": False,
                    "restartCount": 0,
                    "image": container["image"],
                    "imageID": "",
                }
            ],
        },
    }


def job_pods(cluster: Any, namespace: str | None, now: float) -> list[dict]:
    _collect(cluster, now)
    jobs = cluster.data.get("jobs") or {}
    spaces = [namespace] if namespace is not None else sorted(jobs)
    return [_pod_of(j, now) for ns in spaces for j in (jobs.get(ns) or {}).values()]


def find_job_pod(cluster: Any, namespace: str, name: str, now: float) -> dict | None:
    return next((p for p in job_pods(cluster, namespace, now)
                 if p["metadata"]["name"] == name), None)  # fmt: skip


def job_log(cluster: Any, pod: dict, now: float) -> list[tuple[float, str]]:
    job = _bucket(cluster, pod["metadata"]["namespace"])[pod["metadata"]["labels"]["job-name"]]
    started = job["_sandbox"]["created"]
    phase = _phase(job, now)
    if phase == "Pending":
        return []
    image, command = _command(job)
    lines = [(started, SIMULATED), (started, f"$ {command or '(the image entrypoint)'}")]
    if phase == "Running" or phase == "DeadlineExceeded":
        return [*lines, (started, "collecting ...")]
    passed, failed, skipped = result_of(image, command)
    seconds = 1.0 + (passed % 7) / 3
    counts = [f"{failed} failed"] if failed else []
    counts += [f"{passed} passed"] + ([f"{skipped} skipped"] if skipped else [])
    end = _finished_at(job)
    body = [(end, f"FAILED tests/test_sandbox.py::test_case_{i} - AssertionError") for i in
            range(1, failed + 1)]  # fmt: skip
    return [*lines, *body, (end, f"========== {', '.join(counts)} in {seconds:.2f}s ==========")]
