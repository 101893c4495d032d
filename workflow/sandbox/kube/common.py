"""What the sandbox Kubernetes API's modules share: timestamps, names, image faults."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from workflow.sandbox.seed import KNOWN_BAD_IMAGES

# Kubernetes' "safe" alphabet for generated names (no vowels, no look-alikes).
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_REVISION = "deployment.kubernetes.io/revision"
_HASH_LABEL = "pod-template-hash"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_nano(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _safe_encode(digest: bytes, length: int) -> str:
    n = int.from_bytes(digest, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, len(_SAFE_ALPHABET))
        out.append(_SAFE_ALPHABET[r])
    return "".join(out)


def _random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SAFE_ALPHABET) for _ in range(length))


def _image_tag(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _image_fault(image: str) -> str | None:
    known = KNOWN_BAD_IMAGES.get(image.split("@", 1)[0])
    if known is not None:
        return known
    tag = _image_tag(image).lower()
    for fault in ("crashloop", "oom", "slow"):
        if fault in tag:
            return fault
    return None


def image_fault(image: str) -> str | None:
    """The sandbox fault of an image: "crashloop", "oom", "slow" or None (healthy)."""
    return _image_fault(image)
