"""An OpenAPI document shared with a request: a JSON or YAML file of the message's `files`,
read with the bot's token and handed to the workflow as text (context `spec_text`,
`spec_name`); the workflow validates it like any document.

Slack's file objects carry `url_private_download` (read with `Authorization: Bearer <bot
token>`, which needs the `files:read` scope); one that carries only its id
(`file_access: check_file_info`) is described by files.info first. The token goes only to
Slack's own hosts (the Web API's, or *.slack.com), never into a log line or a message;
httpx logs a request's URL, never its headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages

__all__ = ["MAX_BYTES", "SharedDocument", "SharedFileError", "shared_document"]

log = structlog.get_logger("devops-bot.slack")

MAX_BYTES = 1024 * 1024  # an OpenAPI document larger than 1 MiB is pasted as a URL instead
DOWNLOAD_TIMEOUT_S = 10.0
_SUFFIXES = (".json", ".yaml", ".yml")
_FILETYPES = frozenset({"json", "yaml", "yml"})
_MIMETYPES = frozenset(
    {"application/json", "text/json", "application/yaml", "application/x-yaml"}
    | {"text/yaml", "text/x-yaml"}
)


class SharedFileError(Exception):
    """A shared file that cannot be read; the message is the sentence the asker sees."""


@dataclass(frozen=True)
class SharedDocument:
    name: str
    text: str


def _is_document(described: dict[str, Any]) -> bool:
    name = str(described.get("name") or "").lower()
    mimetype = str(described.get("mimetype") or "").split(";")[0].strip().lower()
    return (
        name.endswith(_SUFFIXES)
        or str(described.get("filetype") or "").lower() in _FILETYPES
        or mimetype in _MIMETYPES
    )


def _slack_host(url: str, api_url: str) -> bool:
    """Slack's own hosts: the Web API's (tests, Enterprise proxies) or *.slack.com."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    api_host = (urlsplit(api_url).hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return False
    if parts.scheme == "http" and host != api_host:
        return False  # the token over plain HTTP only to a Web API configured that way
    return host == api_host or host == "slack.com" or host.endswith(".slack.com")


async def _described(client: AsyncWebClient, shared: dict[str, Any]) -> dict[str, Any]:
    """The file object with its name and download URL (files.info when the event has only
    the id)."""
    if shared.get("name") and (shared.get("url_private_download") or shared.get("url_private")):
        return shared
    file_id = str(shared.get("id") or "")
    try:
        answer = await client.files_info(file=file_id)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
        log.warning("slack.file_info_failed", file=file_id, error=error)
        if error == "missing_scope":
            raise SharedFileError(messages.shared_file_missing_scope()) from None
        raise SharedFileError(messages.shared_file_refused(file_id, error)) from None
    found = answer.get("file")
    return found if isinstance(found, dict) else {"id": file_id}


async def shared_document(
    client: AsyncWebClient, files: Sequence[dict[str, Any]]
) -> SharedDocument:
    """The first JSON or YAML file of `files`, as text. Raises `SharedFileError` saying why
    not: no such file, over `MAX_BYTES`, not UTF-8 text, or Slack refused the download."""
    described = [await _described(client, dict(f)) for f in files]
    chosen = next((f for f in described if _is_document(f)), None)
    if chosen is None:
        names = [str(f.get("name") or f.get("id") or "?") for f in described]
        raise SharedFileError(messages.shared_file_not_a_document(names))
    name = str(chosen.get("name") or chosen.get("id"))
    size = chosen.get("size")
    if isinstance(size, int) and size > MAX_BYTES:
        raise SharedFileError(messages.shared_file_too_big(name, size, MAX_BYTES))
    url = str(chosen.get("url_private_download") or chosen.get("url_private") or "")
    if not url or not _slack_host(url, client.base_url):
        raise SharedFileError(messages.shared_file_refused(name, "no download URL on Slack"))
    data = await _download(url, str(client.token or ""), name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SharedFileError(messages.shared_file_not_text(name)) from None
    log.info("slack.file_read", file=chosen.get("id"), bytes=len(data))
    return SharedDocument(name, text)


async def _download(url: str, token: str, name: str) -> bytes:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != 200:
                log.warning("slack.file_download_refused", status=response.status_code)
                raise SharedFileError(
                    messages.shared_file_refused(name, f"HTTP {response.status_code}")
                )
            if response.headers.get("content-type", "").startswith("text/html"):
                # What Slack answers a token it does not accept for this file: a sign-in page.
                log.warning("slack.file_download_refused", status="sign-in page")
                raise SharedFileError(messages.shared_file_refused(name, "a sign-in page"))
            data = b""
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_BYTES:
                    raise SharedFileError(messages.shared_file_too_big(name, None, MAX_BYTES))
            return data
    except httpx.HTTPError as exc:
        log.warning("slack.file_download_failed", error=type(exc).__name__)
        raise SharedFileError(messages.shared_file_refused(name, type(exc).__name__)) from None
