"""A service's test coverage from the report its CI publishes: coverage.py JSON
(`coverage json`) or Cobertura XML (`coverage xml`, and most other tools' XML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import httpx

__all__ = ["Coverage", "CoverageError", "fetch_coverage", "parse_coverage"]


class CoverageError(Exception):
    """A report that cannot be read; the message says which and why."""


@dataclass
class Coverage:
    percent: float
    statements: int | None
    covered: int | None
    modules: dict[str, float] = field(default_factory=dict)  # file -> percent
    format: str = ""

    def lowest(self, count: int = 5) -> list[tuple[str, float]]:
        return sorted(self.modules.items(), key=lambda kv: (kv[1], kv[0]))[:count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "statements": self.statements,
            "covered": self.covered,
            "modules": self.modules,
            "format": self.format,
        }


def _from_json(data: dict[str, Any]) -> Coverage:
    totals = data.get("totals") or {}
    if "percent_covered" not in totals:
        raise CoverageError("not a coverage.py JSON report: no totals.percent_covered")
    modules = {
        name: round(float((info.get("summary") or {}).get("percent_covered", 0.0)), 2)
        for name, info in (data.get("files") or {}).items()
        if isinstance(info, dict)
    }
    return Coverage(
        round(float(totals["percent_covered"]), 2),
        totals.get("num_statements"),
        totals.get("covered_lines"),
        modules,
        "coverage.py JSON",
    )


def _from_cobertura(root: ET.Element) -> Coverage:
    if root.tag != "coverage" or root.get("line-rate") is None:
        raise CoverageError("not a Cobertura XML report: no <coverage line-rate=...>")
    modules: dict[str, float] = {}
    for node in root.iter("class"):
        name = node.get("filename") or node.get("name") or "?"
        modules[name] = round(float(node.get("line-rate") or 0) * 100, 2)
    valid, covered = root.get("lines-valid"), root.get("lines-covered")
    return Coverage(
        round(float(root.get("line-rate") or 0) * 100, 2),
        int(valid) if valid else None,
        int(covered) if covered else None,
        modules,
        "Cobertura XML",
    )


def parse_coverage(text: str, where: str = "report") -> Coverage:
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            import json

            return _from_json(json.loads(stripped))
        if stripped.startswith("<"):
            return _from_cobertura(ET.fromstring(stripped))
    except (ValueError, ET.ParseError) as exc:
        raise CoverageError(f"{where}: unreadable coverage report: {exc}") from None
    except CoverageError as exc:
        raise CoverageError(f"{where}: {exc}") from None
    raise CoverageError(f"{where}: neither coverage.py JSON nor Cobertura XML")


async def fetch_coverage(url: str, *, timeout: float = 10.0) -> Coverage:
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        raise CoverageError(f"{url}: cannot fetch the coverage report: {exc!r}") from None
    if response.status_code != 200:
        raise CoverageError(f"{url}: HTTP {response.status_code} for the coverage report")
    return parse_coverage(response.text, url)
