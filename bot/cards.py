"""What every message with our buttons belongs to (where each open approval card is: the
`CardIndex` in bot.stores).

`Origins`: the message (channel, ts) the bot posted with buttons -> the thread and approval
request those buttons act on; a reject modal's view id -> the user it was opened for and
its request. A click is honoured only when its message (or modal) is one the bot recorded
for that exact thread and request: a button value copied onto another card, a message
that does not exist, or a modal nobody opened changes nothing.

Origins live in the approval store. Group membership lookups are cached here too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Origin", "Origins", "TtlCache"]


@dataclass(frozen=True)
class Origin:
    """What a message's buttons (or a modal) were posted for.

    `kind`: "approval" (an approval card: `approval_id` is its request, `status_ts` its
    run's status message), "incident" (an
    investigation's findings) or "modal" (a reject modal opened for `user` on the card at
    `channel`/`card_ts`).
    """

    kind: str
    thread_id: str
    approval_id: str = ""
    user: str = ""
    channel: str = ""
    card_ts: str = ""
    status_ts: str = ""  # an approval card's: the run's status message, which it updates


class Origins:
    """(channel, message ts) or a modal's view id -> the `Origin` the bot recorded for it.

    Kept as write-once records in the approval store (`claim`/`claimed`), so they live where
    the approvals do: Redis shared by every replica, or SQLite in the data directory, and
    a restarted bot still honours the buttons of the cards it posted before.
    """

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store  # -> the service's ApprovalStore (resolved per call)

    async def message_posted(self, channel: str, ts: str, origin: Origin) -> None:
        await self._store().claim(f"origin:msg:{channel}:{ts}", asdict(origin))

    async def of_message(self, channel: str, ts: str) -> Origin | None:
        return _origin(await self._store().claimed(f"origin:msg:{channel}:{ts}"))

    async def modal_opened(self, view_id: str, origin: Origin) -> None:
        await self._store().claim(f"origin:view:{view_id}", asdict(origin))

    async def of_modal(self, view_id: str) -> Origin | None:
        return _origin(await self._store().claimed(f"origin:view:{view_id}"))


def _origin(data: Any) -> Origin | None:
    if not isinstance(data, dict) or not data.get("kind") or not data.get("thread_id"):
        return None
    return Origin(**{k: str(v) for k, v in data.items() if k in Origin.__dataclass_fields__})


class TtlCache:
    """A small async memo with a per-entry lifetime (Slack user-group members); None is not kept."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._values: dict[str, tuple[float, Any]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        now = self._clock()
        hit = self._values.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if value is not None:  # None: the lookup failed; ask again next time
            self._values[key] = (now + self.ttl, value)
        return value
