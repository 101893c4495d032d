"""What a wheel of the product holds: every data file the code reads at run time (sandbox
catalogs and pipelines, runbooks, templates) is named by the package-data of
pyproject.toml, so `pip install .` (the Dockerfile's install) works as the editable install
the tests use does."""

from __future__ import annotations

import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_data_file_of_the_packages_is_in_the_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    tracked = subprocess.run(
        ["git", "ls-files", "workflow", "bot"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git ls-files found the packages"
    missing = []
    for name in tracked:
        if name.endswith(".py"):
            continue
        package, _, inside = name.partition("/")
        globs = package_data.get(package, [])
        if not any(_matches(inside, glob) for glob in globs):
            missing.append(name)
    assert missing == [], f"add these to [tool.setuptools.package-data]: {missing}"


def _matches(path: str, glob: str) -> bool:
    """setuptools' package-data globs: `*` stays inside one folder, `**` crosses folders."""
    if "**" in glob:
        return fnmatch(path, glob.replace("**/", "*"))
    return len(path.split("/")) == len(glob.split("/")) and fnmatch(path, glob)
