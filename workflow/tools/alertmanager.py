"""Alertmanager backend: a client of the API v2 (alerts, silences).

Listing alerts and silences reads; creating and expiring silences writes (callers route those
through the approval gate for production). Arguments are validated before any HTTP call:
silence durations between 1 minute and 30 days, matcher names as Prometheus label names.

Transient failures (connection errors, 502/503/504) are retried with tenacity; anything else
becomes a `BackendError` carrying Alertmanager's own error message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from workflow.tools.errors import BackendError, BackendNotConfigured, InvalidRequestError

__all__ = [
    "MAX_SILENCE_MINUTES",
    "MIN_SILENCE_MINUTES",
    "AlertmanagerClient",
    "normalize_matchers",
    "validate_duration",
]

BACKEND = "Alertmanager"
MIN_SILENCE_MINUTES = 1
MAX_SILENCE_MINUTES = 30 * 24 * 60
_TRANSIENT_STATUS = frozenset({502, 503, 504})
_TRANSIENT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SILENCE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, backend=BACKEND)


def validate_duration(minutes: Any) -> float:
    """A silence duration in minutes, 1 minute .. 30 days."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise _invalid(f"invalid silence duration {minutes!r}: expected a number of minutes")
    if not MIN_SILENCE_MINUTES <= minutes <= MAX_SILENCE_MINUTES:
        raise _invalid(
            f"invalid silence duration {minutes!r} minutes: must be between "
            f"{MIN_SILENCE_MINUTES} minute and 30 days ({MAX_SILENCE_MINUTES} minutes)"
        )
    return float(minutes)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise _invalid(
            f"invalid matcher name {name!r}: must be a label name "
            "(letters, digits and '_', not starting with a digit)"
        )
    return name


def normalize_matchers(matchers: Mapping[str, str] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """API v2 matchers from `{name: value}` (equality) or a list of matcher dicts."""
    if isinstance(matchers, Mapping):
        items = [{"name": k, "value": v} for k, v in matchers.items()]
    elif isinstance(matchers, list):
        items = matchers
    else:
        raise _invalid("matchers must be a mapping of label to value or a list of matchers")
    if not items:
        raise _invalid("a silence needs at least one matcher")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise _invalid(f"invalid matcher {item!r}: expected a mapping")
        name = _check_name(item.get("name"))
        value = item.get("value")
        if not isinstance(value, str):
            raise _invalid(f"invalid value for matcher {name!r}: expected a string")
        is_regex = bool(item.get("isRegex", False))
        if is_regex:
            try:
                re.compile(value)
            except re.error as exc:
                raise _invalid(f"invalid regex for matcher {name!r}: {exc}") from exc
        out.append(
            {
                "name": name,
                "value": value,
                "isRegex": is_regex,
                "isEqual": bool(item.get("isEqual", True)),
            }
        )
    return out


def _filter(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{_check_name(name)}="{escaped}"'


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT_ERRORS):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in _TRANSIENT_STATUS


def _error_text(response: httpx.Response) -> str:
    """Alertmanager's own message: v2 errors are a JSON string or an object with `message`."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:500]
    return str(body)[:500]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerClient:
    """Async client of one Alertmanager (API v2). Use as `async with` or call `aclose()`."""

    def __init__(
        self,
        base_url: str | None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if not base_url:
            raise BackendNotConfigured(
                "ALERTMANAGER_URL is not set: set it to the Alertmanager base URL "
                "(e.g. http://alertmanager:9093) to list alerts and manage silences",
                backend=BACKEND,
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **kwargs: Any
    ) -> AlertmanagerClient:
        env = os.environ if environ is None else environ
        return cls(env.get("ALERTMANAGER_URL"), **kwargs)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AlertmanagerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- HTTP

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        async def once() -> httpx.Response:
            response = await self._client.request(method, path, **kwargs)
            if response.status_code in _TRANSIENT_STATUS:
                response.raise_for_status()
            return response

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=self.backoff, max=5 * self.backoff),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            response = await retrying(once)
        except httpx.HTTPStatusError as exc:
            raise BackendError(
                f"Alertmanager at {self.base_url} answered HTTP {exc.response.status_code} "
                f"after {self.retries} attempts: {_error_text(exc.response)}",
                backend=BACKEND,
                status=exc.response.status_code,
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"Alertmanager at {self.base_url} timed out after {self.timeout}s "
                f"({type(exc).__name__})",
                backend=BACKEND,
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendError(
                f"Alertmanager at {self.base_url} is unreachable after {self.retries} "
                f"attempts: {type(exc).__name__}: {exc}",
                backend=BACKEND,
            ) from exc
        if response.status_code >= 400:
            raise BackendError(
                f"Alertmanager rejected {method} {path} (HTTP {response.status_code}): "
                f"{_error_text(response)}",
                backend=BACKEND,
                status=response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(
                f"Alertmanager at {self.base_url} did not answer JSON: {response.text[:200]!r}",
                backend=BACKEND,
                status=response.status_code,
            ) from exc

    # -- API

    async def alerts(
        self,
        *,
        active: bool | None = True,
        silenced: bool | None = None,
        inhibited: bool | None = None,
        unprocessed: bool | None = None,
        filters: Mapping[str, str] | None = None,
        service: str | None = None,
        receiver: str | None = None,
    ) -> list[dict[str, Any]]:
        """Alerts (`GET /api/v2/alerts`); None leaves a state flag at Alertmanager's default
        (included). `filters` are label equality matchers; `service` adds `service="..."`."""
        matchers = dict(filters or {})
        if service is not None:
            matchers["service"] = service
        params: list[tuple[str, str]] = [("filter", _filter(k, v)) for k, v in matchers.items()]
        for key, flag in (
            ("active", active),
            ("silenced", silenced),
            ("inhibited", inhibited),
            ("unprocessed", unprocessed),
        ):
            if flag is not None:
                params.append((key, "true" if flag else "false"))
        if receiver:
            params.append(("receiver", receiver))
        return list(await self._request("GET", "/api/v2/alerts", params=params) or [])

    async def silences(
        self, *, filters: Mapping[str, str] | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Silences (`GET /api/v2/silences`), optionally by matcher and state
        (active, pending, expired)."""
        params = [("filter", _filter(k, v)) for k, v in (filters or {}).items()]
        items = list(await self._request("GET", "/api/v2/silences", params=params) or [])
        if state is not None:
            items = [s for s in items if (s.get("status") or {}).get("state") == state]
        return items

    async def get_silence(self, silence_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/api/v2/silence/{self._check_id(silence_id)}")

    async def create_silence(
        self,
        *,
        matchers: Mapping[str, str] | list[dict[str, Any]],
        duration_minutes: float,
        comment: str,
        created_by: str,
        starts_at: datetime | None = None,
    ) -> str:
        """Create a silence (`POST /api/v2/silences`); returns its silenceID."""
        minutes = validate_duration(duration_minutes)
        items = normalize_matchers(matchers)
        if not isinstance(comment, str) or not comment.strip():
            raise _invalid("a silence needs a comment")
        if not isinstance(created_by, str) or not created_by.strip():
            raise _invalid("a silence needs its author (created_by)")
        start = starts_at or datetime.now(UTC)
        body = {
            "matchers": items,
            "startsAt": _iso(start),
            "endsAt": _iso(start + timedelta(minutes=minutes)),
            "comment": comment,
            "createdBy": created_by,
        }
        answer = await self._request("POST", "/api/v2/silences", json=body)
        if not isinstance(answer, dict) or not answer.get("silenceID"):
            raise BackendError(
                f"Alertmanager did not return a silence id: {answer!r}", backend=BACKEND
            )
        return answer["silenceID"]

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence (`DELETE /api/v2/silence/{id}`)."""
        await self._request("DELETE", f"/api/v2/silence/{self._check_id(silence_id)}")

    async def push_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Post alerts (`POST /api/v2/alerts`) as Prometheus does; for tests and the sandbox."""
        if not isinstance(alerts, list) or not alerts:
            raise _invalid("push_alerts needs a non-empty list of alerts")
        for alert in alerts:
            labels = alert.get("labels") if isinstance(alert, Mapping) else None
            if not isinstance(labels, Mapping) or not labels:
                raise _invalid(f"every alert needs labels: {alert!r}")
            for name in labels:
                _check_name(name)
        await self._request("POST", "/api/v2/alerts", json=alerts)

    @staticmethod
    def _check_id(silence_id: Any) -> str:
        if not isinstance(silence_id, str) or not _SILENCE_ID.match(silence_id):
            raise _invalid(f"invalid silence id {silence_id!r}")
        return silence_id
