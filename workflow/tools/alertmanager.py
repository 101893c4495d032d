"""Alertmanager backend: a client of the API v2 (alerts, silences).

Listing alerts and silences reads. Creating and expiring silences writes, so the agents only
*plan* them (`plan_silence`, `plan_expire`: a `Plan` whose preview lists what it would silence
or unsilence now, Alertmanager having no dry-run) and `apply(plan)` runs exactly that plan
after the approval gate. Arguments are validated before any HTTP call: silence durations
between 1 minute and 30 days, matcher names as Prometheus label names.

HTTP, retries of transient failures and errors come from `HttpBackend`; an error answer
becomes a `BackendError` carrying Alertmanager's own error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from workflow.durations import human_minutes
from workflow.plan import Plan
from workflow.tools.errors import BackendError, InvalidRequestError
from workflow.tools.http import HttpBackend

__all__ = [
    "MAX_SILENCE_MINUTES",
    "MIN_SILENCE_MINUTES",
    "AlertmanagerClient",
    "normalize_matchers",
    "validate_duration",
]

BACKEND = "Alertmanager"
MIN_SILENCE_MINUTES = 1
MAX_SILENCE_MINUTES = 30 * 24 * 60
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SILENCE_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, backend=BACKEND)


def validate_duration(minutes: Any) -> float:
    """A silence duration in minutes, 1 minute .. 30 days."""
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise _invalid(f"invalid silence duration {minutes!r}: expected a number of minutes")
    if not MIN_SILENCE_MINUTES <= minutes <= MAX_SILENCE_MINUTES:
        raise _invalid(
            f"invalid silence duration {minutes!r} minutes: must be between "
            f"{MIN_SILENCE_MINUTES} minute and 30 days ({MAX_SILENCE_MINUTES} minutes)"
        )
    return float(minutes)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise _invalid(
            f"invalid matcher name {name!r}: must be a label name "
            "(letters, digits and '_', not starting with a digit)"
        )
    return name


def normalize_matchers(matchers: Mapping[str, str] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """API v2 matchers from `{name: value}` (equality) or a list of matcher dicts."""
    if isinstance(matchers, Mapping):
        items = [{"name": k, "value": v} for k, v in matchers.items()]
    elif isinstance(matchers, list):
        items = matchers
    else:
        raise _invalid("matchers must be a mapping of label to value or a list of matchers")
    if not items:
        raise _invalid("a silence needs at least one matcher")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise _invalid(f"invalid matcher {item!r}: expected a mapping")
        name = _check_name(item.get("name"))
        value = item.get("value")
        if not isinstance(value, str):
            raise _invalid(f"invalid value for matcher {name!r}: expected a string")
        is_regex = bool(item.get("isRegex", False))
        if is_regex:
            try:
                re.compile(value)
            except re.error as exc:
                raise _invalid(f"invalid regex for matcher {name!r}: {exc}") from exc
        out.append(
            {
                "name": name,
                "value": value,
                "isRegex": is_regex,
                "isEqual": bool(item.get("isEqual", True)),
            }
        )
    return out


def _filter(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{_check_name(name)}="{escaped}"'


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerClient(HttpBackend):
    """Async client of one Alertmanager (API v2). Use as `async with` or call `aclose()`."""

    name = BACKEND
    backend_name = BACKEND
    not_configured = (
        "ALERTMANAGER_URL is not set: set it to the Alertmanager base URL "
        "(e.g. http://alertmanager:9093) to list alerts and manage silences"
    )

    def _error_text(self, response: httpx.Response) -> tuple[str, str | None]:
        """Alertmanager's own message: v2 errors are a JSON string or an object with `message`."""
        body = self._json_or_none(response)
        if isinstance(body, dict):
            body = body.get("message") or body.get("error") or body
        if body:
            return str(body)[:500], None
        return super()._error_text(response)

    # -- API

    async def alerts(
        self,
        *,
        active: bool | None = True,
        silenced: bool | None = None,
        inhibited: bool | None = None,
        unprocessed: bool | None = None,
        filters: Mapping[str, str] | None = None,
        service: str | None = None,
        receiver: str | None = None,
    ) -> list[dict[str, Any]]:
        """Alerts (`GET /api/v2/alerts`); None leaves a state flag at Alertmanager's default
        (included). `filters` are label equality matchers; `service` adds `service="..."`."""
        matchers = dict(filters or {})
        if service is not None:
            matchers["service"] = service
        params: list[tuple[str, str]] = [("filter", _filter(k, v)) for k, v in matchers.items()]
        for key, flag in (
            ("active", active),
            ("silenced", silenced),
            ("inhibited", inhibited),
            ("unprocessed", unprocessed),
        ):
            if flag is not None:
                params.append((key, "true" if flag else "false"))
        if receiver:
            params.append(("receiver", receiver))
        return list(await self.request_json("GET", "/api/v2/alerts", params=params) or [])

    async def matching(
        self, filters: Mapping[str, str], *, may_lack: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Active alerts matching `filters`, where an alert may also lack the `may_lack` labels
        (say `namespace`, which many alert rules do not carry) instead of matching them."""
        loose = {k: v for k, v in filters.items() if k in set(may_lack)}
        strict = {k: v for k, v in filters.items() if k not in loose}
        found = await self.alerts(active=True, filters=strict)
        return [
            a
            for a in found
            if all((a.get("labels") or {}).get(k, v) == v for k, v in loose.items())
        ]

    async def silences(
        self, *, filters: Mapping[str, str] | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """Silences (`GET /api/v2/silences`), optionally by matcher and state
        (active, pending, expired)."""
        params = [("filter", _filter(k, v)) for k, v in (filters or {}).items()]
        items = list(await self.request_json("GET", "/api/v2/silences", params=params) or [])
        if state is not None:
            items = [s for s in items if (s.get("status") or {}).get("state") == state]
        return items

    async def get_silence(self, silence_id: str) -> dict[str, Any]:
        return await self.request_json("GET", f"/api/v2/silence/{self._check_id(silence_id)}")

    async def create_silence(
        self,
        *,
        matchers: Mapping[str, str] | list[dict[str, Any]],
        duration_minutes: float,
        comment: str,
        created_by: str,
        starts_at: datetime | None = None,
    ) -> str:
        """Create a silence (`POST /api/v2/silences`); returns its silenceID."""
        minutes = validate_duration(duration_minutes)
        items = normalize_matchers(matchers)
        if not isinstance(comment, str) or not comment.strip():
            raise _invalid("a silence needs a comment")
        if not isinstance(created_by, str) or not created_by.strip():
            raise _invalid("a silence needs its author (created_by)")
        start = starts_at or datetime.now(UTC)
        body = {
            "matchers": items,
            "startsAt": _iso(start),
            "endsAt": _iso(start + timedelta(minutes=minutes)),
            "comment": comment,
            "createdBy": created_by,
        }
        answer = await self.request_json("POST", "/api/v2/silences", json=body)
        if not isinstance(answer, dict) or not answer.get("silenceID"):
            raise BackendError(
                f"Alertmanager did not return a silence id: {answer!r}", backend=BACKEND
            )
        return answer["silenceID"]

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence (`DELETE /api/v2/silence/{id}`)."""
        await self.request_json("DELETE", f"/api/v2/silence/{self._check_id(silence_id)}")

    async def push_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Post alerts (`POST /api/v2/alerts`) as Prometheus does; for tests and the sandbox."""
        if not isinstance(alerts, list) or not alerts:
            raise _invalid("push_alerts needs a non-empty list of alerts")
        for alert in alerts:
            labels = alert.get("labels") if isinstance(alert, Mapping) else None
            if not isinstance(labels, Mapping) or not labels:
                raise _invalid(f"every alert needs labels: {alert!r}")
            for name in labels:
                _check_name(name)
        await self.request_json("POST", "/api/v2/alerts", json=alerts)

    # -- plans (the approval gate sits between these and `apply`)

    async def plan_silence(
        self,
        *,
        matchers: Mapping[str, str],
        duration_minutes: float,
        comment: str,
        created_by: str,
        environment: str | None,
    ) -> Plan:
        """A plan to silence `matchers` for `duration_minutes`; its preview lists the alerts
        those matchers catch right now."""
        minutes = validate_duration(duration_minutes)
        items = normalize_matchers(dict(matchers))
        if not comment.strip() or not created_by.strip():
            raise _invalid("a silence needs a comment and its author")
        affected = await self.alerts(active=True, filters=matchers)
        shown = ", ".join(f'{k}="{v}"' for k, v in matchers.items())
        lines = [
            f"Create an Alertmanager silence at {self.base_url} for {human_minutes(minutes)}",
            f"  matchers: {shown}",
            f"  comment: {comment}",
            f"  created by: {created_by}",
            "Alertmanager has no dry-run; these are the alerts the matchers catch now "
            f"({len(affected)}):",
        ]
        lines += [f"  - {_alert_text(a)}" for a in affected[:20]] or ["  (none yet)"]
        risk = [] if "alertname" in matchers else ["broad_silence"]
        environment = environment or _environment_of(items)
        if environment is None:
            # Nothing limits it to one environment, so it silences production too.
            environment = "production"
            lines.append("No environment matcher: production alerts are silenced too.")
        return Plan(
            action="silence",
            kind="Silence",
            name=str(matchers.get("alertname") or next(iter(matchers.values()))),
            environment=environment,
            backend="alertmanager",
            target=f"silence {shown} for {human_minutes(minutes)}",
            body={
                "matchers": items,
                "duration_minutes": minutes,
                "comment": comment,
                "created_by": created_by,
            },
            before={"matching_alerts": len(affected)},
            after={"silenced_alerts": len(affected), "minutes": minutes},
            preview="\n".join(lines),
            dry_run=False,
            risk=risk,
        ).with_hash()

    async def plan_expire(self, silence_id: str, *, environment: str | None) -> Plan:
        """A plan to expire one silence; the preview shows what it silences."""
        silence = await self.get_silence(silence_id)
        state = (silence.get("status") or {}).get("state")
        if state == "expired":
            raise _invalid(f"silence {silence_id} has already expired ({silence.get('endsAt')})")
        matchers = silence.get("matchers") or []
        shown = ", ".join(
            f'{m["name"]}{"=~" if m.get("isRegex") else "="}"{m["value"]}"' for m in matchers
        )
        preview = "\n".join(
            [
                f"Expire Alertmanager silence {silence_id} at {self.base_url} ({state})",
                f"  matchers: {shown}",
                f"  created by: {silence.get('createdBy')}: {silence.get('comment')}",
                f"  would have ended at: {silence.get('endsAt')}",
                "The alerts it silences notify again as soon as it expires.",
            ]
        )
        return Plan(
            action="expire_silence",
            kind="Silence",
            name=silence_id,
            environment=environment or _environment_of(matchers) or "production",
            backend="alertmanager",
            target=f"silence {silence_id} ({shown})",
            body={"silence_id": silence_id},
            before={"state": state, "ends_at": silence.get("endsAt")},
            after={"state": "expired"},
            preview=preview,
            dry_run=False,
        ).with_hash()

    async def apply(self, plan: Plan) -> dict[str, Any]:
        """Execute an approved silence plan, exactly as previewed."""
        body = plan.body or {}
        if plan.action == "silence":
            silence_id = await self.create_silence(
                matchers=body["matchers"],
                duration_minutes=body["duration_minutes"],
                comment=body["comment"],
                created_by=body["created_by"],
            )
            return {"silence_id": silence_id}
        if plan.action == "expire_silence":
            await self.expire_silence(body["silence_id"])
            return {"silence_id": body["silence_id"], "expired": True}
        raise _invalid(f"Alertmanager cannot apply a {plan.action!r} plan")

    @staticmethod
    def _check_id(silence_id: Any) -> str:
        if not isinstance(silence_id, str) or not _SILENCE_ID.match(silence_id):
            raise _invalid(f"invalid silence id {silence_id!r}")
        return silence_id


def _alert_text(alert: dict[str, Any]) -> str:
    labels = alert.get("labels") or {}
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    state = (alert.get("status") or {}).get("state", "active")
    return f"{labels.get('alertname', 'alert')} [{rest}] {state} since {alert.get('startsAt')}"


def _environment_of(matchers: list[dict[str, Any]]) -> str | None:
    """The environment a silence is about, read from a matcher value such as "production"."""
    from workflow.environments import canonical_environment

    for matcher in matchers:
        if not matcher.get("isRegex"):
            env = canonical_environment(str(matcher.get("value", "")))
            if env:
                return env
    return None
