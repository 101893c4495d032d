"""HarnessClient over real HTTP against the simulated Harness (Harness's envelope, errors,
versions, input templates, executions), with Harness's official schema as its validator."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
import yaml

from workflow.agents.harness_expert.client import HarnessClient, HarnessConfig, HarnessError
from workflow.agents.harness_expert.inputs import fill_template
from workflow.agents.harness_expert.sandbox_api import (
    SANDBOX_ACCOUNT,
    SANDBOX_KEY,
    SANDBOX_ORG,
    SANDBOX_PROJECT,
    SandboxHarness,
)
from workflow.catalog import load_catalog
from workflow.sandbox.kube_api import KubeApiServer

CATALOG = load_catalog("workflow/sandbox/catalog.yml")
SEEDED = "payment_service_deploy"
NEW_PIPELINE = f"""\
pipeline:
  name: web smoke
  identifier: web_smoke
  projectIdentifier: {SANDBOX_PROJECT}
  orgIdentifier: {SANDBOX_ORG}
  stages:
    - stage:
        name: Smoke
        identifier: smoke
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: Curl
                  identifier: curl
                  type: ShellScript
                  timeout: 1m
                  spec:
                    shell: Bash
                    onDelegate: true
                    source:
                      type: Inline
                      spec:
                        script: curl -fsS http://web/healthz
"""


@pytest.fixture
def cluster(tmp_path):
    server = KubeApiServer(tmp_path / "cluster.json")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def harness(tmp_path, cluster, official_problems):
    server = SandboxHarness(
        kube_url=cluster.url,
        catalog=CATALOG,
        state_path=tmp_path / "harness.json",
        validate=official_problems,
        stage_seconds=0.05,
    )
    server.start()
    yield server
    server.stop()


def config(url: str, **changes) -> HarnessConfig:
    values = dict(
        url=url,
        account=SANDBOX_ACCOUNT,
        org=SANDBOX_ORG,
        project=SANDBOX_PROJECT,
        api_key=SANDBOX_KEY,
        timeout=5,
    )
    return HarnessConfig(**{**values, **changes})


@pytest.fixture
async def client(harness):
    c = HarnessClient(config(harness.url), backoff=0.01, poll_interval=0.05)
    yield c
    await c.aclose()


async def test_get_reads_the_envelope_and_the_version(client):
    stored = await client.get_pipeline(SEEDED)
    assert stored is not None and stored.version == "1"
    assert yaml.safe_load(stored.yaml)["pipeline"]["identifier"] == SEEDED
    assert await client.get_pipeline("no_such_pipeline") is None


async def test_create_then_update_pins_the_version(client, harness):
    await client.create_pipeline(NEW_PIPELINE)
    stored = await client.get_pipeline("web_smoke")
    assert stored and stored.version == "1"
    with pytest.raises(HarnessError, match="already exists"):
        await client.create_pipeline(NEW_PIPELINE)
    changed = NEW_PIPELINE.replace("timeout: 1m", "timeout: 2m")
    await client.update_pipeline("web_smoke", changed, version="1")
    assert (await client.get_pipeline("web_smoke")).version == "2"
    with pytest.raises(HarnessError, match="couldn't be updated") as stale:
        await client.update_pipeline("web_smoke", NEW_PIPELINE, version="1")
    assert stale.value.code == "INVALID_REQUEST"
    assert "timeout: 2m" in (await client.get_pipeline("web_smoke")).yaml, "stale write kept out"


async def test_schema_errors_name_the_yaml_path(client):
    broken = yaml.safe_load((await client.get_pipeline(SEEDED)).yaml)
    del broken["pipeline"]["stages"][0]["stage"]["failureStrategies"]
    broken["pipeline"]["identifier"] = "broken_one"
    with pytest.raises(HarnessError) as err:
        await client.validate(yaml.safe_dump(broken))
    assert err.value.code == "SCHEMA_VALIDATION_FAILED"
    assert err.value.problems, err.value
    assert "$.pipeline.stages" in err.value.message, err.value.message
    assert "says the pipeline YAML is invalid" in err.value.message


async def test_one_429_is_retried(client, harness):
    harness.refuse_next = [429]
    before = len(harness.calls)
    assert await client.get_pipeline(SEEDED) is not None
    assert len(harness.calls) - before == 2, "one refused call, one retry"


async def test_5xx_gives_up_after_the_attempts_and_says_so(client, harness):
    harness.refuse_next = [503, 503, 503, 503]
    with pytest.raises(HarnessError, match=r"failed \(503") as err:
        await client.get_pipeline(SEEDED)
    assert err.value.retryable


async def test_a_bad_key_is_401_and_the_key_is_never_repeated(harness, caplog):
    secret = "pat.wrong.key-1234567890"
    bad = HarnessClient(config(harness.url, api_key=secret), backoff=0.01)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(HarnessError, match="refused the API key") as err:
            await bad.get_pipeline(SEEDED)
    finally:
        await bad.aclose()
    assert err.value.status == 401 and not err.value.retryable
    assert secret not in str(err.value) and secret not in caplog.text
    assert secret not in repr(bad.config)


async def test_unreachable_harness_is_said_plainly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    c = HarnessClient(config(f"http://127.0.0.1:{port}"), attempts=2, backoff=0.01)
    try:
        with pytest.raises(HarnessError, match=r"unreachable.*HARNESS_URL"):
            await c.get_pipeline(SEEDED)
    finally:
        await c.aclose()


def test_settings_say_what_is_missing():
    assert "not configured" in HarnessConfig.from_environ({})
    partial = HarnessConfig.from_environ({"HARNESS_ACCOUNT_ID": "acc", "HARNESS_API_KEY": "k"})
    assert partial == "Harness is not fully configured: HARNESS_ORG_ID, HARNESS_PROJECT_ID not set"
    bad = HarnessConfig.from_environ(
        {
            "HARNESS_ACCOUNT_ID": "acc",
            "HARNESS_ORG_ID": "default",
            "HARNESS_PROJECT_ID": "p",
            "HARNESS_API_KEY": "k",
            "HARNESS_URL": "app.harness.io",
        }
    )
    assert bad.startswith("Harness is misconfigured: HARNESS_URL")
    good = HarnessConfig.from_environ(
        {
            "HARNESS_ACCOUNT_ID": "acc",
            "HARNESS_ORG_ID": "default",
            "HARNESS_PROJECT_ID": "p",
            "HARNESS_API_KEY": "sekret",
        }
    )
    assert good.url == "https://app.harness.io" and "sekret" not in repr(good)


def fill(template: str, **values: str) -> str:
    filled, missing = fill_template(template, lambda field: values.get(field.key))
    assert not missing, missing
    return filled


async def _settled(client, execution_id, *, until=("Success", "Failed", "Aborted")):
    for _ in range(200):
        execution = await client.execution(execution_id)
        if execution.status in until:
            return execution
        await asyncio.sleep(0.05)
    raise AssertionError(f"execution stayed {execution.status}")


async def test_input_template_execute_and_follow_to_success(client, cluster):
    template = await client.input_template(SEEDED)
    doc = yaml.safe_load(template)["pipeline"]
    assert doc["variables"][0] == {"name": "image_tag", "type": "String", "value": "<+input>"}
    inputs = fill(template, image_tag="v9.9.9", environment="staging")
    started = await client.execute(SEEDED, inputs)
    done = await _settled(client, started.id)
    assert done.status == "Success", done
    assert [s["status"] for s in done.stages] == ["Success"]
    image = cluster.snapshot()["staging"]["payment-service"]["image"]
    assert image == "registry.example.com/payment-service:v9.9.9"
    recent = await client.executions(SEEDED)
    assert recent[0].id == started.id and recent[0].run_sequence == 1
    assert (await client.execution_inputs(started.id)).strip() == inputs.strip()


async def test_a_missing_runtime_input_is_refused_before_anything_runs(client):
    with pytest.raises(HarnessError, match=r"image_tag\.value was not given"):
        await client.execute(SEEDED, "")
    assert await client.executions(SEEDED) == []


async def test_a_failed_stage_reports_its_message(client, harness):
    harness.fail_stages["deploy"] = "K8sRollingDeploy failed: image pull backoff"
    inputs = fill(await client.input_template(SEEDED), image_tag="v1", environment="dev")
    started = await client.execute(SEEDED, inputs)
    done = await _settled(client, started.id)
    assert done.status == "Failed"
    message = done.failed_stage()["failure"]
    assert message.startswith("K8sRollingDeploy failed: image pull backoff; rolled back to ")


async def test_abort_a_waiting_execution(client, harness):
    approval = NEW_PIPELINE.replace("identifier: web_smoke", "identifier: gated").replace(
        """        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: Curl
                  identifier: curl
                  type: ShellScript
                  timeout: 1m
                  spec:
                    shell: Bash
                    onDelegate: true
                    source:
                      type: Inline
                      spec:
                        script: curl -fsS http://web/healthz
""",
        """        type: Approval
        spec:
          execution:
            steps:
              - step:
                  name: Approve
                  identifier: approve
                  type: HarnessApproval
                  timeout: 1d
                  spec:
                    approvalMessage: Please approve
                    includePipelineExecutionHistory: true
                    approvers:
                      userGroups:
                        - sre_leads
                      minimumCount: 1
                      disallowPipelineExecutor: false
""",
    )
    await client.create_pipeline(approval)
    started = await client.execute("gated", "")
    waiting = await _settled(client, started.id, until=("ApprovalWaiting",))
    assert waiting.waiting
    await client.abort(started.id)
    assert (await client.execution(started.id)).status == "Aborted"
    with pytest.raises(HarnessError, match="already finished"):
        await client.abort(started.id)


async def test_names_reaching_the_api_are_validated(client):
    with pytest.raises(HarnessError, match="invalid Harness pipeline identifier"):
        await client.get_pipeline("../../admin")
    with pytest.raises(HarnessError, match="invalid Harness execution id"):
        await client.execution("x/../../y")


# --- a pipeline's CI stages alone, and their test reports (testing_agent's unit tests) ---

CI_PIPELINE = "ledger_ci"


def test_the_seeded_ci_pipeline_is_valid_harness_yaml(harness, assert_schema_valid):
    assert_schema_valid(harness.pipelines[CI_PIPELINE]["yaml"])


async def test_only_the_selected_stage_runs_and_its_template_is_its_own(client, harness):
    template = await client.input_template(CI_PIPELINE, ["unit_tests"])
    doc = yaml.safe_load(template)["pipeline"]
    assert doc["properties"]["ci"]["codebase"]["build"] == "<+input>"
    inputs = fill(template, build={"type": "branch", "spec": {"branch": "main"}})
    started = await client.execute_stages(CI_PIPELINE, ["unit_tests"], inputs)
    done = await _settled(client, started.id)
    assert [s["identifier"] for s in done.stages] == ["unit_tests"], "notify did not run"
    assert done.status == "Failed" and "1 test(s) failed" in done.failed_stage()["failure"]
    posted = [c for c in harness.calls if c["method"] == "POST" and "/execute/" in c["path"]]
    assert posted[-1]["path"] == f"/pipeline/api/pipeline/execute/{CI_PIPELINE}/stages"


async def test_the_test_report_of_the_ci_stage_with_one_429_retried(client, harness):
    inputs = fill(
        await client.input_template(CI_PIPELINE, ["unit_tests"]),
        build={"type": "branch", "spec": {"branch": "main"}},
    )
    started = await client.execute_stages(CI_PIPELINE, ["unit_tests"], inputs)
    done = await _settled(client, started.id)
    harness.refuse_next = [429]
    before = len(harness.calls)
    report = await client.test_report(CI_PIPELINE, done.run_sequence, "unit_tests")
    ti = [c["path"] for c in harness.calls[before:]]
    assert ti == [
        "/ti-service/token",  # refused once (429)
        "/ti-service/token",
        "/ti-service/reports/summary",
        "/ti-service/reports/test_cases",
    ], ti
    assert (report.total, report.passed, report.failed, report.skipped) == (13, 11, 1, 1)
    assert report.failures == [
        {
            "name": "test_rounding_half_even",
            "class_name": "tests.unit.test_fx",
            "message": "[sandbox] AssertionError: assert Decimal('0.13') == Decimal('0.12') "
            "(0.125 EUR rounded half-up, expected half-even)",
        }
    ]
    assert await client.test_report(CI_PIPELINE, done.run_sequence + 1, "unit_tests") is None


async def test_a_ci_stage_that_fails_before_its_tests_publishes_none(client, harness):
    harness.fail_stages["unit_tests"] = "Run step pytest: container OOMKilled"
    inputs = fill(
        await client.input_template(CI_PIPELINE, ["unit_tests"]),
        build={"type": "branch", "spec": {"branch": "main"}},
    )
    done = await _settled(
        client, (await client.execute_stages(CI_PIPELINE, ["unit_tests"], inputs)).id
    )
    assert done.failed_stage()["failure"].startswith("Run step pytest: container OOMKilled")
    assert await client.test_report(CI_PIPELINE, done.run_sequence, "unit_tests") is None


async def test_the_reports_need_the_ti_token(harness):
    import httpx

    async with httpx.AsyncClient(base_url=harness.url) as http:
        scope = {"accountId": SANDBOX_ACCOUNT, "orgId": SANDBOX_ORG, "projectId": SANDBOX_PROJECT}
        headers = {"x-api-key": SANDBOX_KEY}
        refused = await http.get("/ti-service/reports/summary", params=scope, headers=headers)
        token = await http.get(
            "/ti-service/token",
            params={"accountId": SANDBOX_ACCOUNT, "routingId": SANDBOX_ACCOUNT},
            headers=headers,
        )
        assert refused.status_code == 401 and token.status_code == 200
        summary = await http.get(
            "/ti-service/reports/summary",
            params={**scope, "pipelineId": CI_PIPELINE, "buildId": 1, "report": "junit"},
            headers={**headers, "X-Harness-Token": token.text},
        )
        assert summary.json()["total_tests"] == 0, "no build yet: zeros, not the envelope"


async def test_selected_stages_are_checked(client):
    with pytest.raises(HarnessError, match=r"Stage\(s\) nope not in ledger_ci"):
        await client.execute_stages(CI_PIPELINE, ["nope"], "")
    with pytest.raises(HarnessError, match="no stage of ledger_ci was selected"):
        await client.execute_stages(CI_PIPELINE, [], "")
    with pytest.raises(HarnessError, match="invalid Harness stage identifier"):
        await client.test_report(CI_PIPELINE, 1, "bad stage")
