"""Web search: a pluggable provider interface, off unless a provider is configured.

No real provider ships with the bot: none is reachable from this deployment, and choosing
one (and its API key) is an operator decision. A provider is any object with an async
`search(query, *, limit)` returning `WebResult`s; plug one in with `WebSearch` typing.
Until then `DisabledWebSearch` answers every call by raising `BackendNotConfigured` with
a message that says web search is not configured (use `describe()` for the same text
without raising).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel

from workflow.tools.errors import BackendNotConfigured

__all__ = ["NOT_CONFIGURED_MESSAGE", "DisabledWebSearch", "WebResult", "WebSearch"]

NOT_CONFIGURED_MESSAGE = (
    "web search is not configured: no web search provider is set up for this bot, so I "
    "cannot search the internet. Runbooks and docs are searchable with documentation_search."
)


class WebResult(BaseModel):
    title: str
    url: str
    snippet: str = ""


@runtime_checkable
class WebSearch(Protocol):
    """A web search provider."""

    name: str
    enabled: bool

    async def search(self, query: str, *, limit: int = 5) -> list[WebResult]: ...


class DisabledWebSearch:
    """The default provider: web search is off; every search says so."""

    name = "disabled"
    enabled = False

    def describe(self) -> str:
        return NOT_CONFIGURED_MESSAGE

    async def search(self, query: str, *, limit: int = 5) -> list[WebResult]:
        raise BackendNotConfigured(NOT_CONFIGURED_MESSAGE)
