"""Errors shared by the HTTP tool backends (Prometheus, Alertmanager, ...).

Both carry a message fit to show to a user: which backend, what went wrong and, for
`BackendError`, the backend's own error text when it sent one.
"""

from __future__ import annotations

__all__ = ["BackendError", "BackendNotConfigured", "InvalidRequestError"]


class BackendError(Exception):
    """A backend call failed: unreachable, an HTTP error, or an error answer from the API."""

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.status = status
        self.error_type = error_type


class BackendNotConfigured(BackendError):
    """The backend's URL (or other required setting) is not configured."""


class InvalidRequestError(BackendError, ValueError):
    """A request argument is invalid; raised before any HTTP call."""
