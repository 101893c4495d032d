"""Result parts: what an agent shows a person, as a small closed set of plain-data kinds.

An agent result carries `parts: [...]`, each a dict with a `kind` among `KINDS`. The edges
(`bot.results` for Slack, `bot.render` for the terminal) render every kind once; neither names
an agent. Parts are plain JSON data (they live in checkpointed graph state): build them with
the constructors here, which validate and cap them.

  text      {"body"}                                       markdown-ish; the edge escapes it
  table     {"title", "columns", "rows"}                   cells are strings
  file      {"path", "content", "media_type", "title", "note"}  a text artifact
  chart     {"title", "name", "metric"}                    a `MetricResult` dump (its series)
  findings  {"incident"}                                   an incident record: its remediation
                                                           steps are the buttons
  preview   {"title", "body"}                              a plan's dry-run preview

A plan (`workflow.plan.Plan.files`) carries files of the same shape as `file` parts (path,
content, media type): the approval card shows them exactly and `--out DIR` writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "KINDS",
    "MAX_BINARY_BYTES",
    "MAX_FILE_BYTES",
    "MAX_TABLE_ROWS",
    "ChartPart",
    "FilePart",
    "FindingsPart",
    "Part",
    "PartError",
    "PreviewPart",
    "TablePart",
    "TextPart",
    "binary_file",
    "chart",
    "check_path",
    "file",
    "file_bytes",
    "findings",
    "of_kind",
    "parts_of",
    "plan_files",
    "preview",
    "table",
    "table_lines",
    "text",
]

Kind = Literal["text", "table", "file", "chart", "findings", "preview"]
KINDS: tuple[str, ...] = ("text", "table", "file", "chart", "findings", "preview")

MAX_FILE_BYTES = 256 * 1024  # a generated file larger than this is not an artifact to review
MAX_BINARY_BYTES = 1024 * 1024  # a generated archive (a client's zip)
MAX_TABLE_ROWS = 200
MAX_PATH_CHARS = 255


class PartError(ValueError):
    """A part that cannot be built as asked (a file too large, a path outside its folder)."""


class TextPart(TypedDict):
    kind: Literal["text"]
    body: str


class TablePart(TypedDict):
    kind: Literal["table"]
    title: str
    columns: list[str]
    rows: list[list[str]]
    more: NotRequired[int]  # rows left out past MAX_TABLE_ROWS


class FilePart(TypedDict):
    kind: Literal["file"]
    path: str
    content: str
    media_type: str
    title: NotRequired[str]
    note: NotRequired[str]
    encoding: NotRequired[str]  # "base64": `content` is a binary file (a zip), encoded


class ChartPart(TypedDict):
    kind: Literal["chart"]
    title: str
    name: str
    metric: dict[str, Any]


class FindingsPart(TypedDict):
    kind: Literal["findings"]
    incident: dict[str, Any]


class PreviewPart(TypedDict):
    kind: Literal["preview"]
    title: str
    body: str


Part = TextPart | TablePart | FilePart | ChartPart | FindingsPart | PreviewPart


def text(body: str) -> TextPart:
    return {"kind": "text", "body": str(body)}


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> TablePart:
    """A table; cells become strings (None becomes empty), rows past MAX_TABLE_ROWS are
    counted in `more`."""
    cols = [str(c) for c in columns]
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    for row in cells:
        if len(row) != len(cols):
            raise PartError(f"table {title!r}: a row has {len(row)} cells for {len(cols)} columns")
    part: TablePart = {
        "kind": "table",
        "title": str(title),
        "columns": cols,
        "rows": cells[:MAX_TABLE_ROWS],
    }
    if len(cells) > MAX_TABLE_ROWS:
        part["more"] = len(cells) - MAX_TABLE_ROWS
    return part


_MEDIA_TYPES = {
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".json": "application/json",
    ".sql": "application/sql",
    ".py": "text/x-python",
    ".sh": "text/x-shellscript",
    ".toml": "application/toml",
}


def check_path(path: str) -> str:
    """`path` as a safe relative POSIX path (returned normalised), else `PartError`.

    Refused: empty, absolute (`/etc/x`, `C:\\x`, `\\\\host`), any `..` component, NUL bytes,
    backslashes, longer than MAX_PATH_CHARS."""
    raw = str(path)
    if not raw.strip() or "\x00" in raw or "\\" in raw or len(raw) > MAX_PATH_CHARS:
        raise PartError(f"file path {raw[:80]!r} is not a relative path inside the output folder")
    pure = PurePosixPath(raw)
    if pure.is_absolute() or ".." in pure.parts or (len(raw) > 1 and raw[1] == ":"):
        raise PartError(f"file path {raw[:80]!r} is not a relative path inside the output folder")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise PartError(f"file path {raw[:80]!r} names no file")
    return "/".join(parts)


def file(
    path: str,
    content: str,
    *,
    media_type: str | None = None,
    title: str | None = None,
    note: str | None = None,
) -> FilePart:
    """A text file artifact: path relative and inside its folder, at most MAX_FILE_BYTES."""
    clean = check_path(path)
    size = len(str(content).encode())
    if size > MAX_FILE_BYTES:
        raise PartError(
            f"file {clean} is {size} bytes; artifacts are capped at {MAX_FILE_BYTES} bytes"
        )
    suffix = PurePosixPath(clean).suffix.lower()
    part: FilePart = {
        "kind": "file",
        "path": clean,
        "content": str(content),
        "media_type": media_type or _MEDIA_TYPES.get(suffix, "text/plain"),
    }
    if title:
        part["title"] = str(title)
    if note:
        part["note"] = str(note)
    return part


def binary_file(path: str, encoded: str, *, media_type: str, title: str | None = None) -> FilePart:
    """A binary artifact (a zip): `encoded` is its base64 text, at most MAX_BINARY_BYTES
    once decoded; the edges upload and write the decoded bytes."""
    clean = check_path(path)
    size = len(encoded) * 3 // 4
    if size > MAX_BINARY_BYTES:
        raise PartError(
            f"file {clean} is {size} bytes; binary artifacts are capped at {MAX_BINARY_BYTES} bytes"
        )
    part: FilePart = {
        "kind": "file",
        "path": clean,
        "content": str(encoded),
        "media_type": media_type,
        "encoding": "base64",
    }
    if title:
        part["title"] = str(title)
    return part


def file_bytes(part: dict[str, Any]) -> bytes:
    """A file part's bytes (decoded when it is a binary one)."""
    if part.get("encoding") == "base64":
        import base64

        return base64.b64decode(str(part.get("content", "")))
    return str(part.get("content", "")).encode()


def chart(metric: dict[str, Any], *, title: str | None = None) -> ChartPart:
    """A chart of one metric result (`MetricResult.model_dump(mode="json")`: its series)."""
    name = str(metric.get("name") or "metric")
    return {
        "kind": "chart",
        "title": str(title or metric.get("title") or name),
        "name": name,
        "metric": metric,
    }


def findings(incident: dict[str, Any]) -> FindingsPart:
    return {"kind": "findings", "incident": incident}


def preview(body: str, *, title: str = "Dry-run preview") -> PreviewPart:
    return {"kind": "preview", "title": title, "body": str(body)}


def parts_of(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The parts of an agent result that are of a known kind, in order (others skipped)."""
    found = (result or {}).get("parts") or []
    return [p for p in found if isinstance(p, dict) and p.get("kind") in KINDS]


def of_kind(result: dict[str, Any] | None, kind: str) -> list[dict[str, Any]]:
    return [p for p in parts_of(result) if p["kind"] == kind]


def plan_files(files: Iterable[dict[str, Any]] | None) -> list[FilePart]:
    """A plan's (or approval request's) files as `file` parts, checked again on the way out."""
    return [
        file(f["path"], f.get("content", ""), media_type=f.get("media_type") or None)
        for f in files or []
        if isinstance(f, dict) and "path" in f
    ]


def table_lines(part: dict[str, Any], *, max_cell: int = 60) -> list[str]:
    """A table as aligned text lines (header first), cells cut at `max_cell` characters."""

    def cut(value: Any) -> str:
        flat = " ".join(str(value).split())
        return flat if len(flat) <= max_cell else flat[: max_cell - 1] + "…"

    header = [cut(c) for c in part.get("columns") or []]
    rows = [[cut(v) for v in row] for row in part.get("rows") or []]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)).rstrip()
        for r in [header, *rows]
    ]
    if part.get("more"):
        lines.append(f"… {part['more']} more row(s)")
    return lines
