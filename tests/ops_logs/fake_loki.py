"""A local HTTP server answering `/loki/api/v1/query_range` the way Loki does.

It parses the LogQL it receives (stream selector with `=`, `!=`, `=~`, `!~` matchers and the
line filters `|=`, `!=`, `|~`, `!~` with Go-quoted or backtick strings), applies the selector,
the filters, `start`/`end` (ns, end exclusive), `limit` and `direction` to the entries pushed
into it, and answers in Loki's `streams` format. A query it cannot parse gets HTTP 400 with a
plain-text error like Loki's (`parse error at line 1, col N: ...`). Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["FakeLoki", "LogQLError", "parse_logql"]

MAX_ENTRIES = 5000


class LogQLError(ValueError):
    pass


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, what: str) -> LogQLError:
        return LogQLError(f"parse error at line 1, col {self.pos + 1}: syntax error: {what}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def expect(self, token: str) -> None:
        self.skip()
        if self.peek(len(token)) != token:
            raise self.error(f"unexpected {self.peek(8)!r}, expecting {token!r}")
        self.pos += len(token)

    def ident(self) -> str:
        self.skip()
        match = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(self.text, self.pos)
        if not match:
            raise self.error(f"unexpected {self.peek(8)!r}, expecting IDENTIFIER")
        self.pos = match.end()
        return match.group(0)

    def string(self) -> str:
        self.skip()
        quote = self.peek()
        if quote == "`":
            end = self.text.find("`", self.pos + 1)
            if end < 0:
                raise self.error("unterminated raw string")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        if quote != '"':
            raise self.error(f"unexpected {self.peek(8)!r}, expecting STRING")
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.error("literal not terminated")
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\n":
                raise self.error("newline in string")
            if ch != "\\":
                out.append(ch)
                self.pos += 1
                continue
            esc = self.text[self.pos + 1 : self.pos + 2]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                self.pos += 2
            elif esc in ("u", "U", "x"):
                width = {"u": 4, "U": 8, "x": 2}[esc]
                digits = self.text[self.pos + 2 : self.pos + 2 + width]
                if not re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", digits):
                    raise self.error("invalid syntax in string escape")
                out.append(chr(int(digits, 16)))
                self.pos += 2 + width
            else:
                raise self.error(f"invalid char escape \\{esc}")

    def op(self, options: tuple[str, ...]) -> str:
        self.skip()
        for option in options:
            if self.peek(len(option)) == option:
                self.pos += len(option)
                return option
        raise self.error(f"unexpected {self.peek(8)!r}, expecting one of {options}")


def _regex(pattern: str, parser: _Parser) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise LogQLError(f"parse error : error parsing regexp: {exc}: `{pattern}`") from None


def parse_logql(text: str) -> tuple[list[tuple[str, str, Any]], list[tuple[str, Any]]]:
    """(matchers, line filters) of a log query; LogQLError when it does not parse."""
    parser = _Parser(text)
    parser.expect("{")
    matchers: list[tuple[str, str, Any]] = []
    while True:
        name = parser.ident()
        op = parser.op(("=~", "!~", "!=", "="))
        value = parser.string()
        matchers.append((name, op, _regex(f"^(?:{value})$", parser) if "~" in op else value))
        parser.skip()
        if parser.peek() == ",":
            parser.pos += 1
            continue
        parser.expect("}")
        break
    if not any(
        (op == "=" and value != "") or (op == "=~" and not value.match(""))
        for _, op, value in matchers
    ):
        raise LogQLError(
            "parse error : queries require at least one regexp or equality matcher that does "
            'not have an empty-compatible value. For instance, app=~".*" does not meet this '
            'requirement, but app=~".+" will'
        )
    filters: list[tuple[str, Any]] = []
    while True:
        parser.skip()
        if parser.pos >= len(text):
            break
        op = parser.op(("|=", "!=", "|~", "!~"))
        value = parser.string()
        filters.append((op, _regex(value, parser) if "~" in op else value))
    return matchers, filters


def _selected(labels: dict[str, str], matchers: list[tuple[str, str, Any]]) -> bool:
    for name, op, value in matchers:
        actual = labels.get(name, "")
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
        if op == "=~" and not value.match(actual):
            return False
        if op == "!~" and value.match(actual):
            return False
    return True


def _passes(line: str, filters: list[tuple[str, Any]]) -> bool:
    for op, value in filters:
        if op == "|=" and value not in line:
            return False
        if op == "!=" and value in line:
            return False
        if op == "|~" and not value.search(line):
            return False
        if op == "!~" and value.search(line):
            return False
    return True


class FakeLoki:
    """`with FakeLoki() as loki: loki.push({...labels}, [(ts_ns, line), ...])`."""

    def __init__(self) -> None:
        self.streams: list[tuple[dict[str, str], list[tuple[int, str]]]] = []
        self.requests: list[dict[str, Any]] = []
        self.fail_next: list[int] = []  # status codes to answer with before working normally
        self.max_entries = MAX_ENTRIES  # Loki's max_entries_limit_per_query
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, labels: dict[str, str], entries: list[tuple[int, str]]) -> None:
        with self._lock:
            self.streams.append((dict(labels), list(entries)))

    def start(self) -> FakeLoki:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLoki:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling

    def _send(self, handler: BaseHTTPRequestHandler, code: int, body: str, ctype: str) -> None:
        data = body.encode()
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"path": parsed.path, "params": params})
            fail = self.fail_next.pop(0) if self.fail_next else None
        if fail is not None:
            self._send(handler, fail, "injected failure\n", "text/plain; charset=utf-8")
            return
        if parsed.path != "/loki/api/v1/query_range":
            self._send(handler, 404, "404 page not found\n", "text/plain; charset=utf-8")
            return
        try:
            code, body = 200, json.dumps(self._query_range(params))
            ctype = "application/json; charset=UTF-8"
        except LogQLError as exc:
            code, body, ctype = 400, f"{exc}\n", "text/plain; charset=utf-8"
        self._send(handler, code, body, ctype)

    def _query_range(self, params: dict[str, str]) -> dict[str, Any]:
        if "query" not in params:
            raise LogQLError("parse error : syntax error: unexpected $end")
        matchers, filters = parse_logql(params["query"])
        now = time.time_ns()
        try:
            end = int(params.get("end") or now)
            start = int(params.get("start") or end - 3600 * 10**9)
            limit = int(params.get("limit") or 100)
        except ValueError as exc:
            raise LogQLError(f"invalid parameter: {exc}") from None
        if limit <= 0:
            raise LogQLError("limit must be a positive value")
        if limit > self.max_entries:
            raise LogQLError(
                f"max entries limit per query exceeded, limit > max_entries_limit "
                f"({limit} > {self.max_entries})"
            )
        if end < start:
            raise LogQLError("end timestamp must not be before or equal to start time")
        direction = params.get("direction") or "backward"
        if direction not in ("forward", "backward"):
            raise LogQLError(f"invalid direction {direction!r}")
        with self._lock:
            streams = list(self.streams)
        entries: list[tuple[int, str, tuple[tuple[str, str], ...]]] = []
        for labels, values in streams:
            if not _selected(labels, matchers):
                continue
            key = tuple(sorted(labels.items()))
            entries += [
                (ts, line, key)
                for ts, line in values
                if start <= ts < end and _passes(line, filters)
            ]
        entries.sort(key=lambda e: e[0], reverse=direction == "backward")
        entries = entries[:limit]
        result: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for ts, line, key in entries:
            result.setdefault(key, []).append([str(ts), line])
        return {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": [{"stream": dict(k), "values": v} for k, v in result.items()],
                "stats": {"summary": {"totalEntriesReturned": len(entries)}},
            },
        }
