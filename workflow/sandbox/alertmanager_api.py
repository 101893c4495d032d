"""The sandbox Alertmanager: the Alertmanager API v2 over the sandbox cluster's alerts.

The alerts are those of `workflow.sandbox.model`'s rules (HighErrorRate, HighLatencyP99,
PodCrashLooping, ContainerOOMKilled) over the same model the sandbox Prometheus answers
from, so they start when the cluster's metrics went bad and resolve (and leave the list)
once the metrics recover, e.g. after a rollback. Each carries the annotation
`source: devops-bot sandbox`. Alerts may also be pushed (`POST /api/v2/alerts`, kept in
memory as Alertmanager does, resolved after 5 minutes without an update).

Silences behave as Alertmanager's: validated the same way (400 with its messages), matched
against alerts (`status.state: suppressed`, `silencedBy`), expired with DELETE. With a
`state_file` they are kept in that JSON file, so a silence made by one CLI process is seen by
the next; otherwise in memory.

Endpoints: `GET/POST /api/v2/alerts`, `GET/POST /api/v2/silences`,
`GET/DELETE /api/v2/silence/{id}`, `GET /api/v2/status`, `GET /api/v2/receivers`,
`/-/ready`, `/-/healthy`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from workflow.sandbox._serve import ThreadedServer
from workflow.sandbox._state import SharedStateFile
from workflow.sandbox.model import ModelAlert, SandboxModel

if TYPE_CHECKING:
    from workflow.sandbox.kube_api import KubeApiServer

__all__ = ["RECEIVER", "SandboxAlertmanager", "clear_silences", "fingerprint"]

VERSION = "0.27.0-devops-bot-sandbox"
RECEIVER = "devops-bot-sandbox"
_STATE_FORMAT = "devops-bot-alertmanager-sandbox/1"
RESOLVE_TIMEOUT = 300.0  # a pushed alert without endsAt resolves after this
RETENTION = 120 * 3600.0  # expired silences are dropped after this (Alertmanager's default)
VALID_FOR = 240.0  # a model alert's endsAt: as Prometheus's 4 x resend delay
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FILTER = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s:.*?))\s*$")

_CONFIG = """\
# devops-bot sandbox Alertmanager: simulated alerts of the sandbox cluster, not real ones.
global:
  resolve_timeout: 5m
route:
  receiver: devops-bot-sandbox
receivers:
- name: devops-bot-sandbox
"""

_OFFSET64 = 14695981039346656037
_PRIME64 = 1099511628211
_MASK64 = (1 << 64) - 1


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's alert fingerprint: FNV-1a 64 over the sorted label pairs."""
    h = _OFFSET64
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _PRIME64) & _MASK64
            h = ((h ^ 0xFF) * _PRIME64) & _MASK64
    return f"{h:016x}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: Any) -> float:
    if not isinstance(value, str) or not value:
        raise ValueError(f"parsing time {json.dumps(value)} as RFC 3339 failed")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse '
            f'"{value}" as "2006"'
        ) from None
    if stamp.tzinfo is None:
        raise ValueError(f'parsing time "{value}": missing time zone')
    return stamp.timestamp()


class _Fail(Exception):
    """An error answer: a JSON string (Alertmanager's handlers) or a {code, message} object
    (its request validation)."""

    def __init__(self, status: int, body: Any):
        super().__init__(str(body))
        self.status = status
        self.body = body


def _invalid_body(what: str, reason: str) -> _Fail:
    return _Fail(
        400, {"code": 400, "message": f'parsing {what} body from "" failed, because {reason}'}
    )


def _required(path: str) -> _Fail:
    return _Fail(422, {"code": 602, "message": f"{path} in body is required"})


# ---------------------------------------------------------------------------- matchers


class _Matcher:
    def __init__(self, name: str, value: str, *, regex: bool, equal: bool):
        self.name, self.value, self.regex, self.equal = name, value, regex, equal
        self._re = re.compile(f"^(?:{value})$", re.DOTALL) if regex else None

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        hit = bool(self._re.match(actual)) if self._re is not None else actual == self.value
        return hit == self.equal


def _parse_filter(text: str) -> _Matcher:
    """One `filter=` matcher as Alertmanager parses it (`name="value"`, =~, !=, !~)."""
    match = _FILTER.match(text)
    if match is None:
        raise _Fail(400, f"bad matcher format: {text}")
    name, op, raw = match.groups()
    value = raw
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        value = raw[1:-1]
    out, escaped = [], False
    for ch in value:
        if escaped:
            out.append({"n": "\n"}.get(ch, ch) if ch in '"\\n' else "\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            raise _Fail(400, f"matcher value contains unescaped double quote: {raw}")
        else:
            out.append(ch)
    if escaped:
        out.append("\\")
    try:
        return _Matcher(name, "".join(out), regex=op in ("=~", "!~"), equal=op in ("=", "=~"))
    except re.error as exc:
        raise _Fail(400, f"bad matcher format: {text}: {exc}") from None


def _silence_matchers(matchers: list[dict]) -> list[_Matcher]:
    out = []
    for i, m in enumerate(matchers):
        name = m["name"]
        if not _LABEL_NAME.match(name):
            raise _Fail(
                400, f'silence invalid: invalid label matcher {i}: invalid label name "{name}"'
            )
        try:
            out.append(_Matcher(name, m["value"], regex=m["isRegex"], equal=m["isEqual"]))
        except re.error as exc:
            raise _Fail(
                400,
                f"silence invalid: invalid label matcher {i}: invalid regular expression "
                f'"{m["value"]}": {exc}',
            ) from None
    if all(matcher.matches({}) for matcher in out):
        raise _Fail(400, "silence invalid: at least one matcher must not match the empty string")
    return out


def _bool_param(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "true").strip().lower()
    return value not in ("false", "0", "f")


# ---------------------------------------------------------------------------- server


class SandboxAlertmanager(ThreadedServer):
    """The Alertmanager API v2 over the alerts of the sandbox cluster `kube` (in-process).

    `SandboxAlertmanager(kube, state_file=path).start()` returns the base URL for
    `AlertmanagerClient`. `clock` defaults to the cluster's; `prometheus_url`, when given,
    makes each alert's generatorURL point at that (sandbox) Prometheus.
    """

    _label = "sandbox Alertmanager"

    def __init__(
        self,
        kube: KubeApiServer,
        state_file: Path | str | None = None,
        *,
        clock: Callable[[], float] | None = None,
        prometheus_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        super().__init__(host=host, port=port)
        self.kube = kube
        self.state_file = Path(state_file) if state_file else None
        self.clock = clock or kube.now
        self.model = SandboxModel(kube, clock=self.clock)
        self.prometheus_url = prometheus_url.rstrip("/") if prometheus_url else None
        self.started_at = self.clock()
        self._silences: dict[str, dict[str, Any]] = {}
        self._pushed: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._shared = SharedStateFile(
            self.state_file,
            format=_STATE_FORMAT,
            what="sandbox Alertmanager",
            on_reload=self._reload,
        )
        self._shared.refresh()

    # -- persistence

    def _reload(self, data: dict[str, Any]) -> None:
        self._silences = dict(data.get("silences") or {})

    def _save(self) -> None:
        self._shared.save({"format": _STATE_FORMAT, "silences": self._silences})

    # -- silences

    @staticmethod
    def _state(sil: dict[str, Any], now: float) -> str:
        if sil["endsAt"] <= now:
            return "expired"
        if sil["startsAt"] > now:
            return "pending"
        return "active"

    def _render_silence(self, sil: dict[str, Any], now: float) -> dict[str, Any]:
        return {
            "id": sil["id"],
            "status": {"state": self._state(sil, now)},
            "updatedAt": _iso(sil["updatedAt"]),
            "comment": sil["comment"],
            "createdBy": sil["createdBy"],
            "endsAt": _iso(sil["endsAt"]),
            "matchers": copy.deepcopy(sil["matchers"]),
            "startsAt": _iso(sil["startsAt"]),
        }

    def _gc(self, now: float) -> bool:
        old = [k for k, s in self._silences.items() if s["endsAt"] < now - RETENTION]
        for key in old:
            del self._silences[key]
        return bool(old)

    def _expire(self, sil: dict[str, Any], now: float) -> None:
        state = self._state(sil, now)
        if state == "expired":
            return
        if state == "pending":
            sil["startsAt"] = now
        sil["endsAt"] = now
        sil["updatedAt"] = now

    @staticmethod
    def _validate_silence(body: Any) -> dict[str, Any]:
        """The silence of a POST body, checked as Alertmanager's API does."""
        if not isinstance(body, dict):
            raise _invalid_body(
                "silence",
                "json: cannot unmarshal value into Go value of type models.PostableSilence",
            )
        for field in ("comment", "createdBy", "endsAt", "matchers", "startsAt"):
            if field not in body or body[field] is None:
                raise _required(field)
        for field in ("comment", "createdBy"):
            if not isinstance(body[field], str):
                raise _invalid_body("silence", f"json: cannot unmarshal value into {field}")
        matchers = body["matchers"]
        if not isinstance(matchers, list):
            raise _invalid_body("silence", "json: cannot unmarshal value into matchers")
        if not matchers:
            raise _Fail(
                422, {"code": 612, "message": "matchers in body should have at least 1 items"}
            )
        clean = []
        for i, m in enumerate(matchers):
            if not isinstance(m, dict):
                raise _invalid_body("silence", f"json: cannot unmarshal value into matchers.{i}")
            for field in ("isRegex", "name", "value"):
                if field not in m or m[field] is None:
                    raise _required(f"matchers.{i}.{field}")
            if not isinstance(m["name"], str) or not isinstance(m["value"], str):
                raise _invalid_body("silence", f"json: cannot unmarshal value into matchers.{i}")
            if not isinstance(m["isRegex"], bool) or not isinstance(m.get("isEqual", True), bool):
                raise _invalid_body("silence", f"json: cannot unmarshal value into matchers.{i}")
            clean.append(
                {
                    "isEqual": m.get("isEqual", True),
                    "isRegex": m["isRegex"],
                    "name": m["name"],
                    "value": m["value"],
                }
            )
        try:
            starts, ends = _parse_time(body["startsAt"]), _parse_time(body["endsAt"])
        except ValueError as exc:
            raise _invalid_body("silence", str(exc)) from None
        silence_id = body.get("id")
        if silence_id is not None and not isinstance(silence_id, str):
            raise _invalid_body("silence", "json: cannot unmarshal value into id")
        return {
            "id": silence_id or "",
            "matchers": clean,
            "startsAt": starts,
            "endsAt": ends,
            "createdBy": body["createdBy"],
            "comment": body["comment"],
        }

    def _set_silence(self, new: dict[str, Any], now: float) -> str:
        if new["startsAt"] >= new["endsAt"]:
            raise _Fail(400, "Failed to create silence: start time must be before end time")
        if new["endsAt"] < now:
            raise _Fail(400, "Failed to create silence: end time can't be in the past")
        _silence_matchers(new["matchers"])
        previous = self._silences.get(new["id"]) if new["id"] else None
        if new["id"] and previous is None:
            raise _Fail(404, "silence not found")
        if previous is not None:
            if self._can_update(previous, new, now):
                previous.update(
                    startsAt=new["startsAt"],
                    endsAt=new["endsAt"],
                    comment=new["comment"],
                    createdBy=new["createdBy"],
                    updatedAt=now,
                )
                return previous["id"]
            self._expire(previous, now)
        silence = dict(new, id=str(uuid.uuid4()), updatedAt=now)
        silence["startsAt"] = max(silence["startsAt"], now)
        self._silences[silence["id"]] = silence
        return silence["id"]

    def _can_update(self, old: dict[str, Any], new: dict[str, Any], now: float) -> bool:
        if old["matchers"] != new["matchers"]:
            return False
        state = self._state(old, now)
        if state == "active":
            return new["startsAt"] == old["startsAt"] and new["endsAt"] >= now
        if state == "pending":
            return new["startsAt"] >= now
        return False

    def _silenced_by(self, labels: dict[str, str], now: float) -> list[str]:
        return sorted(
            sid
            for sid, sil in self._silences.items()
            if self._state(sil, now) == "active"
            and all(
                m.matches(labels)
                for m in (
                    _Matcher(x["name"], x["value"], regex=x["isRegex"], equal=x["isEqual"])
                    for x in sil["matchers"]
                )
            )
        )

    # -- alerts

    def _model_alert(self, alert: ModelAlert) -> dict[str, Any]:
        out = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": alert.starts_at,
            "endsAt": alert.evaluated_at + VALID_FOR,
            "updatedAt": alert.evaluated_at,
            "generatorURL": "",
        }
        if self.prometheus_url:
            expr = (
                f'ALERTS{{alertname="{alert.labels["alertname"]}",'
                f'service="{alert.labels["service"]}",namespace="{alert.labels["namespace"]}"}}'
            )
            out["generatorURL"] = f"{self.prometheus_url}/graph?g0.expr={quote(expr)}&g0.tab=1"
        return out

    def _all_alerts(self, now: float) -> list[dict[str, Any]]:
        alerts: dict[str, dict[str, Any]] = {}
        for fp, alert in self._pushed.items():
            if alert["endsAt"] > now:
                alerts[fp] = alert
        for model_alert in self.model.view().alerts(now):
            alert = self._model_alert(model_alert)
            alerts[fingerprint(alert["labels"])] = alert
        out = []
        for fp in sorted(alerts):
            alert = alerts[fp]
            silenced = self._silenced_by(alert["labels"], now)
            body = {
                "annotations": dict(sorted(alert["annotations"].items())),
                "endsAt": _iso(alert["endsAt"]),
                "fingerprint": fp,
                "receivers": [{"name": RECEIVER}],
                "startsAt": _iso(alert["startsAt"]),
                "status": {
                    "inhibitedBy": [],
                    "silencedBy": silenced,
                    "state": "suppressed" if silenced else "active",
                },
                "updatedAt": _iso(alert["updatedAt"]),
                "labels": dict(sorted(alert["labels"].items())),
            }
            if alert.get("generatorURL"):
                body["generatorURL"] = alert["generatorURL"]
            out.append(body)
        return out

    def _push(self, alerts: Any, now: float) -> None:
        if not isinstance(alerts, list):
            raise _invalid_body(
                "alerts",
                "json: cannot unmarshal object into Go value of type models.PostableAlerts",
            )
        parsed = []
        for i, alert in enumerate(alerts):
            if not isinstance(alert, dict):
                raise _invalid_body("alerts", f"json: cannot unmarshal value into {i}")
            labels = alert.get("labels")
            if labels is None:
                raise _required(f"{i}.labels")
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise _invalid_body("alerts", f"json: cannot unmarshal value into {i}.labels")
            annotations = alert.get("annotations") or {}
            if not isinstance(annotations, dict):
                raise _invalid_body("alerts", f"json: cannot unmarshal value into {i}.annotations")
            try:
                starts = _parse_time(alert["startsAt"]) if alert.get("startsAt") else None
                ends = _parse_time(alert["endsAt"]) if alert.get("endsAt") else None
            except ValueError as exc:
                raise _invalid_body("alerts", str(exc)) from None
            if starts is None:
                starts = now if ends is None else ends
            if ends is None:
                ends = now + RESOLVE_TIMEOUT
            parsed.append((labels, annotations, starts, ends, alert.get("generatorURL") or ""))
        errors = []
        for labels, _, starts, ends, _ in parsed:
            if not labels:
                errors.append("at least one label pair required")
            for name in labels:
                if not _LABEL_NAME.match(name):
                    errors.append(f'invalid label set: invalid name "{name}"')
            if ends < starts:
                errors.append("start time must be before end time")
        if errors:
            raise _Fail(400, "; ".join(errors))
        for labels, annotations, starts, ends, url in parsed:
            fp = fingerprint(labels)
            old = self._pushed.get(fp)
            if old is not None and old["endsAt"] >= starts:
                starts = min(starts, old["startsAt"])
            self._pushed[fp] = {
                "labels": dict(labels),
                "annotations": {str(k): str(v) for k, v in annotations.items()},
                "startsAt": starts,
                "endsAt": ends,
                "updatedAt": now,
                "generatorURL": url,
            }

    # -- HTTP

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/v2/status", self._status)
        r.add_get("/api/v2/receivers", self._receivers)
        r.add_get("/api/v2/alerts", self._get_alerts)
        r.add_post("/api/v2/alerts", self._post_alerts)
        r.add_get("/api/v2/silences", self._get_silences)
        r.add_post("/api/v2/silences", self._post_silences)
        r.add_get("/api/v2/silence/{id}", self._get_silence)
        r.add_delete("/api/v2/silence/{id}", self._delete_silence)
        r.add_get("/-/ready", self._ok)
        r.add_get("/-/healthy", self._ok)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Fail as exc:
            return web.json_response(exc.body, status=exc.status)

    def _run(self, fn: Callable[[float], Any], *, writes: bool = False) -> Any:
        with self._lock, self._shared.locked():
            now = self.clock()
            dropped = self._gc(now)
            result = fn(now)
            if writes or dropped:
                self._save()
            return result

    @staticmethod
    async def _json(request: web.Request, what: str) -> Any:
        raw = await request.read()
        try:
            return json.loads(raw or b"null")
        except ValueError as exc:
            raise _invalid_body(what, f"invalid character in JSON: {exc}") from None

    @staticmethod
    def _silence_id(request: web.Request) -> str:
        sid = request.match_info["id"]
        if not _UUID.match(sid):
            raise _Fail(
                422, {"code": 601, "message": f'silenceID in path must be of type uuid: "{sid}"'}
            )
        return sid

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "cluster": {"peers": [], "status": "disabled"},
                "config": {"original": _CONFIG},
                "uptime": _iso(self.started_at),
                "versionInfo": {
                    "branch": "sandbox",
                    "buildDate": "",
                    "buildUser": "devops-bot",
                    "goVersion": "none (simulated by devops-bot)",
                    "revision": "devops-bot-sandbox",
                    "version": VERSION,
                },
            }
        )

    async def _receivers(self, request: web.Request) -> web.Response:
        return web.json_response([{"name": RECEIVER}])

    async def _get_alerts(self, request: web.Request) -> web.Response:
        matchers = [_parse_filter(f) for f in request.query.getall("filter", [])]
        receiver = request.query.get("receiver")
        try:
            receiver_re = re.compile(f"^(?:{receiver})$") if receiver else None
        except re.error as exc:
            raise _Fail(400, f"failed to parse receiver param: {exc}") from None
        active, silenced = _bool_param(request, "active"), _bool_param(request, "silenced")
        inhibited = _bool_param(request, "inhibited")

        def fn(now: float) -> list[dict[str, Any]]:
            out = []
            for alert in self._all_alerts(now):
                if receiver_re is not None and not receiver_re.match(RECEIVER):
                    continue
                if not all(m.matches(alert["labels"]) for m in matchers):
                    continue
                status = alert["status"]
                if not active and status["state"] == "active":
                    continue
                if not silenced and status["silencedBy"]:
                    continue
                if not inhibited and status["inhibitedBy"]:
                    continue
                out.append(alert)
            return out

        return web.json_response(self._run(fn))

    async def _post_alerts(self, request: web.Request) -> web.Response:
        body = await self._json(request, "alerts")
        self._run(lambda now: self._push(body, now))
        return web.Response(status=200)

    async def _get_silences(self, request: web.Request) -> web.Response:
        matchers = [_parse_filter(f) for f in request.query.getall("filter", [])]

        def fn(now: float) -> list[dict[str, Any]]:
            items = []
            for sil in self._silences.values():
                labels = {m["name"]: m["value"] for m in sil["matchers"]}
                if all(m.matches(labels) for m in matchers):
                    items.append(sil)
            order = {"active": 0, "pending": 1, "expired": 2}

            def key(sil: dict[str, Any]) -> tuple[int, float]:
                state = self._state(sil, now)
                if state == "active":
                    return (0, sil["endsAt"])
                if state == "pending":
                    return (1, sil["startsAt"])
                return (order[state], -sil["endsAt"])

            return [self._render_silence(s, now) for s in sorted(items, key=key)]

        return web.json_response(self._run(fn))

    async def _post_silences(self, request: web.Request) -> web.Response:
        body = await self._json(request, "silence")
        silence = self._validate_silence(body)
        silence_id = self._run(lambda now: self._set_silence(silence, now), writes=True)
        return web.json_response({"silenceID": silence_id})

    async def _get_silence(self, request: web.Request) -> web.Response:
        sid = self._silence_id(request)

        def fn(now: float) -> dict[str, Any]:
            sil = self._silences.get(sid)
            if sil is None:
                raise _Fail(404, "silence not found")
            return self._render_silence(sil, now)

        return web.json_response(self._run(fn))

    async def _delete_silence(self, request: web.Request) -> web.Response:
        sid = self._silence_id(request)

        def fn(now: float) -> None:
            sil = self._silences.get(sid)
            if sil is None:
                raise _Fail(404, "silence not found")
            self._expire(sil, now)

        self._run(fn, writes=True)
        return web.Response(status=200)

    # -- for tests and the CLI

    def silences(self) -> list[dict[str, Any]]:
        """The stored silences, as the API lists them."""
        return self._run(
            lambda now: [self._render_silence(s, now) for s in self._silences.values()]
        )


def clear_silences(state_file: Path) -> int | None:
    """Drop every silence kept in `state_file`, whatever it held (even something
    unreadable); an Alertmanager serving it sees none from its next request on. Returns
    how many there were (expired ones included), None if the file was missing or unreadable.
    """
    previous = SharedStateFile(
        Path(state_file), format=_STATE_FORMAT, what="sandbox Alertmanager", on_reload=_ignore
    ).overwrite({"format": _STATE_FORMAT, "silences": {}})
    if previous is None:
        return None
    return len(previous.get("silences") or {})


def silences_in(state_file: Path) -> list[str]:
    """One line per silence kept in `state_file` (id, matchers, comment); [] when there is
    no file or it cannot be read."""
    try:
        data = json.loads(Path(state_file).read_text())
    except (OSError, ValueError):
        return []
    lines = []
    for sid, silence in sorted(((data or {}).get("silences") or {}).items()):
        matchers = ", ".join(
            f"{m.get('name')}={m.get('value')}" for m in silence.get("matchers") or []
        )
        lines.append(f"{sid}  {matchers}  {silence.get('comment') or ''}".rstrip())
    return lines


def _ignore(_data: dict[str, Any]) -> None:
    pass
