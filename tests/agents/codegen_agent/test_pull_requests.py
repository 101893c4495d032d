"""Generated code as pull requests (issue 13): a client in a consumer's repository, scaffolded
tests in the service's own, through the installed CLI on the sandbox forge (real git)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import Cli, no_traceback
from workflow.agents.codegen_agent.reading import read_codegen_request
from workflow.tools.changes import ChangeError, ChangeRequest
from workflow.tools.changes.proposal import diff_of, pull_request_plan
from workflow.tools.changes.sandbox import SandboxForge

EXIT_OK, EXIT_PAUSED = 0, 10
CLIENT_PR = "generate a python client for checkout and open a pull request to web"


def thread_of(out: str) -> str:
    return re.search(r"^thread: (cli-\S+)$", out, re.M)[1]  # type: ignore[index]


def tree(bare: Path, ref: str) -> list[str]:
    done = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", ref],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_the_pull_request_names_the_consumer():
    found = read_codegen_request("codegen", CLIENT_PR, {})
    assert found["pull_request"] is True and found["pr_target"] == "web"
    plain = read_codegen_request("codegen", "generate a client for checkout and open a PR", {})
    assert plain["pull_request"] is True and "pr_target" not in plain


def test_the_diff_counts_new_changed_and_unchanged_files():
    diff, counts = diff_of(
        {"a.py": "x = 1\n", "b.py": "y = 2\n", "c.py": "z = 3\n"},
        {"a.py": None, "b.py": "y = 1\n", "c.py": "z = 3\n"},
    )
    assert counts == {"added": 1, "changed": 1, "unchanged": 1}
    assert "+++ b/a.py" in diff and "-y = 1" in diff and "+y = 2" in diff
    assert "c.py" not in diff


def test_without_a_forge_the_plan_is_refused_with_why():
    class Deps:
        def backend(self, name):
            return None

        def why_missing(self, name):
            return "no forge is configured: set DEVOPS_BOT_FORGE=github"

    with pytest.raises(ChangeError, match="no forge is configured"):
        asyncio.run(
            pull_request_plan(Deps(), name="x", repository="acme/web", files={"a": "b"},
                              title="t", description="d")
        )  # fmt: skip


def test_a_client_pull_request_to_web_shows_the_diff_and_opens_once(sqlite_cli: Cli):
    # web's repository already holds an older copy of one generated file
    forge = SandboxForge(sqlite_cli.data_dir)
    old_types = "# an older generated file\nUNSET = None\n"
    asyncio.run(
        forge.submit(
            ChangeRequest(
                repository="acme/web",
                files={"README.md": "# web\n",
                       "clients/checkout/checkout_client/types.py": old_types},
                branch="main", title="web", message="Initial commit", new_repository=True,
            )
        )
    )  # fmt: skip
    run = sqlite_cli("run", CLIENT_PR, "--as", "U1", "--sandbox")
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    assert "open_pull_request pull request on acme/web" in run.out
    assert "clients/checkout/checkout_client/client.py" in run.out
    assert re.search(r"clients/checkout/checkout_client/types\.py \(\d+ lines, changed\)", run.out)
    assert "15 new, 1 changed, 0 unchanged file(s)" in run.out, run.out
    assert "--- a/clients/checkout/checkout_client/types.py" in run.out
    assert "-# an older generated file" in run.out
    shown = sqlite_cli("sandbox", "show")
    assert "0 pull request(s)" in shown.out, "nothing pushed before the click"

    thread = thread_of(run.out)
    done = sqlite_cli("approve", thread, "--as", "U1")
    no_traceback(done)
    assert done.code == EXIT_OK, done
    assert "pull request #1 on acme/web: sandbox://acme/web/pull/1" in done.out
    again = sqlite_cli("approve", thread, "--as", "U1")
    assert again.code != EXIT_OK and "already decided" in again.both, again
    shown = sqlite_cli("sandbox", "show")
    assert "1 pull request(s)" in shown.out, shown.out
    assert "pull request sandbox://acme/web/pull/1 [sandbox] open" in shown.out

    (pull,) = forge.pulls()
    assert "Python client of checkout's API" in pull["body"] and "safe call passed" in pull["body"]
    files = tree(forge.repo_path("acme", "web"), pull["head"])
    assert "clients/checkout/checkout_client/api/default/list_orders.py" in files
    assert "README.md" in files, "branched from web's main"
    assert tree(forge.repo_path("acme", "web"), "main") == [
        "README.md",
        "clients/checkout/checkout_client/types.py",
    ], "main untouched"


def test_a_client_pull_request_to_an_unknown_consumer_is_only_a_warning(sqlite_cli: Cli):
    run = sqlite_cli(
        "run", "generate a python client for checkout and open a pull request to nowhere",
        "--as", "U1", "--sandbox",
    )  # fmt: skip
    assert run.code == EXIT_OK, run
    assert "no pull request: nowhere is not in the catalog (known: " in run.both, run


@pytest.mark.slow
def test_scaffolded_tests_pull_request_carries_the_run(sqlite_cli: Cli):
    run = sqlite_cli(
        "run", "scaffold tests for the orders endpoints of checkout and open a pull request",
        "--as", "U1", "--sandbox", "--json",
    )  # fmt: skip
    no_traceback(run)
    assert run.code == EXIT_PAUSED, run
    report = json.loads(run.out)
    approval = report["approval"]
    assert approval["action"] == "open_pull_request"
    (module,) = approval["files"]
    assert module["path"] == "tests/api/test_checkout_api.py"
    compile(module["content"], module["path"], "exec")
    done = sqlite_cli("approve", report["thread_id"], "--as", "U1")
    assert done.code == EXIT_OK, done
    assert "pull request #1 on acme/checkout" in done.out
    (pull,) = SandboxForge(sqlite_cli.data_dir).pulls()
    # the description carries the one run's result (the planted bugs fail 2 tests; under
    # heavy load the run's numbers may differ, never its presence)
    ran = r"Run once against checkout in staging \(http://127\.0\.0\.1:\d+/checkout\) before "
    ran += r"this pull request was planned: \*\*(.+?)\*\*"
    found = re.search(ran, pull["body"])
    assert found and re.search(r"\d+ failed, \d+ passed", found[1]), pull["body"]
    assert found[1] in approval["preview"], "the plan showed the description"
    assert "`GET /orders`" in pull["body"]
