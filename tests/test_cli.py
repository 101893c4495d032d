"""End-to-end tests of the `devops-bot` console script, run as real subprocesses.

Every command is its own process, so each step of a flow is also a restart: whatever a
later step sees was persisted by an earlier one (SQLite in the data directory, or Redis
when REDIS_URL is set). Each test has its own data directory (sandbox cluster state,
SQLite files) and a clean environment; the Redis-backed variants flush the test Redis
first because the product's key prefix is fixed ("devops-bot"). These tests must not
run in parallel with each other.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import REPO, Cli, Deployment, Result, no_traceback, one_error_line

DEPLOY = "deploy api-server:v1.2.3 prod"
PROD_API = ("production", "api-server")
OLD_IMAGE = "registry.example.com/api-server:v1.2.2"
NEW_IMAGE = "registry.example.com/api-server:v1.2.3"
AGENTS = (
    "scaffold_agent",
    "harness_expert",
    "kubernetes_agent",
    "codegen_agent",
    "database_agent",
    "testing_agent",
    "monitoring_agent",
    "incident_agent",
)
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED, EXIT_PAUSED = 0, 1, 2, 3, 10


# -- fixtures and helpers ------------------------------------------------------------------


def verdict(res: Result) -> str:
    """What the command concluded: its stderr lines and its FAILED:/DONE:/... lines."""
    lines = res.err_lines + [line for line in res.out.splitlines() if re.match(r"^[A-Z]+: ", line)]
    return "\n".join(lines)


def plan_before(report: dict) -> Deployment:
    """api-server in production as the paused plan saw it (the dry-run's "before")."""
    before = report["result"]["output"]["plan"]["before"]
    return Deployment(before["image"], before["replicas"], before["revision"])


def pause_deploy(cli: Cli, *, user: str = "U1") -> dict:
    """`run DEPLOY --sandbox --json` as `user`; it must pause for approval. Its report."""
    res = cli("run", DEPLOY, "--as", user, "--sandbox", "--json")
    assert res.code == EXIT_PAUSED, (
        f"a production deploy should pause for approval (exit 10)\n{res}"
    )
    report = res.json()
    assert report["status"] == "awaiting_approval", f"unexpected status\n{res}"
    return report


def pending_threads(cli: Cli) -> list[str]:
    res = cli("pending", "--json")
    assert res.code == EXIT_OK, f"pending --json failed\n{res}"
    return [item["thread_id"] for item in res.json()]


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return path


# -- 1. classify ---------------------------------------------------------------------------


def test_classify_deploy_prints_one_json_object(sqlite_cli: Cli) -> None:
    res = sqlite_cli("classify", DEPLOY)
    assert res.code == EXIT_OK, f"classify of a clear deploy should exit 0\n{res}"
    lines = res.out.strip().splitlines()
    assert len(lines) == 1, f"classify should print exactly one line (one JSON object)\n{res}"
    out = json.loads(lines[0])
    assert set(out) == {"task_type", "supervisor", "agent", "context", "confidence", "source"}, (
        f"unexpected keys {sorted(out)}\n{res}"
    )
    assert out["task_type"] == "deploy", res
    assert out["supervisor"] == "infrastructure_supervisor", res
    assert out["agent"] == "kubernetes_agent", f"a deploy without a pipeline goes to k8s\n{res}"
    assert out["context"]["service"] == "api-server", res
    assert out["context"]["environment"] == "production", f"'prod' should become production\n{res}"
    assert 0 < out["confidence"] <= 1, res


def test_classify_nonsense_gives_null_task_and_a_hint(sqlite_cli: Cli) -> None:
    res = sqlite_cli("classify", "what's for lunch")
    assert res.code != EXIT_OK, f"an unclassifiable request must exit non-zero\n{res}"
    no_traceback(res)
    lines = res.out.strip().splitlines()
    assert len(lines) == 1, f"classify should still print exactly one JSON object\n{res}"
    out = json.loads(lines[0])
    assert out["task_type"] is None, res
    assert out["agent"] is None and out["supervisor"] is None, res
    assert isinstance(out.get("hint"), str) and out["hint"].strip(), f"expected a hint\n{res}"


def test_classify_with_catalog_routes_harness_service_to_harness_expert(sqlite_cli: Cli) -> None:
    catalog = REPO / "examples" / "catalog.yml"
    services = yaml.safe_load(catalog.read_text())["services"]
    harness = [name for name, s in services.items() if s.get("harness_pipeline")]
    plain = [name for name, s in services.items() if not s.get("harness_pipeline")]
    assert harness and "api-server" in plain, f"examples/catalog.yml changed shape: {services}"
    sqlite_cli.env["DEVOPS_BOT_CATALOG"] = str(catalog)

    via_harness, direct = sqlite_cli.many(
        ("classify", f"deploy {harness[0]}:v9.9.9 prod"), ("classify", DEPLOY)
    )
    assert via_harness.code == EXIT_OK, via_harness
    out = via_harness.json()
    assert out["context"]["service"] == harness[0], via_harness
    assert out["agent"] == "harness_expert", (
        f"{harness[0]} has a harness_pipeline in the catalog: its deploy should go to "
        f"harness_expert\n{via_harness}"
    )
    assert direct.code == EXIT_OK, direct
    assert direct.json()["agent"] == "kubernetes_agent", (
        f"api-server has no harness_pipeline: its deploy stays with kubernetes_agent\n{direct}"
    )


# -- 2. the acceptance flow, one process per step ------------------------------------------


def test_acceptance_flow_across_restarts(cli: Cli) -> None:
    run = cli("run", DEPLOY, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, f"the production deploy should pause (exit 10)\n{run}"
    no_traceback(run)
    assert f"state: {cli.mode} (" in run.out, f"expected {cli.mode} persistence\n{run}"
    assert "APPROVAL REQUIRED" in run.out, run
    assert f"- image: {OLD_IMAGE}" in run.out, f"the preview should show the before image\n{run}"
    assert f"+ image: {NEW_IMAGE}" in run.out, f"the preview should show the after image\n{run}"
    revisions = re.search(r"revision: (\d+) -> (\d+)", run.out)
    assert revisions, f"the preview should show the revision change\n{run}"
    rev_before, rev_after = int(revisions[1]), int(revisions[2])
    assert rev_after == rev_before + 1, run
    thread_line = re.search(r"^thread: (\S+)$", run.out, re.M)
    assert thread_line, f"the run should print its thread id\n{run}"
    thread = thread_line[1]
    assert f"devops-bot approve {thread}" in run.out, run
    if cli.mode == "redis":
        local = sorted(p.name for p in cli.data_dir.glob("*.sqlite"))
        assert not local, f"with REDIS_URL set, nothing may be kept in SQLite files: {local}"

    before = cli.cluster()[PROD_API]
    assert (before.image, before.revision) == (OLD_IMAGE, rev_before), (
        f"nothing may change before approval: {before}"
    )
    pending = cli("pending")
    assert pending.code == EXIT_OK, pending
    assert thread in pending.out, f"the paused thread should be listed after a restart\n{pending}"

    self_approval = cli("approve", thread, "--as", "U1")
    assert self_approval.code == EXIT_REFUSED, (
        f"self-approval must be refused (exit 3)\n{self_approval}"
    )
    one_error_line(self_approval, "self-approval")
    assert cli.cluster()[PROD_API] == before, "a refused approval must not change the cluster"

    approve = cli("approve", thread, "--as", "U2")
    assert approve.code == EXIT_OK, f"U2 may approve U1's request\n{approve}"
    no_traceback(approve)
    assert "APPLIED" in approve.out and "approved by U2" in approve.out, approve

    after = cli.cluster()[PROD_API]
    assert after.image == NEW_IMAGE, f"the approved image should be live: {after}"
    assert after.revision == rev_after, f"exactly one new revision: {before} -> {after}"
    assert after.replicas == before.replicas, f"a deploy keeps the replica count: {after}"

    again, empty = cli.many(("approve", thread, "--as", "U2"), ("pending",))
    assert again.code != EXIT_OK, f"approving a decided thread must fail\n{again}"
    one_error_line(again, thread, "already decided (approved by U2)")
    assert empty.code == EXIT_OK, empty
    assert thread not in empty.out and "no approvals are pending" in empty.out, empty


def test_acceptance_flow_json(cli: Cli) -> None:
    report = pause_deploy(cli)
    thread = report["thread_id"]
    approval = report["approval"]
    assert thread, report
    assert re.fullmatch(r"sha256:[0-9a-f]+", approval["plan_hash"]), approval
    assert approval["requester"] == "U1" and approval["environment"] == "production", approval
    assert OLD_IMAGE in approval["preview"] and NEW_IMAGE in approval["preview"], approval

    pending = cli("pending", "--json")
    assert pending.code == EXIT_OK, pending
    items = pending.json()
    assert [i["thread_id"] for i in items] == [thread], pending
    assert items[0]["plan_hash"] == approval["plan_hash"], (
        f"plan hash changed on restart\n{pending}"
    )

    res = cli("approve", thread, "--as", "U2", "--json")
    assert res.code == EXIT_OK, res
    assert len(res.out.strip().splitlines()) == 1, f"--json prints one JSON object\n{res}"
    done = res.json()
    assert done["thread_id"] == thread and done["status"] == "applied", res
    assert done["outcome"]["status"] == "applied", res
    assert done["approval"]["plan_hash"] == approval["plan_hash"], (
        f"the applied plan must be the one that was approved\n{res}"
    )
    assert done["approval"]["decided_by"] == "U2", res


# -- 3. reject -----------------------------------------------------------------------------


def test_reject_needs_a_reason_and_applies_nothing(cli: Cli) -> None:
    report = pause_deploy(cli)
    thread = report["thread_id"]

    usage, blank = cli.many(
        ("reject", thread, "--as", "U2"), ("reject", thread, "--as", "U2", "--reason", "   ")
    )
    assert usage.code == EXIT_BAD_INPUT, f"reject without --reason is a usage error\n{usage}"
    assert "usage:" in usage.err and "--reason" in usage.err, usage
    no_traceback(usage)
    assert blank.code == EXIT_BAD_INPUT, f"a blank reason is bad input\n{blank}"
    one_error_line(blank, "reason")

    rejected = cli("reject", thread, "--as", "U2", "--reason", "wrong tag")
    assert rejected.code == EXIT_FAILED, f"a rejection ends the run with exit 1\n{rejected}"
    no_traceback(rejected)
    assert "REJECTED" in rejected.out and "wrong tag" in rejected.out, rejected

    status, pending, show = cli.many(
        ("status", thread, "--json"), ("pending", "--json"), ("sandbox", "show")
    )
    assert status.json()["status"] == "rejected", status
    assert status.json()["approval"]["reason"] == "wrong tag", status
    assert pending.json() == [], f"a rejected request is no longer pending\n{pending}"
    assert cli.cluster(show)[PROD_API] == plan_before(report), (
        "a rejected deploy must not change the cluster"
    )


# -- 4. racing approvals -------------------------------------------------------------------


def test_two_simultaneous_approvals_apply_once(cli: Cli) -> None:
    report = pause_deploy(cli)
    thread = report["thread_id"]
    before = plan_before(report)

    results = cli.many(("approve", thread, "--as", "U2"), ("approve", thread, "--as", "U3"))
    winners = [r for r in results if r.code == EXIT_OK]
    losers = [r for r in results if r.code != EXIT_OK]
    both = "\n\n".join(map(str, results))
    assert len(winners) == 1 and len(losers) == 1, f"exactly one approval must win\n{both}"
    winner, loser = winners[0], losers[0]
    assert "APPLIED" in winner.out, winner
    assert f"approved by {winner.args[3]}" in winner.out, winner
    line = one_error_line(loser)
    assert re.search(r"already decided|not awaiting approval", line), (
        f"the loser should say the request was already decided\n{loser}"
    )

    show, pending = cli.many(("sandbox", "show"), ("pending", "--json"))
    after = cli.cluster(show)[PROD_API]
    assert after.image == NEW_IMAGE, after
    assert after.revision == before.revision + 1, (
        f"the deploy must be applied exactly once: revision {before.revision} -> {after.revision}"
    )
    assert pending.json() == [], f"nothing should be pending after the race\n{pending}"


# -- 5. bad input --------------------------------------------------------------------------


def test_bad_input_is_one_clear_line_and_loses_nothing(cli: Cli) -> None:
    paused = pause_deploy(cli)["thread_id"]
    before = cli.cluster()

    empty, unknown, read, nosuch, no_count = cli.many(
        ("run", ""),
        ("approve", "nope", "--as", "U2"),
        ("run", "status of api-server in staging", "--sandbox", "--json"),
        ("run", "restart nosuch in staging", "--sandbox"),
        ("run", "scale web in staging", "--sandbox"),
    )
    assert empty.code == EXIT_BAD_INPUT, empty
    one_error_line(empty, "empty request")

    assert unknown.code == EXIT_BAD_INPUT, unknown
    one_error_line(unknown, "unknown thread", "nope")

    assert read.code == EXIT_OK, f"a status read finishes without approval\n{read}"
    done = read.json()
    assert done["status"] == "done", read
    finished = cli("approve", done["thread_id"], "--as", "U2")
    assert finished.code == EXIT_BAD_INPUT, finished
    one_error_line(finished, "not awaiting approval", "done")

    assert nosuch.code == EXIT_FAILED, f"restarting a missing deployment fails\n{nosuch}"
    no_traceback(nosuch)
    assert re.search(r"deployment 'nosuch' not found", nosuch.both), nosuch

    assert no_count.code == EXIT_FAILED, f"scale without a count fails\n{no_count}"
    no_traceback(no_count)
    assert "replica count" in no_count.both, no_count

    pending, show = cli.many(("pending", "--json"), ("sandbox", "show"))
    assert [i["thread_id"] for i in pending.json()] == [paused], (
        f"the paused approval must survive the bad input\n{pending}"
    )
    assert cli.cluster(show) == before, "bad input must not change the sandbox cluster"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param(
            "scale web to 5 replicas in namespace staging_old",
            "staging_old",
            id="invalid-namespace",
        ),
        pytest.param(
            "scale Web_App to 3 in staging",
            "Web_App",
            id="invalid-deployment",
        ),
    ],
)
def test_invalid_name_is_refused_by_name(sqlite_cli: Cli, text: str, name: str) -> None:
    before = sqlite_cli.cluster()
    res = sqlite_cli("run", text, "--sandbox")
    no_traceback(res)
    assert sqlite_cli.cluster() == before, f"an invalid name must not change anything\n{res}"
    assert res.code == EXIT_FAILED, f"an invalid name should fail the run (exit 1)\n{res}"
    assert name.lower() in verdict(res).lower(), f"the message should name {name!r}\n{res}"


@pytest.mark.parametrize(
    "text",
    [
        "deploy api-server:v1.2.3 prod tag=v1.2.4",  # kubernetes_agent
        "deploy payment-service:v2.0.0 prod version=v2.0.1",  # through its Harness pipeline
    ],
)
def test_two_different_tags_are_a_question_not_a_guess(sqlite_cli: Cli, text: str) -> None:
    before = sqlite_cli.cluster()
    res = sqlite_cli("run", text, "--as", "U1", "--sandbox")
    no_traceback(res)
    assert res.code == EXIT_FAILED, res
    assert "two tags given" in verdict(res), res
    assert sqlite_cli.cluster() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_redis_is_one_line(sqlite_cli: Cli) -> None:
    sqlite_cli.env["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
    res = sqlite_cli("pending")
    assert res.code == EXIT_FAILED, res
    one_error_line(res, "cannot reach Redis")


# -- 6. a policy without approvers ---------------------------------------------------------


def test_production_without_approvers_refuses_every_approval(
    tmp_path: Path, sqlite_cli: Cli
) -> None:
    policy = write_policy(
        tmp_path,
        "environments:\n"
        "  production:\n"
        "    require_approval: writes\n"
        "    approvers: {users: [], groups: []}\n"
        "    allow_self_approval: false\n",
    )
    sqlite_cli.env["DEVOPS_BOT_POLICY"] = str(policy)
    run = sqlite_cli("run", DEPLOY, "--as", "U1", "--sandbox")
    assert run.code == EXIT_PAUSED, run
    assert f"policy: {policy}" in run.out, f"the custom policy should be in use\n{run}"
    thread = re.search(r"^thread: (\S+)$", run.out, re.M)[1]  # type: ignore[index]

    other, requester = sqlite_cli.many(
        ("approve", thread, "--as", "U2"), ("approve", thread, "--as", "U1")
    )
    for res in (other, requester):
        assert res.code == EXIT_REFUSED, f"nobody may approve without approvers\n{res}"
        one_error_line(res, "no approvers configured")
    assert pending_threads(sqlite_cli) == [thread], "a refused vote leaves the request pending"


# -- 7. graph and examples -----------------------------------------------------------------


def test_graph_prints_mermaid_with_every_agent(sqlite_cli: Cli) -> None:
    res = sqlite_cli("graph")
    assert res.code == EXIT_OK, res
    assert re.search(r"^graph TD;?$", res.out, re.M), f"expected a Mermaid flowchart\n{res}"
    missing = [n for n in (*AGENTS, "human_approval") if f"\t{n}({n})" not in res.out]
    assert not missing, f"graph is missing nodes {missing}\n{res}"


def test_examples_command_passes_three_scenarios(sqlite_cli: Cli) -> None:
    res = sqlite_cli("examples")
    assert res.code == EXIT_OK, res
    assert len(re.findall(r"^PASS ", res.out, re.M)) == 3, f"expected three PASS lines\n{res}"
    assert "FAIL" not in res.out, res


def test_python_m_workflow_examples(sqlite_cli: Cli) -> None:
    res = sqlite_cli.python("-m", "workflow.examples")
    assert res.code == EXIT_OK, res
    assert len(re.findall(r"^PASS ", res.out, re.M)) == 3, f"expected three PASS lines\n{res}"


# -- 8. a status read ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def production_status(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, int]:
    """`run "status of api-server in production" --sandbox` once, and the replica count."""
    data = tmp_path_factory.mktemp("status") / "data"
    data.mkdir()
    cli = Cli(data)
    replicas = cli.cluster()[PROD_API].replicas
    return cli("run", "status of api-server in production", "--sandbox"), replicas


def test_status_read_prints_pods(production_status: tuple[Result, int]) -> None:
    res, replicas = production_status
    assert res.code == EXIT_OK, f"a status read needs no approval and exits 0\n{res}"
    no_traceback(res)
    assert "DONE" in res.out, res
    assert re.search(r"^\s+Pods of deployment/api-server -n production$", res.out, re.M), res
    assert re.search(r"^\s+pod\s+phase\s+ready\s+restarts\s+reason$", res.out, re.M), res
    pods = re.findall(r"^\s+api-server-\S+\s+Running\s+True\s+\d+", res.out, re.M)
    assert len(pods) == replicas, f"expected {replicas} running api-server pods\n{res}"


def test_status_read_summary_is_right(production_status: tuple[Result, int]) -> None:
    res, replicas = production_status
    done = next(line for line in res.out.splitlines() if line.startswith("DONE: "))
    assert OLD_IMAGE in done, f"the summary should name the running image\n{done}"
    assert f"{replicas}/{replicas} ready, rollout complete" in done, done


# -- 9. min_approvals ----------------------------------------------------------------------


def test_two_approvals_needed(tmp_path: Path, cli: Cli) -> None:
    policy = write_policy(
        tmp_path,
        "environments:\n  production:\n    approvers: {users: [U2, U3]}\n    min_approvals: 2\n",
    )
    cli.env["DEVOPS_BOT_POLICY"] = str(policy)
    report = pause_deploy(cli)
    thread = report["thread_id"]
    before = plan_before(report)
    assert report["approval"]["min_approvals"] == 2, report

    first = cli("approve", thread, "--as", "U2", "--json")
    assert first.code == EXIT_PAUSED, f"one of two approvals keeps it pending (exit 10)\n{first}"
    assert first.json()["status"] == "awaiting_approval", first
    assert "1/2" in first.json()["summary"], first
    pending, show = cli.many(("pending",), ("sandbox", "show"))
    assert re.search(rf"^{re.escape(thread)} .*approvals 1/2", pending.out, re.M), pending
    assert cli.cluster(show)[PROD_API] == before, "nothing may change after one of two approvals"

    twice = cli("approve", thread, "--as", "U2")
    assert twice.code == EXIT_REFUSED, f"the same person cannot approve twice\n{twice}"
    one_error_line(twice, "already voted")

    second = cli("approve", thread, "--as", "U3")
    assert second.code == EXIT_OK, f"the second approver applies it\n{second}"
    assert "APPLIED" in second.out, second
    after = cli.cluster()[PROD_API]
    assert after.image == NEW_IMAGE and after.revision == before.revision + 1, after
