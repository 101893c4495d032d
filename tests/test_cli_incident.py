"""The sandbox incident from a terminal: investigate, remediate through approval, postmortem.

Each command is its own process on one data directory, as a person would run them; the
sandbox's simulated Prometheus and Alertmanager follow its cluster (checkout in production
was rolled out to a bad image 12 minutes before the sandbox was made).
"""

from __future__ import annotations

import re

from tests.cli_helpers import Cli, no_traceback, one_error_line

EXIT_OK, EXIT_BAD_INPUT, EXIT_REFUSED, EXIT_PAUSED = 0, 2, 3, 10
PROD_CHECKOUT = ("production", "checkout")
BAD = "registry.example.com/checkout:v2.4.1"
GOOD = "registry.example.com/checkout:v2.4.0"


def _thread(out: str) -> str:
    found = re.search(r"^thread: (\S+)$", out, re.M)
    assert found, out
    return found[1]


def test_investigate_remediate_approve_and_postmortem(sqlite_cli: Cli) -> None:
    cli = sqlite_cli
    run = cli("run", "investigate checkout latency in prod", "--as", "U1", "--sandbox")
    assert run.code == EXIT_OK, run
    no_traceback(run)
    assert "SANDBOX" in run.out
    assert "found  metrics: changed: error ratio, p99 latency" in run.out, run
    top = re.search(r"^1\. (.+) \(confidence", run.out, re.M)
    assert top and f"the rollout of {BAD}" in top[1], run
    assert (
        "[r1] Roll back checkout to the previous revision: `rollback checkout in production`"
        in (run.out)
    )
    thread = _thread(run.out)
    assert f"devops-bot remediate {thread} r1 --as USER" in run.out
    assert cli.cluster()[PROD_CHECKOUT].image == BAD

    paused = cli("remediate", thread, "r1", "--as", "U1")
    assert paused.code == EXIT_PAUSED, paused
    assert "APPROVAL REQUIRED" in paused.out and "rollback deployment/checkout" in paused.out
    assert cli.cluster()[PROD_CHECKOUT].image == BAD, "nothing changes before approval"

    refused = cli("approve", thread, "--as", "U1")
    assert refused.code == EXIT_REFUSED, refused
    one_error_line(refused, "self-approval")

    approved = cli("approve", thread, "--as", "U2")
    assert approved.code == EXIT_OK, approved
    assert cli.cluster()[PROD_CHECKOUT].image == GOOD

    summary = cli("incident", "summary", thread)
    assert summary.code == EXIT_OK, summary
    assert summary.out.startswith("# Postmortem draft: checkout (production), INC-")
    assert "- **State:** mitigation applied" in summary.out
    assert "applied rollback of deployment/checkout -n production" in summary.out
    assert "rolled out: checkout image " + GOOD + " -> " + BAD in summary.out

    # A follow-up in the same thread knows the incident's service and what was done.
    changed = cli("run", "what changed in the last hour?", "--thread", thread, "--sandbox")
    assert changed.code == EXIT_OK, changed
    assert "change(s) to checkout in the last 1h" in changed.out, changed
    assert "[devops-bot] applied rollback of deployment/checkout" in changed.out, changed


def test_metrics_question_draws_charts(sqlite_cli: Cli) -> None:
    run = sqlite_cli("run", "p99 latency and error rate of checkout in prod", "--sandbox")
    assert run.code == EXIT_OK, run
    assert "p99 latency: current" in run.out and "error ratio: current" in run.out, run
    charts = re.findall(r"^  chart  (\S+\.png)$", run.out, re.M)
    assert len(charts) == 2, run
    for chart in charts:
        with open(chart, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_remediation_and_summary_requests_are_one_clear_line(sqlite_cli: Cli) -> None:
    cli = sqlite_cli
    unknown = cli("remediate", "no-such-thread", "r1", "--as", "U1")
    assert unknown.code == EXIT_BAD_INPUT
    one_error_line(unknown, "unknown thread")
    status = cli("run", "status of web in dev", "--sandbox")
    assert status.code == EXIT_OK, status
    thread = _thread(status.out)
    no_step = cli("remediate", thread, "r9", "--as", "U1")
    assert no_step.code == EXIT_BAD_INPUT
    one_error_line(no_step, "offers no remediation 'r9'")
    no_incident = cli("incident", "summary", thread)
    assert no_incident.code == EXIT_BAD_INPUT
    one_error_line(no_incident, "has no incident investigation")
