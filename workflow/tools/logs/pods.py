"""Log search over a deployment's pod logs, when no Loki is configured."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

from workflow.tools.errors import BackendError
from workflow.tools.logs.model import (
    LogLine,
    LogQuery,
    LogResult,
    T,
    _finish,
    _level_matches,
    _with_retries,
    detect_level,
)

# lightkube's ApiError derives from its HTTP library's HTTPStatusError; find HTTPError.
_KubeHTTPError: type[Exception] = next(
    (c for c in ApiError.__mro__ if c.__name__ == "HTTPError"), Exception
)


def _kube_transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return (exc.status.code or 0) in (429, 500, 502, 503, 504)
    return isinstance(exc, _KubeHTTPError) and getattr(exc, "response", None) is None


def _kube_message(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"HTTP {exc.status.code}: {exc.status.message or exc.status.reason}"
    return type(exc).__name__


_TS_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2}) ")


def _parse_ts(line: str) -> tuple[datetime | None, str]:
    match = _TS_PREFIX.match(line)
    if not match:
        return None, line
    base, frac, zone = match.groups()
    stamp = base + "." + (frac or "0")[:6].ljust(6, "0") + ("+00:00" if zone == "Z" else zone)
    return datetime.fromisoformat(stamp), line[match.end() :]


class KubernetesLogSearch:
    """Log search over a deployment's pod logs, through the KubernetesBackend's client.

    Reads the last lines of each pod (`tailLines`, `sinceSeconds`, with timestamps) and
    filters level and term here; used when no Loki is configured.
    """

    backend_name = "kubernetes"

    def __init__(
        self,
        kubernetes_backend: Any,
        *,
        default_namespace: str = "default",
        retries: int = 3,
        max_pods: int = 20,
    ):
        self.backend = kubernetes_backend
        self.default_namespace = default_namespace
        self.retries = retries
        self.max_pods = max_pods

    async def _retry(self, make: Callable[[], Awaitable[T]]) -> T:
        return await _with_retries(make, _kube_transient, self.retries)

    async def search(self, query: LogQuery) -> LogResult:
        from workflow.tools.kubernetes import InvalidNameError, validate_name

        client = self.backend.client
        namespace = query.namespace or self.default_namespace
        try:
            validate_name(namespace, "namespace")
            validate_name(query.service, "deployment")
        except InvalidNameError as exc:
            raise BackendError(str(exc), backend="kubernetes") from exc
        try:
            dep = await self._retry(
                lambda: client.get(Deployment, query.service, namespace=namespace)
            )
        except ApiError as exc:
            if exc.status.code == 404:
                raise BackendError(
                    f"deployment '{query.service}' not found in namespace '{namespace}'",
                    backend="kubernetes",
                    status=404,
                ) from exc
            raise BackendError(
                f"Kubernetes API error reading deployment '{query.service}': {_kube_message(exc)}",
                backend="kubernetes",
                status=exc.status.code,
            ) from exc
        except _KubeHTTPError as exc:
            raise BackendError(
                f"cannot reach the Kubernetes API: {_kube_message(exc)}", backend="kubernetes"
            ) from exc

        spec = dep.to_dict().get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        container = next(
            (c["name"] for c in containers if c.get("name") == query.service),
            containers[0]["name"] if containers else None,
        )

        async def list_pods() -> list[dict]:
            return [
                p.to_dict()
                async for p in client.list(Pod, namespace=namespace, labels=selector or None)
            ]

        try:
            pods = await self._retry(list_pods)
        except _KubeHTTPError as exc:
            raise BackendError(
                f"cannot list pods of '{query.service}': {_kube_message(exc)}",
                backend="kubernetes",
            ) from exc
        pods.sort(key=lambda p: p["metadata"]["name"])
        warnings: list[str] = []
        if len(pods) > self.max_pods:
            warnings.append(f"{len(pods)} pods; read the logs of the first {self.max_pods}")
            pods = pods[: self.max_pods]
        filtering = bool(query.level or query.term)
        tail = min(max(query.limit * 5, 500), 5000) if filtering else query.limit + 1
        since = query.since_minutes * 60
        cutoff = datetime.now(UTC).timestamp() - since

        async def read(pod: dict) -> tuple[str, list[str] | None, str | None]:
            name = pod["metadata"]["name"]

            async def fetch() -> list[str]:
                return [
                    line.rstrip("\n")
                    async for line in client.log(
                        name,
                        namespace=namespace,
                        container=container,
                        tail_lines=tail,
                        since=since,
                        timestamps=True,
                    )
                ]

            try:
                return name, await self._retry(fetch), None
            except _KubeHTTPError as exc:
                return name, None, f"logs of pod {name}: {_kube_message(exc)}"

        results = await asyncio.gather(*(read(p) for p in pods))
        term = query.term.lower() if query.term else None
        lines: list[LogLine] = []
        truncated = False
        for name, raw, error in results:
            if error:
                warnings.append(error)
                continue
            assert raw is not None
            if len(raw) >= tail:
                truncated = True  # the pod has older lines than the tail read
            for entry in raw:
                ts, text = _parse_ts(entry)
                if ts is None or ts.timestamp() < cutoff:
                    continue
                if term and term not in text.lower():
                    continue
                if not _level_matches(text, query.level):
                    continue
                lines.append(
                    LogLine(
                        ts=ts,
                        pod=name,
                        labels={"namespace": namespace, "pod": name, "container": container or ""},
                        level=detect_level(text),
                        message=text,
                    )
                )
        described = (
            f"pods {', '.join(f'{namespace}/{n}' for n, _, _ in results) or '(none)'} "
            f"(container={container}, tailLines={tail}, sinceSeconds={since})"
        )
        if not pods:
            warnings.append(f"no pods match the selector of deployment '{query.service}'")
        return _finish(
            "kubernetes", lines, query, described, truncated=truncated, warnings=warnings
        )
