"""A JSON state file that several processes serve in turn (a CLI `run`, then `approve`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["SharedStateFile"]


class SharedStateFile:
    """The JSON object at `path` (None: no file, nothing is read or written) whose "format"
    must be `format`; `what` names it in errors ("sandbox cluster").

    `locked()` holds an exclusive lock on `<path>.lock` for one request and first hands the
    object to `on_reload` when another process saved it since this one last read or wrote it
    (its stamp, mtime and size, changed); `save()` writes it atomically. The caller keeps
    the object in memory and holds its own thread lock around `locked()`.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        format: str,
        what: str,
        on_reload: Callable[[dict[str, Any]], None],
    ):
        self.path = path
        self.format, self.what = format, what
        self._on_reload = on_reload
        self._seen_stamp: tuple[int, int] | None = None

    def refresh(self) -> bool:
        """Hand the file's object to `on_reload` if it exists and changed since last seen;
        True if it did."""
        if self.path is None or not self.path.exists() or self._stamp() == self._seen_stamp:
            return False
        self._on_reload(self._read())
        self._seen_stamp = self._stamp()
        return True

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file lock for the `with` block, reloading first if another process saved."""
        if self.path is None:
            yield
            return
        with self._flock():
            self.refresh()
            yield

    def overwrite(
        self, data: dict[str, Any], *, separators: tuple[str, str] | None = None
    ) -> dict[str, Any] | None:
        """Replace the file with `data` under the lock, whatever it held (even something
        unreadable); a process serving it reloads it at its next request. Returns what it
        held: None when there was no file or it was not readable as this state."""
        if self.path is None:
            return None
        with self._flock():
            try:
                previous = self._read() if self.path.exists() else None
            except ValueError:
                previous = None
            self.save(data, separators=separators)
        return previous

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def save(self, data: dict[str, Any], *, separators: tuple[str, str] | None = None) -> None:
        """Write `data` (with its "format") atomically: a temporary file, fsync, rename."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh, separators=separators)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._seen_stamp = self._stamp()

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {self.what} state {self.path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != self.format:
            raise ValueError(f"{self.path} is not a {self.what} state file ({self.format})")
        return data

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()  # type: ignore[union-attr]
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)
