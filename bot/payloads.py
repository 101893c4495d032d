"""The parts of Slack's request payloads that the listeners read, and `validate_body`.

Slack sends these shapes; a signed request that does not have them is a bug or a forgery,
and gets a 400 before any listener runs (`bot.server` for HTTP mode, the
`bot.middleware.validate_payload` middleware for Socket Mode). Each model holds exactly
the fields some listener (or the runtime it calls) reads; every other field Slack sends is
allowed and left alone. Strings are strict: a number where Slack sends an id or a text is
refused, never turned into a string.

Kinds the app does not listen to (url_verification, shortcuts, ...) are not checked here:
bolt answers them as before (the url_verification challenge, or 404 "unhandled request").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
)

__all__ = [
    "BlockActions",
    "EventCallback",
    "SharedFile",
    "SlashCommand",
    "ViewClosed",
    "ViewSubmission",
    "validate_body",
]

_REASON_MAX = 200


class _Slack(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- slash commands (form fields; also accepted as JSON or `payload=` JSON) -------------------


class SlashCommand(_Slack):
    command: StrictStr
    text: StrictStr = ""
    user_id: StrictStr
    channel_id: StrictStr
    team_id: StrictStr | None = None
    response_url: StrictStr | None = None
    trigger_id: StrictStr | None = None


# -- Events API ---------------------------------------------------------------------------


class SharedFile(_Slack):
    """One of a message's `files` (an OpenAPI document shared with a request). Slack may send
    only `id` (and `file_access: check_file_info`): the rest is then read with files.info."""

    id: StrictStr
    name: StrictStr | None = None
    mimetype: StrictStr | None = None
    filetype: StrictStr | None = None
    size: StrictInt | None = None
    url_private: StrictStr | None = None
    url_private_download: StrictStr | None = None
    file_access: StrictStr | None = None


class MessageEvent(_Slack):
    """`app_mention` and `message` (a reply in a thread; `file_share`: with files)."""

    type: Literal["app_mention", "message"]
    text: StrictStr | None = None
    user: StrictStr | None = None
    channel: StrictStr | None = None
    ts: StrictStr | None = None
    thread_ts: StrictStr | None = None
    subtype: StrictStr | None = None
    bot_id: StrictStr | None = None
    team: StrictStr | None = None
    files: list[SharedFile] | None = None


class OtherEvent(_Slack):
    """An event type no listener reads: only its type must be there."""

    type: StrictStr


def _event_kind(event: Any) -> str:
    kind = event.get("type") if isinstance(event, dict) else None
    return "message" if kind in ("app_mention", "message") else "other"


class EventCallback(_Slack):
    type: Literal["event_callback"]
    event: Annotated[
        Annotated[MessageEvent, Tag("message")] | Annotated[OtherEvent, Tag("other")],
        Discriminator(_event_kind),
    ]
    event_id: StrictStr | None = None
    team_id: StrictStr | None = None


# -- interactivity ------------------------------------------------------------------------


class User(_Slack):
    id: StrictStr


class Team(_Slack):
    id: StrictStr | None = None


class Container(_Slack):
    type: StrictStr | None = None
    channel_id: StrictStr | None = None
    message_ts: StrictStr | None = None
    thread_ts: StrictStr | None = None


class Channel(_Slack):
    id: StrictStr


class Message(_Slack):
    ts: StrictStr | None = None
    thread_ts: StrictStr | None = None
    text: StrictStr | None = None


class Action(_Slack):
    action_id: StrictStr
    value: StrictStr | None = None
    block_id: StrictStr | None = None
    type: StrictStr | None = None


class BlockActions(_Slack):
    type: Literal["block_actions"]
    user: User
    team: Team | None = None
    container: Container | None = None
    channel: Channel | None = None
    message: Message | None = None
    actions: list[Action] = Field(min_length=1)
    trigger_id: StrictStr | None = None
    response_url: StrictStr | None = None


class InputValue(_Slack):
    """One input's state (`view.state.values[block_id][action_id]`)."""

    type: StrictStr | None = None
    value: StrictStr | None = None


class ViewState(_Slack):
    values: dict[StrictStr, dict[StrictStr, InputValue]] = Field(default_factory=dict)


class View(_Slack):
    id: StrictStr
    type: StrictStr
    callback_id: StrictStr
    private_metadata: StrictStr = ""
    state: ViewState = Field(default_factory=ViewState)


class ViewSubmission(_Slack):
    type: Literal["view_submission"]
    view: View
    user: User
    team: Team | None = None
    trigger_id: StrictStr | None = None


class ViewClosed(_Slack):
    type: Literal["view_closed"]
    view: View
    user: User
    team: Team | None = None


_BY_TYPE: dict[str, type[_Slack]] = {
    "event_callback": EventCallback,
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "view_closed": ViewClosed,
}


def validate_body(body: Any) -> str | None:
    """None when `body` (a parsed request) has the shape its kind needs, else a short
    reason (where and what, never the offending value) for a 400."""
    if not isinstance(body, dict):
        return "not a JSON object"
    if "command" in body:
        model: type[_Slack] | None = SlashCommand
    else:
        kind = body.get("type")
        if not isinstance(kind, str):
            return "neither a command nor a payload type"
        model = _BY_TYPE.get(kind)
    if model is None:
        # A kind no listener reads: bolt answers it (404), after logging a summary that
        # reads `view` as an object whatever the kind (a string there made it a 500).
        if "view" in body and not isinstance(body["view"], dict):
            return "view: must be an object"
        return None
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return _reason(exc)
    except RecursionError:
        return "nested too deeply"
    return None


def _reason(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    loc = list(first["loc"])
    if loc[:1] == ["event"] and loc[1:2] in (["message"], ["other"]):
        del loc[1]  # the union's tag, not a field
    where = ".".join(str(part) for part in loc)
    reason = f"{where}: {first['msg']}" if where else first["msg"]
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more)"
    return reason[:_REASON_MAX]
