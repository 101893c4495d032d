"""Pods as the kubelet would report them: container status, events and logs.

A pod's state is derived from its creation time, when it becomes ready and its image's
fault (`common._image_fault`), so the same pod reads the same on every request.
"""

from __future__ import annotations

import copy
import hashlib
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from workflow.sandbox.kube.common import _image_fault, _image_tag, _iso
from workflow.sandbox.kube.errors import _bad_request
from workflow.sandbox.kube.store import _Store

# A `slow` pod logs one request every this many seconds, for at most the last hour.
_SLOW_LOG_INTERVAL = 15.0
_SLOW_LOG_SPAN = 3600.0


def _oom_interval(period: float) -> float:
    """Seconds between two OOM kills of an `oom` container."""
    return max(period, 0.01) * 4


class _Kubelet(_Store):
    # -- pods and events as the kubelet would report them

    def render_pod(self, pod: dict, now: float) -> dict:
        period = self.rollout_seconds
        out = {k: copy.deepcopy(v) for k, v in pod.items() if k != "_rt"}
        rt = pod["_rt"]
        statuses = [
            _container_status(pod, c, now, period) for c in pod["spec"].get("containers", [])
        ]
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        started = any(s.get("started") or s["restartCount"] for s in statuses)
        phase = "Running" if started else "Pending"
        created = _iso(rt["created"])
        ready_status = "True" if all_ready else "False"
        out["status"] = {
            "phase": phase,
            "hostIP": "10.0.0.11",
            "podIP": rt["ip"],
            "podIPs": [{"ip": rt["ip"]}],
            "startTime": created,
            "qosClass": "Burstable",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": created},
                {"type": "Initialized", "status": "True", "lastTransitionTime": created},
                {"type": "ContainersReady", "status": ready_status, "lastTransitionTime": created},
                {"type": "Ready", "status": ready_status, "lastTransitionTime": created},
            ],
            "containerStatuses": statuses,
        }
        if not all_ready:
            for cond in out["status"]["conditions"][2:]:
                waiting = [s["name"] for s in statuses if not s["ready"]]
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{' '.join(waiting)}]"
        return out

    def pod_events(self, pod: dict, now: float) -> list[dict]:
        """The kubelet's events for a pod, derived from its state."""
        meta = pod["metadata"]
        rendered = self.render_pod(pod, now)
        created = pod["_rt"]["created"]
        events = []

        def add(reason: str, message: str, at: float, *, kind: str = "Normal", count: int = 1):
            events.append(
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "name": f"{meta['name']}.{hashlib.sha1(reason.encode()).hexdigest()[:16]}",
                        "namespace": meta["namespace"],
                        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, meta["uid"] + reason)),
                        "resourceVersion": meta["resourceVersion"],
                        "creationTimestamp": _iso(at),
                    },
                    "involvedObject": {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "count": count,
                    "firstTimestamp": _iso(at),
                    "lastTimestamp": _iso(now if count > 1 else at),
                    "source": {
                        "component": "default-scheduler" if reason == "Scheduled" else "kubelet",
                        "host": "sandbox-node-1",
                    },
                    "reportingComponent": "",
                    "reportingInstance": "",
                }
            )

        add(
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to sandbox-node-1",
            created,
        )
        for status in rendered["status"]["containerStatuses"]:
            if not (status.get("started") or status["restartCount"]):
                continue
            add(
                "Pulled",
                f'Container image "{status["image"]}" already present on machine',
                created,
                count=1 + status["restartCount"],
            )
            add("Created", f"Created container {status['name']}", created)
            add("Started", f"Started container {status['name']}", created)
            waiting = status["state"].get("waiting", {})
            if waiting.get("reason") == "CrashLoopBackOff":
                add(
                    "BackOff",
                    f"Back-off restarting failed container {status['name']} in pod "
                    f"{meta['name']}_{meta['namespace']}({meta['uid']})",
                    created + self.rollout_seconds * 0.5,
                    kind="Warning",
                    count=status["restartCount"],
                )
        return events

    def pod_log(
        self,
        pod: dict,
        container: str | None,
        now: float,
        *,
        previous: bool,
    ) -> list[tuple[float, str]]:
        meta = pod["metadata"]
        containers = pod["spec"].get("containers", [])
        if container is None:
            if len(containers) != 1:
                names = " ".join(c["name"] for c in containers)
                raise _bad_request(
                    f"a container name must be specified for pod {meta['name']}, "
                    f"choose one of: [{names}]"
                )
            spec = containers[0]
        else:
            spec = next((c for c in containers if c["name"] == container), None)
            if spec is None:
                raise _bad_request(f"container {container} is not valid for pod {meta['name']}")
        status = _container_status(pod, spec, now, self.rollout_seconds)
        if previous and not status["restartCount"]:
            raise _bad_request(
                f'previous terminated container "{spec["name"]}" in pod "{meta["name"]}" not found'
            )
        fault = _image_fault(spec["image"])
        if not (status.get("started") or status["restartCount"]):
            reason = status["state"].get("waiting", {}).get("reason", "ContainerCreating")
            raise _bad_request(
                f'container "{spec["name"]}" in pod "{meta["name"]}" is waiting to start: {reason}'
            )
        return _log_lines(pod, spec, fault, status, now, previous=previous)


def _crash_times(first_crash: float, now: float, period: float) -> list[float]:
    """Restart times of a crash-looping container: back-off doubles, then levels off."""
    base = max(period, 0.01)
    times, t, step = [], first_crash, base
    while t <= now and len(times) < 10_000:
        times.append(t)
        t += step
        step = min(step * 2, base * 16)
    return times


def _container_status(pod: dict, spec: dict, now: float, period: float) -> dict[str, Any]:
    rt = pod["_rt"]
    image = spec["image"]
    fault = _image_fault(image)
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    image_id = f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
    status: dict[str, Any] = {
        "name": spec["name"],
        "image": image,
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    pod_name = pod["metadata"]["name"]
    if fault == "crashloop":
        crashes = _crash_times(rt["created"] + period * 0.5, now, period)
        if not crashes:
            return status
        last = crashes[-1]
        status.update(
            imageID=image_id,
            restartCount=len(crashes),
            containerID=f"containerd://{hashlib.sha256(f'{pod_name}{last}'.encode()).hexdigest()}",
            state={
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": (
                        f"back-off {min(10 * 2 ** (len(crashes) - 1), 300)}s restarting failed "
                        f"container={spec['name']} pod={pod_name}_{pod['metadata']['namespace']}"
                        f"({pod['metadata']['uid']})"
                    ),
                }
            },
            lastState={
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": _iso(max(last - period * 0.2, rt["created"])),
                    "finishedAt": _iso(last),
                }
            },
        )
        return status
    ready_at = rt["ready_at"]
    if ready_at is None or now < ready_at:
        return status
    started_at = ready_at
    restarts = 0
    if fault == "oom":
        interval = _oom_interval(period)
        restarts = 1 + int((now - ready_at) // interval)
        started_at = ready_at + (restarts - 1) * interval
        status["lastState"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": _iso(max(started_at - interval, rt["created"])),
                "finishedAt": _iso(started_at),
            }
        }
    status.update(
        imageID=image_id,
        ready=True,
        started=True,
        restartCount=restarts,
        containerID=f"containerd://{hashlib.sha256(f'{pod_name}{started_at}'.encode()).hexdigest()}",
        state={"running": {"startedAt": _iso(started_at)}},
    )
    return status


def container_restarts(
    image: str, created: float, ready_at: float | None, now: float, period: float
) -> tuple[int, float | None]:
    """(restartCount, when the running container started or None) of a pod's container,
    exactly as the pods of the sandbox cluster report them."""
    pod = {
        "metadata": {"name": "", "namespace": "", "uid": ""},
        "_rt": {"created": created, "ready_at": ready_at},
    }
    status = _container_status(pod, {"name": "main", "image": image}, now, period)
    running = status["state"].get("running")
    started = None
    if running:
        fault = _image_fault(image)
        if fault == "oom" and ready_at is not None:
            interval = _oom_interval(period)
            started = ready_at + (status["restartCount"] - 1) * interval
        else:
            started = ready_at
    return status["restartCount"], started


def _pod_ready(pod: dict, now: float, period: float) -> bool:
    containers = pod["spec"].get("containers", [])
    return bool(containers) and all(
        _container_status(pod, c, now, period)["ready"] for c in containers
    )


def _log_lines(
    pod: dict,
    spec: dict,
    fault: str | None,
    status: dict,
    now: float,
    *,
    previous: bool,
) -> list[tuple[float, str]]:
    name, image = spec["name"], spec["image"]
    env = {e.get("name"): e.get("value") for e in spec.get("env", []) if isinstance(e, dict)}
    port = next((p.get("containerPort") for p in spec.get("ports", [])), 8080)
    environment = env.get("ENVIRONMENT") or pod["metadata"]["namespace"]
    if previous or "running" not in status["state"]:
        started = status["lastState"]["terminated"]["startedAt"]
    else:
        started = status["state"]["running"]["startedAt"]
    start = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    lines = [
        (start, f'level=info msg="starting {name}" image={image} version={_image_tag(image)}'),
        (start + 0.01, f'level=info msg="configuration loaded" environment={environment}'),
    ]
    if fault == "crashloop":
        lines += [
            (start + 0.02, 'level=info msg="connecting to database" host=postgres:5432'),
            (
                start + 0.03,
                'level=error msg="startup check failed" '
                'error="schema version 41 required, database is at 40"',
            ),
            (start + 0.04, f'level=fatal msg="{name} exiting" image={image} exit_code=1'),
        ]
        return lines
    if fault == "oom" and previous:
        lines += [
            (start + 0.02, f'level=info msg="listening" addr=:{port}'),
            (start + 0.5, 'level=warn msg="memory usage high" heap_mb=231 limit_mb=256'),
            (start + 0.9, 'level=warn msg="memory usage high" heap_mb=252 limit_mb=256'),
            (start + 1.0, "fatal error: runtime: out of memory"),
        ]
        return lines
    lines.append((start + 0.02, f'level=info msg="listening" addr=:{port}'))
    if fault == "slow":
        return lines + _slow_lines(pod["metadata"]["name"], env, start, now)
    if fault == "oom":
        lines.append((start + 0.5, 'level=warn msg="memory usage high" heap_mb=214 limit_mb=256'))
    ticks = min(int(max(now - start, 0) // 15) + 1, 20)
    for i in range(ticks):
        lines.append(
            (
                start + 1 + i * 15,
                f'level=info msg="request" method=GET path=/healthz status=200 '
                f"duration_ms={1 + i % 3}",
            )
        )
    return lines


def _slow_lines(pod_name: str, env: dict, start: float, now: float) -> list[tuple[float, str]]:
    """A `slow` pod's request log: a line every _SLOW_LOG_INTERVAL seconds, about 30% of
    them failing on an upstream timeout, the others slow; the same on every read."""
    upstream_url = next((v for k, v in env.items() if k and k.endswith("_URL") and v), "")
    upstream = upstream_url.split("//", 1)[-1].split(":", 1)[0].split("/", 1)[0] or "upstream"
    first = start + 1.0
    begin = max(0, math.ceil((now - _SLOW_LOG_SPAN - first) / _SLOW_LOG_INTERVAL))
    lines = []
    i = begin
    while (ts := first + i * _SLOW_LOG_INTERVAL) <= now:
        digest = hashlib.blake2b(f"{pod_name}/{i}".encode(), digest_size=8).digest()
        roll, spread = digest[0] / 256, int.from_bytes(digest[1:3], "big")
        if roll < 0.3:
            line = (
                f'level=error msg="upstream request failed" upstream={upstream} '
                f'error="context deadline exceeded" duration_ms={3000 + spread % 5}'
            )
        elif roll < 0.4:
            line = (
                f'level=warn msg="slow upstream response" upstream={upstream} '
                f"duration_ms={1500 + spread % 1400}"
            )
        else:
            line = (
                f'level=info msg="request" method=POST path=/api/v1/checkout status=200 '
                f"duration_ms={300 + spread % 2100}"
            )
        lines.append((ts, line))
        i += 1
    return lines
