"""The errors of the Kubernetes backend; each message is fit to show to a user."""

from __future__ import annotations


class KubernetesError(Exception):
    """A Kubernetes operation failed; the message is fit to show to a user."""

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code


class NotFoundError(KubernetesError):
    """The object (or its namespace) does not exist."""


class AlreadyExistsError(KubernetesError):
    """The object to create exists already."""


class ConflictError(KubernetesError):
    """The object's resourceVersion moved on: someone else changed it."""


class StalePlanError(ConflictError):
    """The object changed after the plan was made; the plan must be made again."""


class InvalidInputError(KubernetesError, ValueError):
    """A request argument is invalid; raised before any API call."""


class InvalidNameError(InvalidInputError):
    """A namespace or object name is not a valid DNS-1123 name."""
