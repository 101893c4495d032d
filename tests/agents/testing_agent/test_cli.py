"""The issue's sandbox scenarios through the installed CLI, as a person would run them."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile

from tests.cli_helpers import Cli, no_traceback


def test_api_tests_against_checkout_find_the_planted_bugs(sqlite_cli: Cli, tmp_path) -> None:
    out = tmp_path / "out"
    run = sqlite_cli(
        "run", "run the API tests against checkout in staging", "--sandbox", "--out", str(out)
    )
    no_traceback(run)
    assert run.code == 0, run
    seed = re.search(r"seed (\d+)", run.out)
    assert seed, run.out
    assert "GET /orders: response_schema_conformance" in run.out
    assert "GET /orders/{order_id}: not_a_server_error" in run.out
    assert re.search(r"curl -X GET http://127\.0\.0\.1:\d+/checkout/orders/-?\d+", run.out)
    assert "- POST /orders:" not in run.out, "no false failure"
    assert "3 failure(s):" in run.out
    junit = (out / "checkout-api-tests-junit.xml").read_text()
    assert f'name="seed" value="{seed[1]}"' in junit and junit.count("<failure") == 3


def test_a_client_for_checkout_is_written_by_out_and_calls_it(sqlite_cli: Cli, tmp_path) -> None:
    out = tmp_path / "out"
    run = sqlite_cli(
        "run", "generate a python client for checkout", "--sandbox", "--out", str(out), "--json"
    )
    no_traceback(run)
    assert run.code == 0, run
    report = json.loads(run.out)
    checks = {c["name"]: c["ok"] for c in report["result"]["output"]["checks"]}
    assert checks == {"imports": True, "ruff": True, "safe call": True}, checks
    archive = zipfile.ZipFile(io.BytesIO((out / "checkout_client.zip").read_bytes()))
    archive.extractall(tmp_path / "pkg")
    done = subprocess.run(
        [sys.executable, "-c", "import checkout_client, checkout_client.api.default.get_order"],
        cwd=tmp_path / "pkg",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_coverage_of_a_sandbox_service(sqlite_cli: Cli) -> None:
    first = sqlite_cli("run", "what is the test coverage of checkout", "--sandbox")
    no_traceback(first)
    assert first.code == 0, first
    assert "checkout: 73.2% of lines covered (coverage.py JSON" in first.out, first.out
    assert "src/util.py" in first.out
    again = sqlite_cli("run", "which modules of checkout have the lowest coverage", "--sandbox")
    assert "unchanged since the last report seen" in again.out, again.out


def test_sandbox_show_and_reset_cover_what_the_api_agents_remember(sqlite_cli: Cli) -> None:
    sqlite_cli("run", "what is the test coverage of checkout", "--sandbox")
    shown = sqlite_cli("sandbox", "show")
    assert "coverage.checkout" in shown.out, shown.out
    reset = sqlite_cli("sandbox", "reset")
    assert reset.code == 0 and "1 remembered item(s) removed" in reset.both, reset
    again = sqlite_cli("run", "what is the test coverage of checkout", "--sandbox")
    assert "the first report seen of it" in again.out


def test_coverage_of_ledger_from_its_cobertura_report(sqlite_cli: Cli) -> None:
    run = sqlite_cli("run", "what is the test coverage of ledger", "--sandbox")
    no_traceback(run)
    assert run.code == 0, run
    assert "ledger: 81.2% of lines covered (Cobertura XML" in run.out, run.out
    assert "260 of 320 statements" in run.out
    lowest = run.out.index("ledger/export.py"), run.out.index("ledger/reconcile.py")
    assert lowest[0] < lowest[1], "lowest first"
