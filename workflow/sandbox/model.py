"""What the sandbox Prometheus and Alertmanager report: one model of the sandbox cluster.

Every deployment of the sandbox cluster is a service (`service` = deployment name) in its
namespace. Its metrics are a deterministic function of time and of what ran at that time,
read from the cluster's rollout log (`KubeApiServer.rollout_histories()`): which image was
current from when, with how many replicas and which pods. Nothing is random, so two reads
of the same time agree; a small smooth wiggle keeps the graphs looking alive.

What each image does comes from its fault (`kube_api.image_fault`):

- healthy: ~40 req/s per replica in production (a quarter of that in staging, 5% in dev),
  0.2% errors, latency p50 40 ms / p95 120 ms / p99 250 ms, ~120 MiB per pod.
- `slow` (e.g. the seed's checkout v2.4.1): the same traffic, 7% errors, p50 380 ms /
  p95 1.2 s / p99 1.9 s (upstream calls time out at 3 s), ~170 MiB per pod.
- `oom`: memory climbs to the container's limit and the container is OOMKilled and restarted
  (the restart counts are the cluster's own), 1.5% errors.
- `crashloop`: the new pods restart over and over (the rollout never completes, the old pods
  keep serving), request rate drops to ~55%.

Rates and quantiles over a window (`rate(x[5m])`) average the samples of that window, so a
rollout shows as a ramp over the window, as in a real Prometheus. Before a deployment
existed (or while it has no replicas) there is no data.

Alerts are rules over the same values, evaluated every 15 s: HighErrorRate (error ratio
> 5% for 2m), HighLatencyP99 (p99 > 1 s for 2m), PodCrashLooping and ContainerOOMKilled
(restarts of crash-looping / OOM-killed pods within 5m, for 1m). `starts_at` is the first
evaluation of the stretch during which the condition has held.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from workflow.sandbox.kube_api import PodRecord, Rollout

if TYPE_CHECKING:
    from workflow.sandbox.kube_api import KubeApiServer

__all__ = [
    "ALERT_RULES",
    "PROFILES",
    "RUNBOOK_DIR",
    "SANDBOX_SOURCE",
    "AlertRule",
    "ModelAlert",
    "ModelView",
    "Profile",
    "SandboxModel",
]

SANDBOX_SOURCE = "devops-bot sandbox"
RUNBOOK_DIR = Path(__file__).parent / "runbooks"

SCRAPE_INTERVAL = 15.0
EVAL_INTERVAL = 15.0
RPS_PER_REPLICA = 40.0
NAMESPACE_TRAFFIC = {"production": 1.0, "staging": 0.25, "dev": 0.05}
OTHER_NAMESPACE_TRAFFIC = 0.05
MIB = 1024 * 1024
DEFAULT_MEMORY_LIMIT = 256 * MIB
_MAX_WINDOW_SAMPLES = 20


@dataclass(frozen=True)
class Profile:
    """How a service behaves while an image with this fault is live."""

    name: str
    traffic: float  # times the healthy request rate
    error_ratio: float
    p50: float  # seconds
    p95: float
    p99: float
    p_max: float
    cpu_base: float  # cores per pod, plus cpu_per_rps for each request per second
    cpu_per_rps: float
    memory_mib: float

    def knots(self, scale: float = 1.0) -> tuple[tuple[float, float], ...]:
        """The latency distribution as a piecewise-linear CDF: (seconds, probability)."""
        return (
            (0.0, 0.0),
            (self.p50 * scale, 0.5),
            (self.p95 * scale, 0.95),
            (self.p99 * scale, 0.99),
            (self.p_max * scale, 1.0),
        )


PROFILES: dict[str | None, Profile] = {
    None: Profile("healthy", 1.0, 0.002, 0.040, 0.120, 0.250, 0.6, 0.02, 0.0025, 118),
    "slow": Profile("slow", 1.0, 0.07, 0.38, 1.2, 1.9, 3.0, 0.03, 0.003, 172),
    "oom": Profile("oom", 0.92, 0.015, 0.055, 0.2, 0.45, 1.2, 0.02, 0.003, 160),
    "crashloop": Profile("crashloop", 0.55, 0.012, 0.05, 0.16, 0.33, 0.8, 0.004, 0.0, 35),
}


# ---------------------------------------------------------------------------- helpers


@lru_cache(maxsize=4096)
def _phases(key: str) -> tuple[float, float, float]:
    digest = hashlib.blake2b(key.encode(), digest_size=6).digest()
    return tuple(int.from_bytes(digest[i : i + 2], "big") / 65536 * 2 * math.pi for i in (0, 2, 4))  # type: ignore[return-value]


def _wiggle(key: str, t: float, amp: float) -> float:
    """1 +- amp, smooth and deterministic in t (a slow drift plus two faster ripples)."""
    a, b, c = _phases(key)
    return 1.0 + amp * (
        0.5 * math.sin(2 * math.pi * t / 7200 + a)
        + 0.3 * math.sin(2 * math.pi * t / 611 + b)
        + 0.2 * math.sin(2 * math.pi * t / 97 + c)
    )


@lru_cache(maxsize=1024)
def _service_traffic(service: str) -> float:
    return 0.85 + 0.3 * hashlib.blake2b(service.encode(), digest_size=1).digest()[0] / 255


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGT]i?|[kmgt]|e[0-9]+)?$")
_UNITS = {
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}


def _memory_bytes(quantity: str | None) -> float:
    match = _QUANTITY.match(quantity or "")
    if not match:
        return DEFAULT_MEMORY_LIMIT
    number, unit = float(match.group(1)), match.group(2) or ""
    if unit.startswith("e"):
        return number * 10 ** int(unit[1:])
    return number * _UNITS.get(unit, 1)


def _cdf(knots: tuple[tuple[float, float], ...], x: float) -> float:
    if x <= 0:
        return 0.0
    for (x0, p0), (x1, p1) in itertools.pairwise(knots):
        if x <= x1:
            return p0 + (p1 - p0) * (x - x0) / (x1 - x0) if x1 > x0 else p1
    return 1.0


def _inverse(knots: tuple[tuple[float, float], ...], q: float) -> float:
    for (x0, p0), (x1, p1) in itertools.pairwise(knots):
        if q <= p1:
            return x0 + (x1 - x0) * (q - p0) / (p1 - p0) if p1 > p0 else x1
    return knots[-1][0]


def _mixture_quantile(
    parts: list[tuple[float, tuple[tuple[float, float], ...]]], q: float
) -> float:
    """The q-quantile of a weighted mixture of piecewise-linear distributions."""
    parts = [(w, k) for w, k in parts if w > 0]
    if not parts:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(parts) == 1:
        return _inverse(parts[0][1], q)
    total = sum(w for w, _ in parts)
    lo, hi = 0.0, max(k[-1][0] for _, k in parts)
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(w * _cdf(k, mid) for w, k in parts) / total < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ---------------------------------------------------------------------------- timelines


@dataclass
class Timeline:
    """The rollouts of one service in one namespace, oldest first."""

    namespace: str
    service: str
    rollouts: list[Rollout]
    starts: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = [r.started_at for r in self.rollouts]

    def index_at(self, t: float) -> int:
        """Index of the rollout current at `t`, -1 before the first."""
        return bisect.bisect_right(self.starts, t) - 1

    def at(self, t: float) -> Rollout | None:
        i = self.index_at(t)
        return self.rollouts[i] if i >= 0 else None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.service}"


@dataclass(frozen=True)
class _Sample:
    rate: float
    error_ratio: float
    profile: Profile
    latency_scale: float


@dataclass(frozen=True)
class ServiceValues:
    """A service's request figures over one window (summed over its namespaces)."""

    request_rate: float
    error_ratio: float
    _parts: tuple[tuple[float, tuple[tuple[float, float], ...]], ...]

    def quantile(self, q: float) -> float:
        return _mixture_quantile(list(self._parts), q)


@dataclass(frozen=True)
class PodSeries:
    pod: str
    namespace: str
    service: str
    value: float


@dataclass(frozen=True)
class ModelAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    evaluated_at: float
    value: float


@dataclass(frozen=True)
class AlertRule:
    name: str
    severity: str
    for_seconds: float
    window: float
    faults: frozenset[str]  # the images whose steady state makes the condition true
    runbook: str
    # (view, timeline, t) -> the value when the condition holds, else None
    check: Callable[[ModelView, Timeline, float], float | None]
    describe: Callable[[ModelView, Timeline, float, float], tuple[str, str]]


class SandboxModel:
    """The metrics and alerts of a sandbox cluster; `view()` reads the cluster once."""

    def __init__(self, kube: KubeApiServer, *, clock: Callable[[], float] | None = None):
        self.kube = kube
        self.clock = clock or kube.now

    def view(self) -> ModelView:
        return ModelView(self.kube, self.kube.rollout_histories())


class ModelView:
    """The model over one read of the cluster's rollout log."""

    def __init__(self, kube: KubeApiServer, histories: dict[tuple[str, str], list[Rollout]]):
        self.kube = kube
        self.period = kube.rollout_seconds
        self.timelines = [
            Timeline(namespace, service, rollouts)
            for (namespace, service), rollouts in sorted(histories.items())
            if rollouts
        ]

    def select(self, service: str, namespace: str | None) -> list[Timeline]:
        return [
            tl
            for tl in self.timelines
            if tl.service == service and (namespace is None or tl.namespace == namespace)
        ]

    def in_namespace(self, namespace: str | None) -> list[Timeline]:
        return [tl for tl in self.timelines if namespace is None or tl.namespace == namespace]

    # -- service-level values

    def _sample(self, tl: Timeline, t: float) -> _Sample | None:
        rollout = tl.at(t)
        if rollout is None or rollout.replicas <= 0:
            return None
        profile = PROFILES.get(rollout.fault, PROFILES[None])
        traffic = NAMESPACE_TRAFFIC.get(tl.namespace, OTHER_NAMESPACE_TRAFFIC)
        rate = (
            rollout.replicas
            * RPS_PER_REPLICA
            * traffic
            * _service_traffic(tl.service)
            * profile.traffic
            * _wiggle(tl.key + "/rate", t, 0.02)
        )
        return _Sample(
            rate=rate,
            error_ratio=profile.error_ratio * _wiggle(tl.key + "/errors", t, 0.03),
            profile=profile,
            latency_scale=_wiggle(tl.key + "/latency", t, 0.02),
        )

    def _window(self, tl: Timeline, t: float, window: float) -> list[_Sample]:
        n = max(2, min(_MAX_WINDOW_SAMPLES, math.ceil(window / SCRAPE_INTERVAL)))
        samples = []
        for k in range(n):
            sample = self._sample(tl, t - window + window * (k + 1) / n)
            if sample is not None:
                samples.append(sample)
        # rate() needs two samples in the window
        return samples if len(samples) >= 2 else []

    def service_values(
        self, timelines: Iterable[Timeline], t: float, window: float
    ) -> ServiceValues | None:
        weights: list[tuple[float, _Sample]] = []
        for tl in timelines:
            samples = self._window(tl, t, window)
            weights.extend((s.rate / len(samples), s) for s in samples)
        if not weights:
            return None
        total = sum(w for w, _ in weights)
        errors = sum(w * s.error_ratio for w, s in weights)
        # One mixture part per profile, at the rate-weighted mean latency scale.
        groups: dict[str, list[tuple[float, _Sample]]] = {}
        for w, s in weights:
            groups.setdefault(s.profile.name, []).append((w, s))
        parts = []
        for items in groups.values():
            weight = sum(w for w, _ in items)
            scale = sum(w * s.latency_scale for w, s in items) / weight if weight else 1.0
            parts.append((weight, items[0][1].profile.knots(scale)))
        return ServiceValues(total, errors / total if total else 0.0, tuple(parts))

    # -- pod-level values

    def _live_pods(self, tl: Timeline, t: float) -> list[tuple[PodRecord, Rollout]]:
        i = tl.index_at(t)
        if i < 0:
            return []
        current = tl.rollouts[i]
        pods = [(p, current) for p in current.pods if p.created <= t]
        if current.fault == "crashloop":
            # The rollout never completes: the pods of the last other ReplicaSet keep serving.
            for earlier in reversed(tl.rollouts[:i]):
                if earlier.replicaset != current.replicaset:
                    if earlier.fault != "crashloop":
                        pods += [(p, earlier) for p in earlier.pods if p.created <= t]
                    break
        return pods

    def pods(
        self, timelines: Iterable[Timeline], pod_pattern: re.Pattern[str], t: float
    ) -> list[tuple[Timeline, PodRecord, Rollout]]:
        return [
            (tl, pod, rollout)
            for tl in timelines
            for pod, rollout in self._live_pods(tl, t)
            if pod_pattern.fullmatch(pod.name)
        ]

    def restarts(self, pod: PodRecord, rollout: Rollout, t: float) -> int:
        return self.kube.container_restarts(pod, rollout.image, t)[0]

    def restart_increase(self, pod: PodRecord, rollout: Rollout, t: float, window: float) -> int:
        before = self.restarts(pod, rollout, max(t - window, pod.created))
        return max(self.restarts(pod, rollout, t) - before, 0)

    def cpu(self, tl: Timeline, pod: PodRecord, rollout: Rollout, t: float) -> float:
        profile = PROFILES.get(rollout.fault, PROFILES[None])
        current = tl.at(t)
        per_pod = 0.0
        if current is not None and current.replicas > 0 and rollout.fault != "crashloop":
            sample = self._sample(tl, t)
            per_pod = sample.rate / current.replicas if sample else 0.0
        cores = profile.cpu_base + profile.cpu_per_rps * per_pod
        return cores * _wiggle(pod.name + "/cpu", t, 0.04)

    def memory(self, pod: PodRecord, rollout: Rollout, t: float) -> float:
        profile = PROFILES.get(rollout.fault, PROFILES[None])
        if rollout.fault == "oom":
            limit = _memory_bytes(rollout.memory_limit)
            _, started = self.kube.container_restarts(pod, rollout.image, t)
            interval = max(self.period, 0.01) * 4
            if started is None:
                return profile.memory_mib * MIB
            frac = min(max((t - started) / interval, 0.0), 1.0)
            low = min(profile.memory_mib * MIB, limit * 0.6)
            return low + (limit - low) * frac
        return profile.memory_mib * MIB * _wiggle(pod.name + "/memory", t, 0.02)

    # -- alerts

    def alerts(self, now: float) -> list[ModelAlert]:
        """The firing alerts at the last rule evaluation at or before `now`."""
        t0 = math.floor(now / EVAL_INTERVAL) * EVAL_INTERVAL
        out = []
        for tl in self.timelines:
            for rule in ALERT_RULES:
                value = rule.check(self, tl, t0)
                if value is None:
                    continue
                onset = self._onset(rule, tl, t0)
                if t0 - onset < rule.for_seconds:
                    continue  # pending, not firing yet
                summary, description = rule.describe(self, tl, t0, value)
                out.append(
                    ModelAlert(
                        labels={
                            "alertname": rule.name,
                            "service": tl.service,
                            "namespace": tl.namespace,
                            "severity": rule.severity,
                        },
                        annotations={
                            "summary": summary,
                            "description": description,
                            "runbook_url": (RUNBOOK_DIR / rule.runbook).as_uri(),
                            "source": SANDBOX_SOURCE,
                        },
                        starts_at=onset,
                        evaluated_at=t0,
                        value=value,
                    )
                )
        return out

    def _onset(self, rule: AlertRule, tl: Timeline, t0: float) -> float:
        """The first evaluation of the unbroken stretch of true evaluations ending at t0."""
        step, first = EVAL_INTERVAL, tl.starts[0]
        t = t0
        while True:
            prev = t - step
            if prev < first:
                return t
            rollout = tl.rollouts[tl.index_at(prev)]
            steady_from = rollout.started_at + rule.window
            if prev >= steady_from:
                # The whole window lies in one rollout: the condition is its image's.
                if rollout.replicas <= 0 or rollout.fault not in rule.faults:
                    return t
                t = t0 - math.floor((t0 - steady_from) / step) * step
                continue
            if rule.check(self, tl, prev) is None:
                return t
            t = prev


# ---------------------------------------------------------------------------- rules


def _error_check(view: ModelView, tl: Timeline, t: float) -> float | None:
    values = view.service_values([tl], t, 300)
    return values.error_ratio if values and values.error_ratio > 0.05 else None


def _latency_check(view: ModelView, tl: Timeline, t: float) -> float | None:
    values = view.service_values([tl], t, 300)
    if values is None:
        return None
    p99 = values.quantile(0.99)
    return p99 if p99 > 1.0 else None


def _restart_check(fault: str) -> Callable[[ModelView, Timeline, float], float | None]:
    def check(view: ModelView, tl: Timeline, t: float) -> float | None:
        total = sum(
            view.restart_increase(pod, rollout, t, 300)
            for pod, rollout in view._live_pods(tl, t)
            if rollout.fault == fault
        )
        return float(total) if total > 0 else None

    return check


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _describe_errors(view: ModelView, tl: Timeline, t: float, value: float) -> tuple[str, str]:
    values = view.service_values([tl], t, 300)
    rate = values.request_rate if values else 0.0
    return (
        f"{tl.service} in {tl.namespace}: {_pct(value)} of requests fail",
        f"The 5xx ratio of {tl.service} in {tl.namespace} is {_pct(value)} over the last 5 "
        f"minutes ({rate:.0f} req/s), above the 5% threshold for more than 2 minutes.",
    )


def _describe_latency(view: ModelView, tl: Timeline, t: float, value: float) -> tuple[str, str]:
    return (
        f"{tl.service} in {tl.namespace}: p99 latency {value:.2f}s",
        f"The p99 request latency of {tl.service} in {tl.namespace} is {value:.2f}s over the "
        f"last 5 minutes, above the 1s threshold for more than 2 minutes.",
    )


def _pod_names(view: ModelView, tl: Timeline, t: float, fault: str) -> str:
    names = sorted(p.name for p, r in view._live_pods(tl, t) if r.fault == fault)
    return ", ".join(names) or "(none)"


def _describe_crashloop(view: ModelView, tl: Timeline, t: float, value: float) -> tuple[str, str]:
    return (
        f"{tl.service} in {tl.namespace}: pods are crash-looping",
        f"Pods of {tl.service} in {tl.namespace} restarted {value:.0f} times in the last 5 "
        f"minutes and are in CrashLoopBackOff: {_pod_names(view, tl, t, 'crashloop')}.",
    )


def _describe_oom(view: ModelView, tl: Timeline, t: float, value: float) -> tuple[str, str]:
    rollout = tl.at(t)
    limit = rollout.memory_limit if rollout and rollout.memory_limit else "its limit"
    return (
        f"{tl.service} in {tl.namespace}: containers are OOMKilled",
        f"Containers of {tl.service} in {tl.namespace} were OOMKilled at the memory limit "
        f"({limit}) and restarted {value:.0f} times in the last 5 minutes: "
        f"{_pod_names(view, tl, t, 'oom')}.",
    )


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "HighErrorRate",
        "critical",
        120,
        300,
        frozenset({"slow"}),
        "high-error-rate.md",
        _error_check,
        _describe_errors,
    ),
    AlertRule(
        "HighLatencyP99",
        "warning",
        120,
        300,
        frozenset({"slow"}),
        "high-latency.md",
        _latency_check,
        _describe_latency,
    ),
    AlertRule(
        "PodCrashLooping",
        "critical",
        60,
        300,
        frozenset({"crashloop"}),
        "crashloopbackoff.md",
        _restart_check("crashloop"),
        _describe_crashloop,
    ),
    AlertRule(
        "ContainerOOMKilled",
        "warning",
        60,
        300,
        frozenset({"oom"}),
        "oomkilled.md",
        _restart_check("oom"),
        _describe_oom,
    ),
)
