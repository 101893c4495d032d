"""Checks of request arguments before any API call: names, images, replica counts."""

from __future__ import annotations

import re
from typing import Any

from workflow.tools.kubernetes.errors import InvalidInputError, InvalidNameError

MAX_REPLICAS = 1000

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_NAME_RULE = "must be lowercase letters, digits and '-', start and end with a letter or digit"
# Namespaces are DNS-1123 labels; other object names are DNS-1123 subdomains.
_LABEL_KINDS = frozenset({"namespace", "container"})

_IMAGE_CHARS = re.compile(r"^[A-Za-z0-9._/:@-]+$")
_IMAGE_DOMAIN = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::\d+)?$"
)
_IMAGE_PATH_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


def validate_name(name: Any, what: str) -> str:
    """Check a Kubernetes name: DNS-1123 label for namespaces, subdomain for objects."""
    label = what in _LABEL_KINDS
    limit = 63 if label else 253
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"invalid {what} name {name!r}: must not be empty")
    if len(name) > limit:
        raise InvalidNameError(
            f"invalid {what} name '{name[:80]}...': at most {limit} characters (DNS-1123)"
        )
    pattern = _DNS1123_LABEL if label else _DNS1123_SUBDOMAIN
    if not pattern.match(name):
        raise InvalidNameError(f"invalid {what} name {name!r}: {_NAME_RULE} (DNS-1123)")
    return name


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    rest, _, digest = image.partition("@")
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def validate_image(image: Any) -> str:
    """Check an image reference (no whitespace or shell metacharacters, OCI grammar)."""
    if not isinstance(image, str) or not image:
        raise InvalidInputError("invalid image: must be a non-empty image reference")
    shown = image if len(image) <= 120 else image[:120] + "..."
    if len(image) > 512 or not _IMAGE_CHARS.match(image):
        raise InvalidInputError(
            f"invalid image {shown!r}: only letters, digits and '.', '_', '-', '/', ':', '@' "
            "are allowed (no whitespace or shell metacharacters)"
        )
    repository, tag, digest = _split_image(image)
    parts = repository.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        domain, path = parts[0], parts[1:]
        if not _IMAGE_DOMAIN.match(domain):
            raise InvalidInputError(f"invalid image {shown!r}: bad registry host {domain!r}")
    else:
        path = parts
    if not path or not all(_IMAGE_PATH_PART.match(p) for p in path):
        raise InvalidInputError(
            f"invalid image {shown!r}: the repository must be lowercase letters, digits and "
            "separators"
        )
    if tag is not None and not _IMAGE_TAG.match(tag):
        raise InvalidInputError(f"invalid image {shown!r}: bad tag {tag!r}")
    if digest is not None and not _IMAGE_DIGEST.match(digest):
        raise InvalidInputError(f"invalid image {shown!r}: bad digest")
    return image


def resolve_image(current: str, requested: str) -> str:
    """The full image for `requested`, which may be a bare tag (`v1.2.3`) or digest.

    A bare tag or digest keeps the current repository; `api-server:v1.2.3` also does when
    `api-server` is the current repository's last path component. Anything else is taken
    as a full reference.
    """
    if not isinstance(requested, str) or not requested:
        raise InvalidInputError("invalid image: must be a non-empty image reference or tag")
    repository = _split_image(current)[0]
    if "/" not in requested:
        if requested.startswith("sha256:"):
            return validate_image(f"{repository}@{requested}")
        if ":" not in requested and "@" not in requested:
            if not _IMAGE_TAG.match(requested):
                raise InvalidInputError(f"invalid image tag {requested!r}")
            return validate_image(f"{repository}:{requested}")
        name = re.split(r"[:@]", requested, maxsplit=1)[0]
        if name == repository.rsplit("/", 1)[-1]:
            return validate_image(repository + requested[len(name) :])
    return validate_image(requested)


def validate_replicas(replicas: Any) -> int:
    """Replicas must be a whole number from 0 to 1000."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise InvalidInputError(
            f"invalid replicas {replicas!r}: must be a whole number from 0 to {MAX_REPLICAS}"
        )
    if not 0 <= replicas <= MAX_REPLICAS:
        raise InvalidInputError(
            f"invalid replicas {replicas}: must be a whole number from 0 to {MAX_REPLICAS}"
        )
    return replicas
