"""The bot's RBAC (deploy/base/rbac.yaml) is exactly what the Kubernetes backend calls.

Three ways round:
- statically, every lightkube call in the code that talks to a cluster maps to a verb on a
  resource the Role grants, and every granted verb is one of those calls;
- dynamically, every backend operation (reads, logs, each plan and each apply, rollouts)
  runs against the sandbox API server enforcing the rendered RBAC as a real API server
  would (403 otherwise): nothing is refused, and every granted verb is used;
- a call outside the Role is caught: with any one granted verb taken away the same run
  meets a 403, and calls the bot never makes (secrets, exec, a namespace not bound) get 403.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ApiError
from lightkube.resources import apps_v1, batch_v1, core_v1

from tests.deploy.kustomize import render
from tests.deploy.rbac import Access, Authorizer, RbacKubeApiServer, access_of
from workflow.agents.scaffold_agent.checks import server_dry_run
from workflow.agents.testing_agent.unit import UnitTestError, job_manifest, run_test_job
from workflow.tools.kubernetes import KubernetesBackend, KubernetesError
from workflow.tools.logs.model import LogQuery
from workflow.tools.logs.pods import KubernetesLogSearch

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = {"account": "devops-bot", "namespace": "devops-bot"}
SCAFFOLDED = {
    "k8s/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: invoice-api}
spec:
  replicas: 1
  selector: {matchLabels: {app: invoice-api}}
  template:
    metadata: {labels: {app: invoice-api}}
    spec:
      containers: [{name: app, image: registry.example.com/invoice-api:v0.1.0}]
""",
    "k8s/service.yaml": """\
apiVersion: v1
kind: Service
metadata: {name: invoice-api}
spec:
  selector: {app: invoice-api}
  ports: [{port: 80, targetPort: 8080}]
""",
}
FIRST_DEPLOY = {
    "k8s/deployment.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: invoice-api, labels: {app: invoice-api}}
spec:
  replicas: 1
  selector: {matchLabels: {app: invoice-api}}
  template:
    metadata: {labels: {app: invoice-api}}
    spec:
      containers: [{name: invoice-api, image: "registry.example.com/invoice-api:latest"}]
""",
    "k8s/service.yaml": """
apiVersion: v1
kind: Service
metadata: {name: invoice-api}
spec:
  selector: {app: invoice-api}
  ports: [{name: http, port: 80, targetPort: 8080}]
""",
}
MISSING = "deployment 'no-such-deployment' not found in namespace 'production'"
# lightkube client method -> RBAC verb (and subresource)
METHODS = {
    "get": ("get", ""),
    "list": ("list", ""),
    "watch": ("watch", ""),
    "create": ("create", ""),
    "patch": ("patch", ""),
    "apply": ("patch", ""),
    "replace": ("update", ""),
    "delete": ("delete", ""),
    "deletecollection": ("deletecollection", ""),
    "log": ("get", "/log"),
}


def rbac_objects() -> list[dict]:
    return [
        o
        for o in render(ROOT / "deploy" / "overlays" / "http")
        if o["kind"] in ("ClusterRole", "Role", "RoleBinding", "ClusterRoleBinding")
    ]


def authorizer(without: tuple[str, str, str] | None = None) -> Authorizer:
    objs = rbac_objects()
    if without is not None:
        verb, group, resource = without
        for obj in objs:
            for rule in obj.get("rules") or []:
                if group in rule["apiGroups"] and resource in rule["resources"]:
                    rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    return Authorizer(objs, **ACCOUNT)


# -- statically: the calls in the code -----------------------------------------------------------


def cluster_modules() -> list[Path]:
    """Every module outside the sandboxes that imports lightkube (talks to a real cluster)."""
    found = []
    for path in sorted([*(ROOT / "workflow").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("workflow/sandbox/") or "sandbox" in path.name:
            continue
        if "lightkube" in path.read_text():
            found.append(path)
    return found


def _dry_run_kinds(path: Path) -> tuple[str, ...]:
    """The module's `DRY_RUN_KINDS = ("Deployment", ...)`: the kinds a dynamic create takes."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DRY_RUN_KINDS" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{path}: client.create(obj, ...) without DRY_RUN_KINDS")


def calls_in_code() -> set[tuple[str, str, str]]:
    """(verb, group, resource) of every `<...>client.<method>(Resource, ...)` call."""
    used: set[tuple[str, str, str]] = set()
    for path in cluster_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            owner_name = (
                owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            )
            method = node.func.attr
            if method == "_list":  # the backend's list helper: self._list(Pod, namespace, ...)
                method, owner_name = "list", "client"
            if owner_name != "client" or method not in METHODS:
                continue
            verb, sub = METHODS[method]
            if method == "log":
                kind = "Pod"
            else:
                first = node.args[0]
                if isinstance(first, ast.Call):  # Namespace.from_dict(...)
                    first = first.func.value  # type: ignore[attr-defined]
                kind = first.id  # type: ignore[attr-defined]
            res = next(
                (
                    r
                    for m in (apps_v1, batch_v1, core_v1)
                    if isinstance(r := getattr(m, kind, None), type)
                ),
                None,
            )
            if res is None and kind == "obj":
                # a dry-run create of rendered manifests: of the kinds the module names
                for name in _dry_run_kinds(path):
                    info = next(getattr(m, name) for m in (apps_v1, core_v1) if hasattr(m, name))
                    used.add((verb, info._api_info.resource.group, info._api_info.plural + sub))
                continue
            if res is None:
                # `client.list(res, ...)` inside the helper itself: its callers are scanned
                assert kind == "res", f"{path}: client.{method}({kind}, ...) not understood"
                continue
            info = res._api_info
            used.add((verb, info.resource.group, info.plural + sub))
    return used


def test_the_scan_sees_the_backend():
    modules = {p.relative_to(ROOT).as_posix() for p in cluster_modules()}
    assert "workflow/tools/kubernetes/client.py" in modules
    assert "workflow/tools/logs/pods.py" in modules
    assert ("get", "", "pods/log") in calls_in_code()


def test_role_grants_exactly_the_calls_in_the_code():
    used, granted = calls_in_code(), authorizer().granted()
    assert used - granted == set(), f"calls the Role does not allow: {sorted(used - granted)}"
    assert granted - used == set(), f"granted but never called: {sorted(granted - used)}"
    assert not [v for v, _, r in granted if "*" in (v, r)]


# -- dynamically: every operation against an API server enforcing the RBAC ----------------------


async def drive(server: RbacKubeApiServer) -> list[str]:
    """Every backend operation once; the errors met (messages)."""
    errors: list[str] = []
    backend = KubernetesBackend.from_url(server.url, rollout_timeout=10, poll_interval=0.05)
    logs = KubernetesLogSearch(backend, retries=1)

    async def step(coro) -> object:
        try:
            return await coro
        except (KubernetesError, UnitTestError) as exc:
            errors.append(str(exc))
        except Exception as exc:  # a 403 seen through the log search's own errors
            errors.append(f"{type(exc).__name__}: {exc}")
        return None

    try:
        await step(backend.status("production", "api-server", log_lines=5))
        await step(backend.rollout_history("production", "api-server"))
        await step(backend.list_deployments("staging"))
        await step(logs.search(LogQuery(service="checkout", namespace="production")))
        # a missing deployment: the backend reads the namespace to tell the two apart
        await step(backend.status("production", "no-such-deployment"))
        plans = {
            "deploy": dict(namespace="production", name="api-server", image="v9.9.9"),
            "scale": dict(namespace="production", name="web", replicas=3),
            "restart": dict(namespace="staging", name="checkout"),
            "rollback": dict(namespace="production", name="checkout"),
            "delete": dict(namespace="staging", name="web"),
            "provision": dict(namespace="team-new", name="team-new"),
        }
        for action, kw in plans.items():
            plan = await step(backend.plan(action, environment="production", **kw))
            if plan is not None:
                await step(backend.apply(plan, wait=action != "delete"))
        # a scaffolded service's manifests, dry-run before anyone sees them
        problems, notes = await server_dry_run(backend, SCAFFOLDED, "staging")
        errors += problems + [n for n in notes if "forbidden" in n.lower()]
        # a first deploy creates the Deployment and Service; applied again, it reads them
        first = await step(
            backend.plan_first_deploy(
                namespace="staging",
                name="invoice-api",
                environment="staging",
                image="v0.1.0",
                manifests=FIRST_DEPLOY,
            )
        )
        if first is not None:
            await step(backend.apply(first))
            await step(backend.apply(first))
        # a service's unit tests as a Job (testing_agent): create, follow, its pod's log
        job = job_manifest(
            "ledger-unit-tests-1", "staging", "ledger", "ledger-tests:1", ["pytest"], 60
        )
        run = await step(run_test_job(backend.client, job, poll_s=0.05))
        if run is not None and run.passed is None:  # type: ignore[attr-defined]
            errors.append(f"no test counts read from the Job's log: {run}")
    finally:
        await backend.aclose()
    return errors


def used_by(server: RbacKubeApiServer) -> set[tuple[str, str, str]]:
    return {(a.verb, a.group, a.resource) for a in server.accesses}


async def test_every_operation_runs_within_the_role_and_uses_all_of_it():
    with RbacKubeApiServer(authorizer(), rollout_seconds=0.05) as server:
        errors = await drive(server)
        assert server.forbidden == []
        assert errors == [MISSING], errors
        assert used_by(server) == authorizer().granted()
        assert server.snapshot()["production"]["web"]["replicas"] == 3
        assert "team-new" in server.snapshot()


@pytest.mark.parametrize("missing", sorted(authorizer().granted()), ids="-".join)
async def test_a_role_without_any_one_verb_is_caught(missing):
    with RbacKubeApiServer(authorizer(without=missing), rollout_seconds=0.05) as server:
        errors = await drive(server)
        # The 403 is seen whether the backend fails the step (most) or reports it in its
        # result (a pod's log in a status, the namespace read that sharpens an error message).
        assert {(a.verb, a.group, a.resource) for a in server.forbidden} == {missing}
        assert errors != [MISSING] or missing in (
            ("get", "", "pods/log"),
            ("get", "", "namespaces"),
        )


async def test_calls_outside_the_role_get_403():
    with RbacKubeApiServer(authorizer(), rollout_seconds=0.05) as server:
        config = KubeConfig.from_one(cluster=Cluster(server=server.url), user=User())
        client = AsyncClient(config, field_manager="devops-bot")
        try:
            outside = [
                client.get(core_v1.Secret, "x", namespace="production"),
                client.get(apps_v1.Deployment, "web", namespace="dev"),  # no RoleBinding there
                client.delete(core_v1.Pod, "x", namespace="production"),
                client.create(core_v1.Namespace.from_dict({"metadata": {"name": "x"}})),
            ]
            denied = 0
            for call in outside[:3]:
                with pytest.raises(ApiError) as exc:
                    await call
                assert exc.value.status.code == 403
                denied += 1
            await outside[3]  # inside: namespaces create is granted
            # the backend names a 403 plainly (a namespace without the bot's RoleBinding)
            backend = KubernetesBackend.from_url(server.url)
            with pytest.raises(KubernetesError, match="not allowed: deployments is forbidden"):
                await backend.status("dev", "web")
            await backend.aclose()
        finally:
            await client.close()
        assert denied == 3
        assert len(server.forbidden) == 4


def test_access_of_maps_rest_paths_to_rbac():
    assert access_of("GET", "/api/v1/namespaces/p/pods/x/log") == Access("get", "", "pods/log", "p")
    assert access_of("GET", "/apis/apps/v1/namespaces/p/deployments", "watch=true") == Access(
        "watch", "apps", "deployments", "p"
    )
    assert access_of("DELETE", "/apis/apps/v1/namespaces/p/replicasets") == Access(
        "deletecollection", "apps", "replicasets", "p"
    )
    assert access_of("GET", "/api/v1/namespaces/p") == Access("get", "", "namespaces", "")
    assert access_of("GET", "/version") is None
