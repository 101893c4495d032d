"""Documentation and runbook search: RediSearch (with `REDIS_URL`) or SQLite FTS5 (embedded).

What is indexed:

- Markdown files of a directory (`index_directory`): the title is the first `# ` heading (else
  the file name); each file is split into sections at its headings and each section is one
  search entry (title, section heading, body). A file may name its service in front matter
  (`---\\nservice: checkout\\n---`); files without one are general documentation.
- Runbook links of the service catalog (`add_links`, `index_catalog`): one entry per URL,
  titled from the URL's last path segment, tagged with the service.

Both backends share one interface: `index_directory(path)`, `add_links(service, urls)`,
`search(text, *, limit=5, service=None)` returning `[{title, section, snippet, path_or_url,
score, service}]`, best first, one result per document (its best section). `score` is the
backend's own relevance (RediSearch BM25, or FTS5's bm25 negated): higher is better, only
comparable within one answer. A `service` filter keeps that service's documents and the
general ones.

User text never reaches either query language as syntax: it is reduced to word tokens, each
escaped (RediSearch) or quoted (FTS5), joined with OR; so input like `500s: "timeout" -foo
@bar` cannot cause a syntax error or change the query.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import yaml

__all__ = [
    "DocSection",
    "DocsSearch",
    "RediSearchDocs",
    "SqliteFtsDocs",
    "index_catalog",
    "link_section",
    "parse_markdown",
    "query_tokens",
]

GENERAL = "_general"  # service tag of documents for every service (not a DNS-1123 name)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be but by do does for from how i if in into is it its me my no not "
    "of on or our so such that the their then there these they this to was what when where "
    "which who why will with you your".split()
)
MAX_TOKENS = 32


@dataclass(frozen=True)
class DocSection:
    """One search entry: a section of a Markdown file, or a runbook link."""

    title: str
    heading: str
    body: str
    path_or_url: str
    service: str | None
    position: int = 0

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.path_or_url}#{self.position}".encode()).hexdigest()


class DocsSearch(Protocol):
    async def index_directory(self, path: str | Path, *, service: str | None = None) -> int: ...

    async def add_links(self, service: str | None, urls: Iterable[str]) -> int: ...

    async def search(
        self, text: str, *, limit: int = 5, service: str | None = None
    ) -> list[dict[str, Any]]: ...


# ---------------------------------------------------------------------------- parsing


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            try:
                data = yaml.safe_load("\n".join(lines[1:i])) or {}
            except yaml.YAMLError:
                return {}, text
            return (data if isinstance(data, dict) else {}), "\n".join(lines[i + 1 :])
    return {}, text


def parse_markdown(
    path: str | Path, *, text: str | None = None, service: str | None = None
) -> list[DocSection]:
    """The sections of one Markdown file (front matter `service:` tags them)."""
    path = Path(path)
    raw = text if text is not None else path.read_text(encoding="utf-8", errors="replace")
    meta, content = _front_matter(raw.replace("\r\n", "\n"))
    service = str(meta.get("service") or service or "") or None
    title: str | None = None
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    in_fence = False
    for line in content.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            heading = match.group(2).strip()
            if title is None and len(match.group(1)) == 1:
                title = heading
            sections.append((heading, []))
        else:
            sections[-1][1].append(line)
    title = title or path.stem.replace("-", " ").replace("_", " ")
    out: list[DocSection] = []
    for heading, body_lines in sections:
        body = "\n".join(body_lines).strip()
        if not body and heading is None:
            continue
        out.append(
            DocSection(
                title=title,
                heading=heading or title,
                body=body,
                path_or_url=str(path),
                service=service,
                position=len(out),
            )
        )
    return out


def link_section(service: str | None, url: str) -> DocSection:
    """A search entry for a runbook link: title from the URL's last path segment."""
    parsed = urlparse(url)
    segments = [s for s in unquote(parsed.path).split("/") if s]
    last = re.sub(r"\.(md|html?)$", "", segments[-1]) if segments else parsed.netloc
    words = re.sub(r"[-_+.]+", " ", last).strip() or url
    title = words[:1].upper() + words[1:]
    body = " ".join([*(re.sub(r"[-_+.]+", " ", s) for s in segments), parsed.netloc])
    if service:
        body += f" {service} runbook"
    return DocSection(
        title=title, heading=title, body=body, path_or_url=url, service=service, position=0
    )


def query_tokens(text: str) -> list[str]:
    """Word tokens of user text (lowercase, no stop words, at most MAX_TOKENS, unique)."""
    seen: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        token = token.strip("_")
        if token and token not in _STOPWORDS and token not in seen:
            seen.append(token)
    return seen[:MAX_TOKENS]


def _markdown_files(path: str | Path) -> list[Path]:
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"documentation directory {str(root)!r} does not exist")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".md", ".markdown"))


def _best_per_document(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: -r["score"]):
        out.setdefault(row["path_or_url"], row)
    return list(out.values())[:limit]


async def index_catalog(docs: DocsSearch, catalog: Any) -> int:
    """Index the runbook links of every service of a ServiceCatalog."""
    services = getattr(catalog, "services", {}) or {}
    entries = services.values() if isinstance(services, dict) else services
    count = 0
    for entry in entries:
        if entry.runbooks:
            count += await docs.add_links(entry.name, entry.runbooks)
    return count


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be a whole number >= 1")
    return min(limit, 50)


# ---------------------------------------------------------------------------- RediSearch

_TAG_SPECIAL = re.compile(r"([^A-Za-z0-9_])")


def _tag(value: str) -> str:
    return _TAG_SPECIAL.sub(r"\\\1", value)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


class RediSearchDocs:
    """Docs index in Redis: hashes under `{prefix}:docs:` and an FT index on them."""

    backend_name = "redisearch"

    def __init__(self, redis_client: Any, prefix: str = "devops-bot"):
        self.redis = redis_client
        self.prefix = prefix
        self.index_name = f"{prefix}:docs:idx"
        self.key_prefix = f"{prefix}:docs:"
        self._ready = False

    async def ensure_index(self) -> None:
        if self._ready:
            return
        from redis.commands.search.field import TagField, TextField
        from redis.commands.search.index_definition import IndexDefinition, IndexType
        from redis.exceptions import ResponseError

        try:
            await self.redis.ft(self.index_name).create_index(
                [
                    TextField("title", weight=5.0),
                    TextField("heading", weight=3.0),
                    TextField("body"),
                    TagField("service"),
                    TextField("path_or_url", no_stem=True, weight=0.5),
                ],
                definition=IndexDefinition(prefix=[self.key_prefix], index_type=IndexType.HASH),
            )
        except ResponseError as exc:
            if "already exists" not in str(exc).lower():
                raise
        self._ready = True

    def _source_key(self, source: str) -> str:
        return f"{self.prefix}:docsrc:{hashlib.sha1(source.encode()).hexdigest()}"

    async def _replace(self, source: str, sections: list[DocSection]) -> None:
        await self.ensure_index()
        source_key = self._source_key(source)
        old = {_text(k) for k in await self.redis.smembers(source_key)}
        pipe = self.redis.pipeline(transaction=True)
        if old:
            pipe.delete(*old)
        pipe.delete(source_key)
        for section in sections:
            key = self.key_prefix + section.key
            pipe.hset(
                key,
                mapping={
                    "title": section.title,
                    "heading": section.heading,
                    "body": section.body,
                    "service": section.service or GENERAL,
                    "path_or_url": section.path_or_url,
                },
            )
            pipe.sadd(source_key, key)
        await pipe.execute()

    async def index_directory(self, path: str | Path, *, service: str | None = None) -> int:
        count = 0
        for file in _markdown_files(path):
            sections = parse_markdown(file, service=service)
            await self._replace(str(file), sections)
            count += len(sections)
        return count

    async def add_links(self, service: str | None, urls: Iterable[str]) -> int:
        count = 0
        for url in urls:
            await self._replace(f"{service or GENERAL}|{url}", [link_section(service, url)])
            count += 1
        return count

    async def search(
        self, text: str, *, limit: int = 5, service: str | None = None
    ) -> list[dict[str, Any]]:
        from redis.commands.search.query import Query

        limit = _check_limit(limit)
        tokens = query_tokens(text)
        if not tokens:
            return []
        await self.ensure_index()
        # Tokens are \w+ only; escape anything that is not a letter or digit regardless.
        terms = "|".join(re.sub(r"([^\w])", r"\\\1", t) for t in tokens)
        query_text = f"({terms})"
        if service:
            query_text = f"@service:{{{_tag(service)} | {GENERAL}}} {query_text}"
        query = (
            Query(query_text)
            .scorer("BM25")
            .with_scores()
            .return_fields("title", "heading", "path_or_url", "service", "body")
            .summarize(fields=["body"], context_len=12, num_frags=2, sep=" … ")
            .highlight(fields=["body"], tags=("*", "*"))
            .paging(0, min(limit * 5, 100))
            .dialect(2)
        )
        result = await self.redis.ft(self.index_name).search(query)
        rows = []
        for doc in result.docs:
            rows.append(
                {
                    "title": _text(getattr(doc, "title", "")),
                    "section": _text(getattr(doc, "heading", "")),
                    "snippet": re.sub(r"\s+", " ", _text(getattr(doc, "body", ""))).strip(),
                    "path_or_url": _text(getattr(doc, "path_or_url", "")),
                    "service": (lambda s: None if s == GENERAL else s)(
                        _text(getattr(doc, "service", ""))
                    ),
                    "score": float(doc.score),
                }
            )
        return _best_per_document(rows, limit)

    async def drop(self) -> None:
        """Drop the index and its documents."""
        from redis.exceptions import ResponseError

        try:
            await self.redis.ft(self.index_name).dropindex(delete_documents=True)
        except ResponseError:
            pass
        self._ready = False


# ---------------------------------------------------------------------------- SQLite FTS5


class SqliteFtsDocs:
    """Docs index in an SQLite FTS5 table (porter stemming, bm25 ranking, snippet())."""

    backend_name = "sqlite-fts5"

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5("
                "title, heading, body, service UNINDEXED, path_or_url UNINDEXED, "
                "source UNINDEXED, tokenize = 'porter unicode61')"
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _replace_sync(self, source: str, sections: list[DocSection]) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM docs WHERE source = ?", (source,))
            self._conn.executemany(
                "INSERT INTO docs (title, heading, body, service, path_or_url, source) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (s.title, s.heading, s.body, s.service or GENERAL, s.path_or_url, source)
                    for s in sections
                ],
            )

    async def index_directory(self, path: str | Path, *, service: str | None = None) -> int:
        files = await asyncio.to_thread(_markdown_files, path)
        count = 0
        for file in files:
            sections = await asyncio.to_thread(parse_markdown, file, service=service)
            await asyncio.to_thread(self._replace_sync, str(file), sections)
            count += len(sections)
        return count

    async def forget_directory(self, path: str | Path) -> int:
        """Drop what was indexed from the Markdown files under `path` (gone or not since);
        how many files' entries were dropped."""
        return await asyncio.to_thread(self._forget_sync, str(Path(path)) + os.sep)

    def _forget_sync(self, prefix: str) -> int:
        under = "substr(source, 1, ?) = ?"
        with self._lock, self._conn:
            (files,) = self._conn.execute(
                f"SELECT COUNT(DISTINCT source) FROM docs WHERE {under}", (len(prefix), prefix)
            ).fetchone()
            self._conn.execute(f"DELETE FROM docs WHERE {under}", (len(prefix), prefix))
        return files

    async def add_links(self, service: str | None, urls: Iterable[str]) -> int:
        count = 0
        for url in urls:
            source = f"{service or GENERAL}|{url}"
            await asyncio.to_thread(self._replace_sync, source, [link_section(service, url)])
            count += 1
        return count

    def _search_sync(self, match: str, service: str | None, fetch: int) -> list[dict[str, Any]]:
        sql = (
            "SELECT title, heading, snippet(docs, 2, '*', '*', ' … ', 16), path_or_url, "
            "service, bm25(docs, 5.0, 3.0, 1.0) AS rank, body FROM docs WHERE docs MATCH ?"
        )
        params: list[Any] = [match]
        if service:
            sql += " AND service IN (?, ?)"
            params += [service, GENERAL]
        sql += " ORDER BY rank LIMIT ?"
        params.append(fetch)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        out = []
        for title, heading, snippet, path_or_url, svc, rank, body in rows:
            if not snippet.strip():
                snippet = body[:160]
            out.append(
                {
                    "title": title,
                    "section": heading,
                    "snippet": re.sub(r"\s+", " ", snippet).strip(),
                    "path_or_url": path_or_url,
                    "service": None if svc == GENERAL else svc,
                    "score": -float(rank),
                }
            )
        return out

    async def search(
        self, text: str, *, limit: int = 5, service: str | None = None
    ) -> list[dict[str, Any]]:
        limit = _check_limit(limit)
        tokens = query_tokens(text)
        if not tokens:
            return []
        # Each token as an FTS5 string ("..." with quotes doubled): never syntax.
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in tokens)
        rows = await asyncio.to_thread(self._search_sync, match, service, min(limit * 5, 100))
        return _best_per_document(rows, limit)
