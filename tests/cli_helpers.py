"""Run the installed `devops-bot` console script as a subprocess, the way a person would.

Each `Cli` has its own data directory and a clean environment: nothing from the caller's
shell (REDIS_URL, DEVOPS_BOT_POLICY, OPENAI_API_KEY, KUBECONFIG, ...) leaks into a test
unless the test sets it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BOT",
    "DROPPED_ENV",
    "REPO",
    "Cli",
    "Deployment",
    "Result",
    "no_traceback",
    "one_error_line",
]

BOT = Path(sys.executable).parent / "devops-bot"
REPO = Path(__file__).resolve().parent.parent

# Variables the product reads (bot/settings.py) that must not leak from the caller's shell.
DROPPED_ENV = (
    "REDIS_URL",
    "DEVOPS_BOT_POLICY",
    "DEVOPS_BOT_CATALOG",
    "DEVOPS_BOT_SANDBOX",
    "DEVOPS_BOT_DATA_DIR",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "KUBECONFIG",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "PROMETHEUS_URL",
    "PROMETHEUS_LABELS",
    "ALERTMANAGER_URL",
    "LOKI_URL",
    "LOKI_SERVICE_LABEL",
    "DEVOPS_BOT_RUNBOOKS",
    "KUBERNETES_SERVICE_HOST",
    "HARNESS_URL",
    "HARNESS_ACCOUNT_ID",
    "HARNESS_ORG_ID",
    "HARNESS_PROJECT_ID",
    "HARNESS_API_KEY",
    "DEVOPS_BOT_FORGE",
    "DEVOPS_BOT_FORGE_URL",
    "DEVOPS_BOT_FORGE_ORG",
    "DEVOPS_BOT_FORGE_TOKEN",
    "DEVOPS_BOT_TEMPLATES",
    "BILLING_PROD_DATABASE_URL",
    "BILLING_STAGING_DATABASE_URL",
    "DATABASE_LOCK_TIMEOUT_S",
    "DATABASE_STATEMENT_TIMEOUT_S",
    "DATABASE_REHEARSAL_TIMEOUT_S",
    "DATABASE_APPLY_RETRIES",
    "DEVOPS_BOT_IMAGE_REGISTRY",
)
TIMEOUT = 60


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (
            f"$ devops-bot {' '.join(repr(a) if ' ' in a or not a else a for a in self.args)}\n"
            f"exit {self.code}\n--- stdout ---\n{self.out[-3000:]}\n--- stderr ---\n"
            f"{self.err[-3000:]}"
        )

    @property
    def both(self) -> str:
        return self.out + self.err

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def json(self):
        import json

        return json.loads(self.out)


@dataclass(frozen=True)
class Deployment:
    image: str
    replicas: int
    revision: int


_SHOW_LINE = re.compile(
    r"^\s+(?P<ns>\S+)\s+(?P<name>\S+)\s+(?P<image>\S+)\s+replicas=(?P<replicas>\d+)\s+"
    r"revision=(?P<revision>\d+)\s*$"
)


class Cli:
    def __init__(self, data_dir: Path, *, mode: str = "sqlite", **env: str) -> None:
        self.data_dir = data_dir
        self.mode = mode  # persistence the test expects: "sqlite" or "redis" (REDIS_URL)
        base = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        base["DEVOPS_BOT_DATA_DIR"] = str(data_dir)
        base.update(env)
        self.env = base

    def start(self, *args: str) -> subprocess.Popen[str]:
        assert BOT.exists(), f"console script not installed next to the interpreter: {BOT}"
        return subprocess.Popen(
            [str(BOT), *args],
            env=self.env,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def finish(proc: subprocess.Popen[str], args: tuple[str, ...]) -> Result:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(
                f"devops-bot {' '.join(args)} did not finish within {TIMEOUT} s\n{out}\n{err}"
            ) from None
        return Result(args, proc.returncode, out, err)

    def __call__(self, *args: str) -> Result:
        return self.finish(self.start(*args), args)

    def many(self, *commands: tuple[str, ...]) -> list[Result]:
        """Start every command at once, then wait for all of them (results in order)."""
        procs = [(self.start(*c), c) for c in commands]
        return [self.finish(p, c) for p, c in procs]

    def python(self, *args: str) -> Result:
        proc = subprocess.run(
            [sys.executable, *args],
            env=self.env,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return Result(("<python>", *args), proc.returncode, proc.stdout, proc.stderr)

    def cluster(self, res: Result | None = None) -> dict[tuple[str, str], Deployment]:
        """`devops-bot sandbox show` (run now, or its given result), parsed:
        {(namespace, deployment): Deployment}."""
        res = res if res is not None else self("sandbox", "show")
        assert res.code == 0, f"sandbox show failed\n{res}"
        out = {}
        for line in res.out.splitlines():
            m = _SHOW_LINE.match(line)
            if m:
                out[(m["ns"], m["name"])] = Deployment(
                    m["image"], int(m["replicas"]), int(m["revision"])
                )
        assert out, f"sandbox show listed no deployments\n{res}"
        return out


def no_traceback(res: Result) -> None:
    assert "Traceback" not in res.both, f"the command crashed with a traceback\n{res}"


def one_error_line(res: Result, *fragments: str) -> str:
    """The single `devops-bot: ...` line on stderr, checked to contain every fragment."""
    no_traceback(res)
    assert len(res.err_lines) == 1, f"expected exactly one line on stderr\n{res}"
    line = res.err_lines[0]
    assert line.startswith("devops-bot: "), f"stderr line should start with 'devops-bot: '\n{res}"
    for fragment in fragments:
        assert fragment.lower() in line.lower(), f"stderr should mention {fragment!r}\n{res}"
    return line
