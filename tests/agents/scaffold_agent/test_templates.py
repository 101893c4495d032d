"""Templates rendered with copier and every file checked by its authority before a plan."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from workflow.agents.base import Refusal
from workflow.agents.harness_expert.rules import check_pipeline
from workflow.agents.scaffold_agent import node
from workflow.agents.scaffold_agent.checks import check_files
from workflow.agents.scaffold_agent.client import SCAFFOLD, ScaffoldConfig
from workflow.agents.scaffold_agent.templates import available_templates, render
from workflow.catalog import ServiceCatalog
from workflow.deps import WorkflowDeps
from workflow.plan import Plan, compute_plan_hash

ANSWERS = {"service_name": "invoice-api", "team": "billing"}


def deps_with(templates_dir: Path | None = None, catalog: dict | None = None) -> WorkflowDeps:
    deps = WorkflowDeps.embedded()
    deps.extras[SCAFFOLD] = ScaffoldConfig(
        str(templates_dir) if templates_dir else None,
        None,
        "acme",
        "registry.example.com",
        True,
        "the sandbox forge",
    )
    if catalog:
        deps.catalog = ServiceCatalog.from_dict({"services": catalog})
    return deps


def rendered() -> dict[str, str]:
    return render(available_templates()["python-service"], ANSWERS)


def test_shipped_templates_and_their_questions():
    templates = available_templates()
    assert {"python-service", "dockerfile-k8s", "harness-pipeline"} <= set(templates)
    service = templates["python-service"]
    assert service.kind == "service" and service.language == "python"
    asks = {q.name: q.has_default for q in service.questions}
    assert asks == {
        "service_name": False,
        "team": False,
        "port": True,
        "description": True,
        "image_registry": True,
    }


def test_the_python_service_has_everything_a_service_needs_and_all_of_it_is_valid():
    files = rendered()
    for path in (
        "src/invoice_api/app.py",
        "tests/test_app.py",
        "pyproject.toml",
        "Dockerfile",
        "k8s/deployment.yaml",
        "k8s/service.yaml",
        "catalog-info.yaml",
        ".copier-answers.yml",
    ):
        assert path in files, path
    deployment = yaml.safe_load(files["k8s/deployment.yaml"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert container["ports"][0]["containerPort"] == 8080
    problems, checked = check_files(files)
    assert problems == [] and any("Kubernetes" in c for c in checked)
    answers = yaml.safe_load(files[".copier-answers.yml"])
    assert answers["service_name"] == "invoice-api" and answers["team"] == "billing"


def test_a_broken_manifest_is_caught_naming_file_and_rule():
    files = rendered()
    files["k8s/deployment.yaml"] = files["k8s/deployment.yaml"].replace(
        "replicas: 2", "replicas: two"
    )
    files["k8s/service.yaml"] = files["k8s/service.yaml"].replace(
        "name: invoice-api", "name: Invoice_API", 1
    )
    problems, _ = check_files(files)
    assert any(
        p.startswith("k8s/deployment.yaml: kubernetes Deployment schema: spec.replicas")
        for p in problems
    ), problems
    assert any(p.startswith("k8s/service.yaml: DNS-1123") for p in problems), problems


async def test_plan_carries_every_file_the_pipeline_and_a_hash(tmp_path):
    context = {
        "new_service": "invoice-api",
        "team": "billing",
        "language": "python",
        "requester": "U1",
    }
    answer = await node._create(deps_with(), context, {})
    assert answer.status == "planned"
    plan = Plan.model_validate(answer.plan)
    paths = [f.path for f in plan.files]
    assert "src/invoice_api/app.py" in paths and "k8s/deployment.yaml" in paths
    (pipeline,) = [f for f in plan.files if f.path.startswith(".harness/")]
    assert check_pipeline(pipeline.content) == []
    assert plan.plan_hash == compute_plan_hash(plan) and plan.action == "create_repository"
    assert plan.body["catalog"]["repository"] == "acme/invoice-api"
    assert plan.body["catalog"]["owners"] == ["billing"]
    assert "k8s/deployment.yaml" in plan.preview and "readinessProbe" in plan.preview


@pytest.mark.parametrize(
    ("context", "said"),
    [
        ({"new_service": "Invoice_API", "team": "billing"}, "not a DNS-1123 label"),
        ({"new_service": "invoice-api"}, "team: the team that owns it"),
        ({"team": "billing"}, "what should the new service be called"),
        ({"new_service": "x", "team": "b", "template": "rails-app"}, "no template 'rails-app'"),
        ({"new_service": "x", "team": "b", "language": "rust"}, "no template for a rust"),
        ({"new_service": "checkout", "team": "b"}, "already in the catalog"),
    ],
)
async def test_refusals_say_what_to_do(context, said):
    deps = deps_with(catalog={"checkout": {"repository": "acme/checkout"}})
    with pytest.raises(Refusal, match=said):
        await node._create(deps, context, {})


def _org_template(root: Path, name: str, manifest: str, language: str = "go") -> None:
    (root / name / "template").mkdir(parents=True)
    (root / name / "copier.yml").write_text(
        textwrap.dedent("""\
        _subdirectory: template
        service_name: {type: str, help: the name}
        owner: {type: str, help: the owning team}
        """)
    )
    (root / name / "devops-bot.yml").write_text(f"kind: service\nlanguage: {language}\n")
    (root / name / "template" / "deploy.yaml.jinja").write_text(manifest)


async def test_an_organisation_template_is_listed_used_and_checked(tmp_path):
    good = "apiVersion: v1\nkind: Service\nmetadata: {name: '{{ service_name }}'}\n"
    bad = "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: web}]}\n"
    _org_template(tmp_path, "go-service", good)
    _org_template(tmp_path, "broken", bad, "java")
    deps = deps_with(tmp_path)
    listed = await node._list(deps, {}, {})
    assert "go-service (service, organisation)" in listed.summary
    assert "owner*" in listed.summary, "required questions are marked"
    planned = await node._create(deps, {"new_service": "pay", "language": "go", "team": "p"}, {})
    assert [f["path"] for f in planned.plan["files"]] == ["deploy.yaml"]
    with pytest.raises(Refusal, match=r"deploy\.yaml: kubernetes Service schema: spec\.ports"):
        await node._create(deps, {"new_service": "pay", "template": "broken", "team": "p"}, {})
    with pytest.raises(Refusal, match="owner: the owning team"):
        await node._create(deps, {"new_service": "pay", "template": "go-service"}, {})


async def test_parts_for_an_existing_repository():
    deps = deps_with(
        catalog={
            "ledger": {
                "repository": "acme/ledger",
                "owners": ["fin"],
                "language": "go",
                "image": "reg.io/acme/ledger",
            }
        }
    )
    answer = await node._add(
        deps, {"service": "ledger", "parts": ["dockerfile", "manifests", "pipeline"]}, {}
    )
    plan = Plan.model_validate(answer.plan)
    paths = {f.path for f in plan.files}
    assert {"Dockerfile", "k8s/deployment.yaml", "k8s/service.yaml"} <= paths
    assert any(p.startswith(".harness/") for p in paths)
    assert plan.action == "open_pull_request" and plan.body["repository"] == "acme/ledger"
    dockerfile = next(f.content for f in plan.files if f.path == "Dockerfile")
    assert dockerfile.startswith("FROM golang"), "the catalog's language"
    assert "image: reg.io/acme/ledger:latest" in next(
        f.content for f in plan.files if f.path == "k8s/deployment.yaml"
    )
    with pytest.raises(Refusal, match="not in the catalog"):
        await node._add(deps, {"service": "nope", "parts": ["dockerfile"]}, {})


@pytest.mark.slow
def test_the_scaffolded_project_passes_its_own_tests_in_a_fresh_venv(tmp_path):
    project = tmp_path / "invoice-api"
    for path, text in rendered().items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "unittest", "discover", "-s", "tests", "-v"],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Ran 3 tests" in done.stderr and "OK" in done.stderr


async def test_manifests_are_dry_run_on_a_reachable_cluster():
    from workflow.sandbox.kube_api import KubeApiServer
    from workflow.tools.kubernetes.backend import KubernetesBackend

    server = KubeApiServer(None)
    url = server.start()
    deps = deps_with()
    deps.kubernetes = KubernetesBackend.from_url(url)
    try:
        context = {"new_service": "invoice-api", "team": "billing"}
        answer = await node._create(deps, context, {})
        names = [d["name"] for d in await deps.kubernetes.list_deployments("staging")]
    finally:
        await deps.kubernetes.aclose()
        server.stop()
    preview = answer.plan["preview"]
    assert "server-side dry-run in namespace staging" in preview
    # the sandbox cluster serves Services too (a first deploy creates them): both dry-run
    assert "not dry-run on the cluster" not in preview
    assert "invoice-api" not in names, "a dry-run persists nothing"


async def test_a_manifest_the_cluster_refuses_is_not_planned():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from workflow.tools.kubernetes.backend import KubernetesBackend

    class Refusing(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "code": 422,
                    "reason": "Invalid",
                    "message": 'Deployment.apps "invoice-api" is invalid: admission webhook '
                    '"policy.example.com" denied the request: images must come from registry.corp',
                }
            ).encode()
            self.send_response(422)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    deps = deps_with()
    deps.kubernetes = KubernetesBackend.from_url(f"http://127.0.0.1:{http.server_address[1]}")
    try:
        with pytest.raises(
            Refusal,
            match=r"k8s/deployment\.yaml: server-side dry-run of "
            r"Deployment: .*images must come from registry\.corp",
        ):
            await node._create(deps, {"new_service": "invoice-api", "team": "billing"}, {})
    finally:
        await deps.kubernetes.aclose()
        http.shutdown()
        http.server_close()


def test_the_new_service_pipeline_is_valid_against_harness_official_schema():
    import json

    from tests.agents.harness_expert.conftest import SCHEMA, schema_messages

    if not SCHEMA.is_file():
        pytest.skip(f"Harness's pipeline schema {SCHEMA} is not present on this machine")
    import jsonschema

    from workflow.catalog import ServiceEntry

    entry = ServiceEntry(
        name="invoice-api",
        owners=["billing"],
        repository="acme/invoice-api",
        image="registry.example.com/invoice-api",
        language="python",
    )
    _, text = node._pipeline("invoice-api", entry, deps_with())
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert schema_messages(validator, yaml.safe_load(text)) == []


async def test_only_the_parts_asked_for_are_added():
    deps = deps_with(
        catalog={
            "web": {"repository": "acme/web", "owners": ["web-team"], "language": "typescript"}
        }
    )
    answer = await node._add(deps, {"service": "web", "parts": ["dockerfile"]}, {})
    paths = sorted(f["path"] for f in answer.plan["files"])
    assert paths == [".copier-answers.dockerfile-k8s.yml", "Dockerfile"], paths
    assert "adding a Dockerfile" in answer.summary
    dockerfile = answer.plan["files"][1]["content"]
    assert dockerfile.startswith("FROM node:"), "typescript in the catalog: the node Dockerfile"
    manifests = await node._add(deps, {"service": "web", "parts": ["manifests"]}, {})
    assert sorted(f["path"] for f in manifests.plan["files"]) == [
        ".copier-answers.dockerfile-k8s.yml",
        "k8s/deployment.yaml",
        "k8s/service.yaml",
    ]
