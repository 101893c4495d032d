"""harness_expert through the real graph: plan -> approve -> apply -> follow, on the sandbox
(the sandbox cluster and the simulated Harness, which checks YAML with Harness's official
schema here), with Harness not configured, and with Harness unreachable."""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager

import pytest
import yaml

from workflow.assembly import ServiceOptions, open_service
from workflow.sandbox.kube_api import KubeApiServer
from workflow.service import RefusedError

PIPELINE = "payment_service_deploy"


def deploy(tag: str = "v2.0.0", env: str = "production") -> dict:
    return {
        "task_type": "deploy",
        "context": {
            "action": "deploy",
            "service": "payment-service",
            "environment": env,
            "image": f"payment-service:{tag}",
            "image_tag": tag,
            "sandbox": True,
        },
        "text": f"deploy payment-service:{tag} {env}",
    }


def pipeline_request(text: str, **context) -> dict:
    return {
        "task_type": "pipeline",
        "context": {"sandbox": True, **context},
        "text": text,
    }


@pytest.fixture
def opener(tmp_path, official_problems):
    @asynccontextmanager
    async def open_(**options):
        settings = ServiceOptions(
            data_dir=tmp_path, sandbox=True, persistence="memory", rollout_timeout=20, **options
        )
        async with open_service(settings) as handle:
            harness = handle.service.deps.backend("harness")
            if harness is not None and hasattr(harness, "sandbox_server"):
                harness.sandbox_server.stage_seconds = 0.05
                harness.sandbox_server.validate = official_problems
                harness.poll_interval = 0.05
            yield handle

    return open_


def image(tmp_path, env="production") -> str:
    snapshot = KubeApiServer(tmp_path / "sandbox-cluster.json").snapshot()
    return snapshot[env]["payment-service"]["image"]


def server(handle):
    return handle.service.deps.backend("harness").sandbox_server


async def test_deploy_through_the_pipeline_changes_the_image_once_approved(opener, tmp_path):
    async with opener() as h:
        before = image(tmp_path)
        report = await h.service.start(**deploy(), requester="U1")
        assert report.status == "awaiting_approval", report.summary
        plan = report.approval
        assert plan["action"] == "deploy" and plan["environment"] == "production"
        assert "pipeline.variables.image_tag.value = v2.0.0" in plan["preview"]
        assert "pipeline.variables.environment.value = production" in plan["preview"]
        assert [f["path"] for f in plan["files"]] == [f"{PIPELINE}-inputs.yaml"]
        assert server(h).executions == {}, "nothing may run before approval"
        with pytest.raises(RefusedError, match="self-approval"):
            await h.service.approve(report.thread_id, "U1")
        assert image(tmp_path) == before

        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "applied", done.summary
        assert "execution #1 succeeded" in done.summary and "approved by U2" in done.summary
        assert image(tmp_path) == "registry.example.com/payment-service:v2.0.0"
        (execution,) = server(h).executions.values()
        assert execution["status"] == "Success" and execution["variables"]["image_tag"] == "v2.0.0"
        assert done.outcome["result"]["stages"] == [{"name": "Deploy", "status": "Success"}]


async def test_a_failed_execution_names_its_stage_and_harness_message(opener, tmp_path):
    async with opener() as h:
        before = image(tmp_path, "staging")
        server(h).fail_stages["deploy"] = "K8sRollingDeploy failed: image pull backoff"
        report = await h.service.start(**deploy("v2.1.0", "staging"), requester="U1")
        if report.status == "awaiting_approval":  # staging: only per policy
            report = await h.service.approve(report.thread_id, "U2")
        assert report.status == "failed", report.summary
        assert "failed at stage Deploy: K8sRollingDeploy failed: image pull backoff" in (
            report.summary
        )
        assert f"rolled back to {before}" in report.summary
        assert image(tmp_path, "staging") == before, "the stage's rollback put it back"


async def test_a_missing_image_tag_is_a_question_not_a_guess(opener):
    async with opener() as h:
        request = deploy()
        del request["context"]["image"], request["context"]["image_tag"]
        report = await h.service.start(**request, requester="U1")
        assert report.status == "failed"
        assert "deploy needs an image tag" in report.summary, report.summary
        # a question back is final: no retry with kubernetes_agent (a direct deploy)
        assert report.outcome.get("agents_tried") == "harness_expert", report.outcome
        assert server(h).executions == {}


async def test_create_a_pipeline_waits_for_the_requesters_click(opener, pipeline_schema):
    async with opener() as h:
        request = pipeline_request(
            "create a pipeline for web: build, test, deploy to dev",
            action="create",
            service="web",
            environments=["dev"],
            ci_steps=["clone", "test", "build", "push"],
        )
        report = await h.service.start(**request, requester="U1")
        assert report.status == "awaiting_approval", report.summary
        assert report.approval["confirm"] is True
        (file,) = report.approval["files"]
        doc = yaml.safe_load(file["content"])
        assert not list(pipeline_schema.iter_errors(doc)), "the YAML Harness's schema accepts"
        pid = doc["pipeline"]["identifier"]
        assert pid not in server(h).pipelines, "nothing created before the click"
        done = await h.service.approve(report.thread_id, "U1")  # self-confirmation
        assert done.status == "applied", done.summary
        assert server(h).pipelines[pid]["yaml"] == file["content"]


async def test_edit_previews_a_diff_and_a_stale_plan_is_refused(opener):
    async with opener() as h:
        create = pipeline_request(
            "pipeline for web: deploy to staging then prod",
            action="create",
            service="web",
            environments=["staging", "production"],
        )
        created = await h.service.start(**create, requester="U1")
        assert created.status == "awaiting_approval", created.summary
        assert created.approval["environment"] == "production", "it deploys to production"
        created = await h.service.approve(created.thread_id, "U2")
        assert created.status == "applied", created.summary
        (pid,) = [p for p in server(h).pipelines if p not in (PIPELINE, "ledger_ci")]

        edit = pipeline_request(
            "switch web's pipeline to canary",
            action="update",
            service="web",
            pipeline_name=pid,
            pipeline_change="change_strategy",
            strategy="canary",
        )
        report = await h.service.start(**edit, requester="U1")
        assert report.status == "awaiting_approval", report.summary
        preview = report.approval["preview"]
        assert f"--- a/.harness/{pid}.yaml" in preview and f"+++ b/.harness/{pid}.yaml" in preview
        assert "+" in preview and "K8sCanaryDeploy" in preview, preview
        assert report.approval["files"][1]["path"] == f"{pid}.diff"

        # Someone changes the pipeline in Harness before the approval.
        store = server(h).pipelines[pid]
        store["yaml"] = store["yaml"].replace("timeout: 10m", "timeout: 15m")
        store["version"] = "2"
        refused = await h.service.approve(report.thread_id, "U2")
        assert refused.status == "failed"
        assert "changed since this plan" in refused.summary
        assert "version 1" in refused.summary and "version 2" in refused.summary
        assert "K8sCanaryDeploy" not in server(h).pipelines[pid]["yaml"]

        # Planned again against the current version, it goes through.
        again = await h.service.start(**edit, requester="U1")
        done = await h.service.approve(again.thread_id, "U2")
        assert done.status == "applied", done.summary
        assert server(h).pipelines[pid]["version"] == "3"
        assert "K8sCanaryDeploy" in server(h).pipelines[pid]["yaml"]


async def test_status_lists_the_recent_runs(opener):
    async with opener() as h:
        applied = await h.service.start(**deploy("v2.2.0", "dev"), requester="U1")
        if applied.status == "awaiting_approval":
            applied = await h.service.approve(applied.thread_id, "U2")
        assert applied.status == "applied", applied.summary
        request = pipeline_request(
            "status of payment-service's pipeline", action="status", service="payment-service"
        )
        report = await h.service.start(**request, requester="U1")
        assert report.status == "done", report.summary
        assert "last run #1 Success" in report.summary


async def test_harness_not_configured_is_said_plainly(tmp_path):
    options = ServiceOptions(
        data_dir=tmp_path, persistence="memory", kubernetes=False, operations=False
    )
    async with open_service(options) as h:
        report = await h.service.start(
            **pipeline_request(
                "status of pipeline ledger_cicd", pipeline_name="ledger_cicd", action="status"
            ),
            requester="U1",
        )
        assert report.status == "failed"
        assert "Harness is not configured: set HARNESS_ACCOUNT_ID" in report.summary


async def test_harness_unreachable_is_said_plainly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environ = {
        "HARNESS_URL": f"http://127.0.0.1:{port}",
        "HARNESS_ACCOUNT_ID": "acc",
        "HARNESS_ORG_ID": "default",
        "HARNESS_PROJECT_ID": "proj",
        "HARNESS_API_KEY": "pat.secret.never-shown",
        "HARNESS_TIMEOUT": "2",
    }
    options = ServiceOptions(
        data_dir=tmp_path,
        persistence="memory",
        kubernetes=False,
        operations=False,
        environ=environ,
    )
    async with open_service(options) as h:
        h.service.deps.backend("harness").backoff = 0.01
        report = await h.service.start(
            **pipeline_request(
                "status of pipeline ledger_cicd", pipeline_name="ledger_cicd", action="status"
            ),
            requester="U1",
        )
        assert report.status == "failed"
        assert "is unreachable" in report.summary and "HARNESS_URL" in report.summary
        assert "never-shown" not in report.summary


async def test_rerun_the_last_failed_execution_with_its_inputs(opener, tmp_path):
    """A re-run in production is a production write: it waits for approval, and runs with
    the failed execution's inputs."""
    async with opener() as h:
        server(h).fail_stages["deploy"] = "K8sRollingDeploy failed: registry timeout"
        failed = await h.service.start(**deploy("v2.3.0", "production"), requester="U1")
        if failed.status == "awaiting_approval":
            failed = await h.service.approve(failed.thread_id, "U2")
        assert failed.status == "failed", failed.summary
        server(h).fail_stages.clear()

        request = pipeline_request(
            "re-run the last failed payment-service pipeline",
            action="trigger",
            service="payment-service",
        )
        report = await h.service.start(**request, requester="U1")
        assert report.status == "awaiting_approval", report.summary
        assert report.approval["action"] == "rerun_pipeline"
        assert "image_tag" in report.approval["preview"] and "v2.3.0" in report.approval["preview"]
        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "applied", done.summary
        assert "execution #2 succeeded" in done.summary
        assert image(tmp_path, "production") == "registry.example.com/payment-service:v2.3.0"


async def test_abort_a_running_execution_in_production_needs_approval(opener):
    async with opener() as h:
        started = await h.service.start(**deploy("v2.4.0"), requester="U1")
        server(h).stage_seconds = 3600  # the execution stays running
        harness = h.service.deps.backend("harness")
        pipeline = await harness.get_pipeline(PIPELINE)
        from workflow.agents.harness_expert.inputs import fill_template

        template = await harness.input_template(PIPELINE)
        inputs, _ = fill_template(
            template, lambda f: {"image_tag": "v2.4.0", "environment": "production"}.get(f.key)
        )
        server(h).fail_stages["deploy"] = "never reached"  # keeps it Running, no deploy yet
        running = await harness.execute(PIPELINE, inputs)
        assert pipeline is not None and started.status == "awaiting_approval"

        request = pipeline_request(
            "abort the running payment-service pipeline",
            action="stop",
            service="payment-service",
        )
        report = await h.service.start(**request, requester="U1")
        assert report.status == "awaiting_approval", report.summary
        assert report.approval["action"] == "abort_execution"
        assert report.approval["environment"] == "production"
        assert (await harness.execution(running.id)).status == "Running", "nothing before approval"
        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "applied", done.summary
        assert (await harness.execution(running.id)).status == "Aborted"


async def test_an_approval_added_from_slack_words_gates_only_production_runs(opener, tmp_path):
    """The issue's edit, as typed: the classifier reads it, the plan is a diff of the seeded
    pipeline, and once applied a staging run deploys while a production run waits on
    Harness's own approval step."""
    from workflow.classify.rules import classify_rules

    text = "add an approval step before production to payment-service's pipeline"
    request = classify_rules(text)
    async with opener() as h:
        report = await h.service.start(
            task_type=request.task_type,
            context={**request.context, "sandbox": True},
            text=text,
            requester="U1",
        )
        assert report.status == "awaiting_approval", report.summary
        assert report.approval["action"] == "update_pipeline"
        assert "+        when:" in report.approval["preview"], report.approval["preview"]
        assert "Approval" not in server(h).pipelines[PIPELINE]["yaml"], "nothing before approval"
        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "applied", done.summary

        staging = await h.service.start(**deploy("v2.6.0", "staging"), requester="U1")
        if staging.status == "awaiting_approval":
            staging = await h.service.approve(staging.thread_id, "U2")
        assert staging.status == "applied", staging.summary
        assert image(tmp_path, "staging") == "registry.example.com/payment-service:v2.6.0"

        prod = await h.service.start(**deploy("v2.6.0", "production"), requester="U1")
        prod = await h.service.approve(prod.thread_id, "U2")
        assert "waiting on Harness's own approval step" in prod.summary, prod.summary
        assert image(tmp_path, "production") != "registry.example.com/payment-service:v2.6.0"


async def test_the_services_pipeline_named_by_the_service(opener):
    """ "status of the payment-service pipeline": the catalog's pipeline of that service."""
    from workflow.classify.rules import classify_rules

    request = classify_rules("status of the payment-service pipeline")
    async with opener() as h:
        report = await h.service.start(
            task_type=request.task_type,
            context={**request.context, "sandbox": True},
            text="x",
            requester="U1",
        )
    assert report.status == "done", report.summary
    assert "payment_service_deploy" in report.summary


async def test_a_new_pipeline_says_how_deploys_start_to_use_it(opener):
    """The catalog routes deploys; a created pipeline says what makes them use it."""
    async with opener() as h:
        request = pipeline_request(
            "create a pipeline for web", action="create", service="web", environments=["dev"]
        )
        report = await h.service.start(**request, requester="U1")
    assert report.status == "awaiting_approval", report.summary
    assert "says `harness_pipeline: web_cicd`" in report.approval["preview"]


def _with_change_ticket(h) -> None:
    """The seeded pipeline, with one more required runtime input the catalog cannot fill."""
    stored = server(h).pipelines[PIPELINE]
    doc = yaml.safe_load(stored["yaml"])
    doc["pipeline"]["variables"].append(
        {"name": "change_ticket", "type": "String", "required": True, "value": "<+input>"}
    )
    stored["yaml"] = yaml.safe_dump(doc, sort_keys=False)


async def classified(h, text: str):
    from workflow.classify.rules import classify_rules

    request = classify_rules(text)
    return await h.service.start(
        task_type=request.task_type,
        context={**request.context, "sandbox": True},
        text=text,
        requester="U1",
    )


async def test_runtime_inputs_the_catalog_cannot_fill_are_asked_for_then_taken_by_name(opener):
    async with opener() as h:
        _with_change_ticket(h)
        asked = await classified(h, "deploy payment-service:v2.0.0 prod")
        assert asked.status == "failed"
        assert "pipeline.variables.change_ticket.value" in asked.summary, asked.summary
        assert "'deploy payment-service:v2.3.0 prod change_ticket=...'" in asked.summary

        report = await classified(h, "deploy payment-service:v2.0.0 prod change_ticket=CHG-1234")
        assert report.status == "awaiting_approval", report.summary
        assert "pipeline.variables.change_ticket.value = CHG-1234" in report.approval["preview"]
        done = await h.service.approve(report.thread_id, "U2")
        assert done.status == "applied", done.summary
        (execution,) = server(h).executions.values()
        assert execution["variables"]["change_ticket"] == "CHG-1234"


@pytest.mark.parametrize(
    ("words", "said"),
    [
        ("change_ticket=CHG-1 ticket=CHG-1", "no runtime input named ticket (the runtime "
         "inputs: image_tag, environment, change_ticket); nothing was run"),
        ("change_ticket=CHG-1 pipeline.variables.image_tag.value=v9",
         "pipeline.variables.image_tag.value=v9 contradicts the request, which makes "
         "pipeline.variables.image_tag.value v2.0.0"),
        ("change_ticket=CHG-1 image_version=v9", "no runtime input named image_version"),
        ("change_ticket=<+secrets.getValue(\"prod_db\")>", "a literal value, not a Harness "
         "expression"),
        ("change_ticket=CHG-1 pipeline.variables.environment.value=dev",
         "pipeline.variables.environment.value=dev contradicts the request, which makes "
         "pipeline.variables.environment.value production"),
    ],
)  # fmt: skip
async def test_runtime_inputs_by_name_that_cannot_be_used_are_said_back(opener, words, said):
    async with opener() as h:
        _with_change_ticket(h)
        report = await classified(h, f"deploy payment-service:v2.0.0 prod {words}")
        assert report.status == "failed" and said in report.summary, report.summary
        assert server(h).executions == {}


async def test_words_the_shared_rules_read_are_not_runtime_inputs(opener):
    """`tag=` is the image tag and `environment=` the environment, for every agent alike."""
    async with opener() as h:
        _with_change_ticket(h)
        report = await classified(
            h, "deploy payment-service staging tag=v2.0.1 change_ticket=CHG-7"
        )
        assert report.status in {"awaiting_approval", "applied"}, report.summary
        assert "payment-service v2.0.1 to staging" in report.summary, report.summary


async def test_a_rerun_does_not_take_new_inputs(opener):
    async with opener() as h:
        report = await classified(h, "re-run the last failed payment-service pipeline branch=x")
        assert report.status == "failed"
        assert "runs with the failed run's own inputs, so branch= cannot be used" in report.summary
