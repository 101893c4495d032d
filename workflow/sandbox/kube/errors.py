"""The errors the sandbox Kubernetes API answers with a `Status` object."""

from __future__ import annotations

from typing import Any


class _ApiError(Exception):
    """An error the API answers with a `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _resource_ref(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _not_found(resource: str, group: str, name: str) -> _ApiError:
    return _ApiError(
        404,
        "NotFound",
        f'{_resource_ref(resource, group)} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def _already_exists(resource: str, group: str, name: str) -> _ApiError:
    return _ApiError(
        409,
        "AlreadyExists",
        f'{_resource_ref(resource, group)} "{name}" already exists',
        {"name": name, "group": group, "kind": resource},
    )


def _conflict(resource: str, group: str, name: str, why: str | None = None) -> _ApiError:
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return _ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_resource_ref(resource, group)} "{name}": {why}',
        {"name": name, "group": group, "kind": resource},
    )


def _invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> _ApiError:
    texts = [f"{field}: {msg}" for field, msg in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return _ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {joined}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": msg, "field": field}
                for field, msg in causes
            ],
        },
    )


def _bad_request(message: str) -> _ApiError:
    return _ApiError(400, "BadRequest", message)
