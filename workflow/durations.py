"""Compact durations ("90s", "30m", "2h", "7d") as the classifier writes them, and back to words."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ago", "human_minutes", "minutes_of"]

_COMPACT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.I)
_MINUTES_PER = {"s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0}


def minutes_of(value: Any) -> float | None:
    """Minutes in a compact duration ("2h" -> 120.0) or a number of minutes; None if neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    match = _COMPACT.match(str(value))
    if not match:
        return None
    minutes = float(match.group(1)) * _MINUTES_PER[match.group(2).lower()]
    return minutes if minutes > 0 else None


def human_minutes(minutes: float) -> str:
    """120 -> "2h", 90 -> "1h30m", 45 -> "45m", 0.5 -> "30s", 2880 -> "2d"."""
    seconds = round(minutes * 60)
    if seconds < 60:
        return f"{seconds}s"
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    hours, rest = divmod(seconds, 3600)
    mins, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{mins}m" if mins else "", f"{secs}s" if secs else ""]
    return "".join(parts)


def ago(seconds: float) -> str:
    """A span in the largest sensible unit: 45 -> "45 s", 150 -> "2.5 min", 7200 -> "2 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.3g} min"
    if seconds < 172800:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"
