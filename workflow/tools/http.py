"""The HTTP client the operations tool backends share (Prometheus, Alertmanager, Loki).

`HttpBackend` owns one `httpx.AsyncClient` for a backend's base URL. `request()` sends a call
and retries transient failures (connection errors, and the statuses in `transient_status`:
502/503/504 unless a backend adds more) with exponential backoff. Whatever still fails becomes
a `BackendError` fit to show to a user: the backend's name and URL and what happened (it is
unreachable, it timed out, or the HTTP status with the backend's own error text, which each
backend picks out of its error format in `_error_text`).

A backend subclasses it, sets `name` (for messages), `backend_name` (`BackendError.backend`)
and `not_configured` (the message when no URL is set), and calls `request()` or
`request_json()`. Use it as `async with` or call `aclose()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from workflow.tools.errors import BackendError, BackendNotConfigured

__all__ = ["HttpBackend", "Params"]

Params = Mapping[str, str] | Sequence[tuple[str, str]]

# Failures to connect or to read a whole answer: worth another attempt. A read timeout is not
# among them: the backend is slow on this request, and another attempt would wait as long.
_TRANSIENT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
)


def _last_outcome(state: RetryCallState) -> Any:
    """After the last attempt: its response (a transient status) or its exception, raised."""
    assert state.outcome is not None
    return state.outcome.result()


def _without_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    auth = httpx.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), auth


def _attempts(count: int) -> str:
    return f" after {count} attempts" if count > 1 else ""


class HttpBackend:
    """An HTTP API at `base_url`: one AsyncClient, retries, errors as `BackendError`."""

    name: ClassVar[str] = "the backend"
    backend_name: ClassVar[str] = "http"
    not_configured: ClassVar[str] = "the backend URL is not set"
    transient_status: ClassVar[frozenset[int]] = frozenset({502, 503, 504})

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
            raise BackendNotConfigured(self.not_configured, backend=self.backend_name)
        # Credentials in the URL become basic auth; `base_url` (shown in every message and
        # preview) never carries them.
        self.base_url, auth = _without_credentials(base_url.rstrip("/"))
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, auth=auth
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        what: str | None = None,
    ) -> httpx.Response:
        """The response to `method path`, retried while the failure is transient.

        Raises `BackendError` when the backend is unreachable, times out or answers an HTTP
        error status; `what` names the request in messages (default "GET /path")."""
        attempts = 0

        async def once() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return await self._client.request(method, path, params=params, json=json)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=self.backoff, max=5 * self.backoff),
            retry=retry_if_exception_type(_TRANSIENT_ERRORS)
            | retry_if_result(lambda r: r.status_code in self.transient_status),
            retry_error_callback=_last_outcome,
        )
        try:
            response = await retrying(once)
        except httpx.TimeoutException as exc:
            each = f" on each of {attempts} attempts" if attempts > 1 else ""
            raise BackendError(
                f"{self.name} at {self.base_url} timed out after {self.timeout}s{each} "
                f"({type(exc).__name__})",
                backend=self.backend_name,
            ) from exc
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise BackendError(
                f"{self.name} at {self.base_url} is unreachable{_attempts(attempts)}: {detail}",
                backend=self.backend_name,
            ) from exc
        if response.status_code >= 400:
            raise self._status_error(response, what or f"{method} {path}", attempts)
        return response

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON body of `request(method, path, **kwargs)`; None for an empty body."""
        response = await self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(
                f"{self.name} at {self.base_url} did not answer JSON (HTTP "
                f"{response.status_code}): {response.text[:200]!r}",
                backend=self.backend_name,
                status=response.status_code,
            ) from exc

    def _error_text(self, response: httpx.Response) -> tuple[str, str | None]:
        """The backend's own error message (and error type) in an error response.

        By default the body as text; backends with a structured error format override this."""
        return (response.text.strip()[:500] or response.reason_phrase), None

    @staticmethod
    def _json_or_none(response: httpx.Response) -> Any:
        """The response's JSON body, or None when it is not JSON (for `_error_text`)."""
        try:
            return response.json()
        except ValueError:
            return None

    def _status_error(self, response: httpx.Response, what: str, attempts: int) -> BackendError:
        code = response.status_code
        text, kind = self._error_text(response)
        status = f"HTTP {code}, {kind}" if kind else f"HTTP {code}"
        if code < 500:
            happened = f"rejected {what} ({status}){_attempts(attempts)}"
        else:
            happened = f"answered {status} to {what}{_attempts(attempts)}"
        return BackendError(
            f"{self.name} at {self.base_url} {happened}: {text}",
            backend=self.backend_name,
            status=code,
            error_type=kind,
        )
