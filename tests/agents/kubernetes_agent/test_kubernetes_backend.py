"""KubernetesBackend against the sandbox API server, over real HTTP with lightkube."""

from __future__ import annotations

import json

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.resources.apps_v1 import Deployment

from workflow.plan import Plan
from workflow.sandbox.kube_api import KubeApiServer
from workflow.tools.kubernetes import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidNameError,
    KubernetesBackend,
    KubernetesError,
    NotFoundError,
    StalePlanError,
    resolve_image,
    validate_name,
)

NS = "production"
REPO = "registry.example.com/api-server"


@pytest.fixture
def server():
    with KubeApiServer(rollout_seconds=0.1) as srv:
        yield srv


@pytest.fixture
async def backend(server):
    b = KubernetesBackend.from_url(server.url, poll_interval=0.02, rollout_timeout=5)
    yield b
    await b.aclose()


async def _other_writer(url: str, patch: dict, name: str = "api-server", ns: str = NS) -> None:
    """Someone else changing the cluster (kubectl, another bot replica)."""
    config = KubeConfig.from_one(cluster=Cluster(server=url), user=User())
    async with AsyncClient(config, field_manager="someone-else") as client:
        await client.patch(Deployment, name, patch, namespace=ns)


# ---------------------------------------------------------------------------- plan


PLANS = [
    ("deploy", NS, "api-server", {"image": "v1.2.3"}),
    ("scale", NS, "web", {"replicas": 6}),
    ("restart", "staging", "checkout", {}),
    ("rollback", NS, "api-server", {}),
    ("delete", "dev", "payment-service", {}),
    ("provision", "feature-x", "feature-x", {}),
]


@pytest.mark.parametrize(("action", "namespace", "name", "extra"), PLANS)
async def test_plan_previews_with_dry_run_and_changes_nothing(
    server, backend, action, namespace, name, extra
):
    before = server.snapshot()
    plan = await backend.plan(
        action, namespace=namespace, name=name, environment=namespace, **extra
    )
    assert plan.action == action
    assert plan.plan_hash.startswith("sha256:")
    assert plan.dry_run
    assert "server-side dry-run: accepted" in plan.preview
    assert plan.target.startswith(("deployment/", "namespace/"))
    Plan.model_validate(plan.model_dump())  # travels through graph state as a dict
    assert server.snapshot() == before


async def test_deploy_plan_preview_and_summaries(backend):
    plan = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment="production", image="v1.2.3"
    )
    assert f"- image: {REPO}:v1.2.2" in plan.preview
    assert f"+ image: {REPO}:v1.2.3" in plan.preview
    assert "  replicas: 3" in plan.preview
    assert plan.target == "deployment/api-server -n production"
    assert plan.before == {
        "image": f"{REPO}:v1.2.2",
        "images": {"api-server": f"{REPO}:v1.2.2"},
        "replicas": 3,
        "revision": 2,
    }
    assert plan.after["image"] == f"{REPO}:v1.2.3"
    assert plan.after["revision"] == 3
    assert plan.patch["metadata"]["resourceVersion"] == plan.resource_version
    assert plan.risk == []


async def test_plan_hash_is_stable_and_tracks_inputs(server, backend):
    kw = {"namespace": NS, "name": "api-server", "environment": "production"}
    first = await backend.plan("deploy", image="v1.2.3", **kw)
    again = await backend.plan("deploy", image=f"{REPO}:v1.2.3", **kw)
    other = await backend.plan("deploy", image="v1.2.4", **kw)
    assert first.plan_hash == again.plan_hash
    assert other.plan_hash != first.plan_hash

    await _other_writer(server.url, {"metadata": {"labels": {"touched": "yes"}}})
    moved = await backend.plan("deploy", image="v1.2.3", **kw)
    assert moved.resource_version != first.resource_version
    assert moved.plan_hash != first.plan_hash


async def test_no_change_and_scale_to_zero_are_flagged(backend):
    same = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment="production", image="v1.2.2"
    )
    assert "no_change" in same.risk
    zero = await backend.plan(
        "scale", namespace=NS, name="web", environment="production", replicas=0
    )
    assert "scale_to_zero" in zero.risk
    assert "- replicas: 4" in zero.preview and "+ replicas: 0" in zero.preview
    delete = await backend.plan("delete", namespace="dev", name="web", environment="dev")
    assert delete.risk == ["destructive"]


# ---------------------------------------------------------------------------- apply


async def test_apply_deploy_rolls_out_and_status_shows_new_image(server, backend):
    plan = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment="production", image="v1.2.3"
    )
    result = await backend.apply(plan)
    assert result["applied"] is True
    assert result["rollout"] == "complete"
    assert result["elapsed_s"] < 5
    status = result["status"]
    assert status["image"] == f"{REPO}:v1.2.3"
    assert status["rollout_complete"] is True
    assert status["revision"] == 3

    status = await backend.status(NS, "api-server")
    assert status["image"] == f"{REPO}:v1.2.3"
    assert status["replicas"] == {
        "desired": 3,
        "updated": 3,
        "ready": 3,
        "available": 3,
        "total": 3,
    }
    assert len(status["pods"]) == 3
    assert all(p["ready"] and p["current_revision"] for p in status["pods"])
    assert any(e["reason"] == "ScalingReplicaSet" for e in status["events"])
    assert status["logs"]["lines"]
    json.dumps(result)  # plain data, fit for graph state and Slack messages
    assert server.snapshot()[NS]["api-server"]["image"] == f"{REPO}:v1.2.3"


async def test_rollback_restores_previous_revision(server, backend):
    plan = await backend.plan("rollback", namespace=NS, name="api-server", environment=NS)
    assert f"- image: {REPO}:v1.2.2" in plan.preview
    assert f"+ image: {REPO}:v1.2.1" in plan.preview
    assert "rolls back to revision 1" in plan.preview
    result = await backend.apply(plan)
    assert result["rollout"] == "complete"
    assert result["status"]["image"] == f"{REPO}:v1.2.1"
    assert server.snapshot()[NS]["api-server"]["image"] == f"{REPO}:v1.2.1"
    assert server.snapshot()[NS]["api-server"]["revision"] == 3


async def test_rollback_without_history_is_a_clear_error(backend):
    with pytest.raises(KubernetesError, match="no previous revision"):
        await backend.plan("rollback", namespace="dev", name="api-server", environment="dev")


async def test_scale_restart_delete_provision_apply(server, backend):
    scale = await backend.plan("scale", namespace=NS, name="web", environment=NS, replicas=0)
    result = await backend.apply(scale)
    assert result["rollout"] == "complete"
    assert result["status"]["pods"] == []

    restart = await backend.plan("restart", namespace="dev", name="web", environment="dev")
    assert "+ pod annotation kubectl.kubernetes.io/restartedAt:" in restart.preview
    result = await backend.apply(restart)
    assert result["rollout"] == "complete"
    assert server.snapshot()["dev"]["web"]["revision"] == 2

    delete = await backend.plan("delete", namespace="dev", name="web", environment="dev")
    result = await backend.apply(delete)
    assert result["rollout"] == "not_applicable"
    assert "web" not in server.snapshot()["dev"]

    provision = await backend.plan(
        "provision", namespace="feature-x", name="feature-x", environment="dev"
    )
    assert provision.kind == "Namespace"
    result = await backend.apply(provision)
    assert result["status"] == {"namespace": "feature-x", "phase": "Active"}
    assert "feature-x" in server.snapshot()
    with pytest.raises(AlreadyExistsError):
        await backend.plan("provision", namespace="feature-x", name="feature-x", environment="dev")


async def test_apply_after_concurrent_change_is_a_stale_plan(server, backend):
    plan = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment="production", image="v1.2.3"
    )
    await _other_writer(
        server.url,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "api-server", "image": f"{REPO}:hotfix"}]}
                }
            }
        },
    )
    with pytest.raises(StalePlanError, match="changed since the plan was approved"):
        await backend.apply(plan)
    assert server.snapshot()[NS]["api-server"]["image"] == f"{REPO}:hotfix"

    delete = await backend.plan("delete", namespace="dev", name="web", environment="dev")
    await _other_writer(server.url, {"spec": {"replicas": 3}}, name="web", ns="dev")
    with pytest.raises(StalePlanError):
        await backend.apply(delete)
    assert "web" in server.snapshot()["dev"]


async def test_tampered_plan_is_refused(server, backend):
    plan = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment="production", image="v1.2.3"
    )
    tampered = plan.model_copy(update={"name": "web"})
    with pytest.raises(KubernetesError, match="hash"):
        await backend.apply(tampered)
    assert server.snapshot()[NS]["api-server"]["image"] == f"{REPO}:v1.2.2"


async def test_crashloop_rollout_times_out_and_status_explains(server):
    backend = KubernetesBackend.from_url(server.url, poll_interval=0.02, rollout_timeout=0.6)
    plan = await backend.plan(
        "deploy",
        namespace="staging",
        name="checkout",
        environment="staging",
        image="v2.5.0-crashloop",
    )
    result = await backend.apply(plan)
    assert result["rollout"] == "timed_out"
    status = result["status"]
    assert status["rollout_complete"] is False
    crashing = [p for p in status["pods"] if p["current_revision"]]
    assert crashing and all(p["reason"] == "CrashLoopBackOff" for p in crashing)
    assert all(p["restart_count"] >= 1 for p in crashing)
    assert status["logs"]["pod"] in {p["name"] for p in crashing}
    assert any("v2.5.0-crashloop" in line for line in status["logs"]["lines"])
    assert any(e["reason"] == "BackOff" and e["type"] == "Warning" for e in status["events"])
    await backend.aclose()


async def test_apply_without_waiting_then_follow_the_rollout(server, backend):
    """What the graph does: apply returns once the API server took the change; the
    rollout is followed next, described in full only when it did not complete."""
    plan = await backend.plan(
        "deploy", namespace=NS, name="api-server", environment=NS, image="v1.2.3"
    )
    applied = await backend.apply(plan, wait=False)
    assert applied["rollout"] == "in_progress" and applied["status"] is None
    assert (applied["namespace"], applied["name"]) == (NS, "api-server")
    assert server.snapshot()[NS]["api-server"]["image"] == f"{REPO}:v1.2.3"
    done = await backend.follow_rollout(NS, "api-server", applied["generation"], details=False)
    assert done["rollout"] == "complete"
    assert done["status"]["image"] == f"{REPO}:v1.2.3"
    assert done["status"]["replicas"]["ready"] == done["status"]["replicas"]["desired"]
    assert "pods" not in done["status"] and "events" not in done["status"]

    slow = KubernetesBackend.from_url(server.url, poll_interval=0.02, rollout_timeout=0.4)
    bad = await slow.plan(
        "deploy",
        namespace="staging",
        name="checkout",
        environment="staging",
        image="v2.5.0-crashloop",
    )
    applied = await slow.apply(bad, wait=False)
    stuck = await slow.follow_rollout("staging", "checkout", applied["generation"], details=False)
    assert stuck["rollout"] == "timed_out"
    assert any(p["reason"] == "CrashLoopBackOff" for p in stuck["status"]["pods"])
    assert stuck["status"]["logs"]["lines"], "a rollout that did not complete shows why"
    await slow.aclose()


async def test_oom_pods_report_oomkilled(backend):
    plan = await backend.plan(
        "deploy", namespace="dev", name="checkout", environment="dev", image="v2.4.1-oom"
    )
    await backend.apply(plan)
    status = await backend.status("dev", "checkout", log_lines=5)
    pod = status["pods"][0]
    assert pod["last_termination_reasons"] == ["OOMKilled"]
    assert pod["reason"] == "OOMKilled"
    assert len(status["logs"]["lines"]) <= 5


async def test_list_deployments(backend):
    items = await backend.list_deployments("staging")
    assert [d["name"] for d in items] == ["api-server", "checkout", "payment-service", "web"]
    api = items[0]
    assert api["replicas"] == 2 and api["rollout_complete"] is True
    assert api["image"] == f"{REPO}:v1.2.2"


# ---------------------------------------------------------------------------- errors


async def test_not_found_messages(backend):
    with pytest.raises(NotFoundError) as err:
        await backend.plan("deploy", namespace=NS, name="nope", environment=NS, image="v1")
    assert str(err.value) == "deployment 'nope' not found in namespace 'production'"
    with pytest.raises(NotFoundError) as err:
        await backend.status("qa", "web")
    assert str(err.value) == "namespace 'qa' not found"
    with pytest.raises(NotFoundError, match="namespace 'qa' not found"):
        await backend.list_deployments("qa")
    with pytest.raises(NotFoundError, match="namespace 'qa' not found"):
        await backend.plan("scale", namespace="qa", name="web", environment="qa", replicas=1)


_DEPLOY = {"action": "deploy", "namespace": NS, "name": "web", "image": "v1"}
_SCALE = {"action": "scale", "namespace": NS, "name": "web"}
INVALID_CALLS = [
    ({**_DEPLOY, "name": "Web_App"}, InvalidNameError),
    ({**_DEPLOY, "namespace": "Prod!"}, InvalidNameError),
    ({**_DEPLOY, "image": "v1; rm -rf /"}, InvalidInputError),
    ({**_DEPLOY, "image": "$(curl x)"}, InvalidInputError),
    ({**_DEPLOY, "image": "a b"}, InvalidInputError),
    ({**_SCALE, "replicas": -1}, InvalidInputError),
    ({**_SCALE, "replicas": 5000}, InvalidInputError),
    ({**_SCALE, "replicas": True}, InvalidInputError),
    ({**_SCALE, "replicas": "3"}, InvalidInputError),
    ({"action": "provision", "namespace": "a" * 64, "name": "a" * 64}, InvalidNameError),
    ({"action": "destroy-all", "namespace": NS, "name": "web"}, InvalidInputError),
]


@pytest.mark.parametrize(("call", "error"), INVALID_CALLS)
async def test_invalid_input_is_rejected_before_any_http_call(server, backend, call, error):
    server.requests.clear()
    with pytest.raises(error):
        await backend.plan(environment="production", **call)
    assert server.requests == []


async def test_read_methods_validate_before_any_http_call(server, backend):
    server.requests.clear()
    with pytest.raises(InvalidNameError) as err:
        await backend.status(NS, "Web_App")
    assert str(err.value) == (
        "invalid deployment name 'Web_App': must be lowercase letters, digits and '-', "
        "start and end with a letter or digit (DNS-1123)"
    )
    with pytest.raises(InvalidNameError):
        await backend.list_deployments("UPPER")
    assert server.requests == []


def test_validate_name_rules():
    assert validate_name("api-server", "deployment") == "api-server"
    assert validate_name("api.server", "deployment") == "api.server"
    with pytest.raises(InvalidNameError):
        validate_name("api.server", "namespace")
    with pytest.raises(InvalidNameError):
        validate_name("-web", "deployment")
    with pytest.raises(InvalidNameError, match="at most 63"):
        validate_name("a" * 64, "namespace")
    assert issubclass(InvalidNameError, ValueError)


def test_resolve_image():
    current = f"{REPO}:v1.2.2"
    assert resolve_image(current, "v1.2.3") == f"{REPO}:v1.2.3"
    assert resolve_image(current, "api-server:v1.2.3") == f"{REPO}:v1.2.3"
    assert resolve_image(current, "ghcr.io/acme/api:2.0") == "ghcr.io/acme/api:2.0"
    digest = "sha256:" + "a" * 64
    assert resolve_image(current, digest) == f"{REPO}@{digest}"
    assert resolve_image("localhost:5000/web", "v2") == "localhost:5000/web:v2"
    with pytest.raises(InvalidInputError):
        resolve_image(current, "v1|sh")


def test_from_environment_without_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesError) as err:
        KubernetesBackend.from_environment()
    assert str(err.value) == "no Kubernetes configuration: set KUBECONFIG or run in-cluster"


async def test_from_environment_uses_kubeconfig_context(monkeypatch, tmp_path, server):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: sandbox-ctx\n"
        f"clusters: [{{name: c, cluster: {{server: '{server.url}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: sandbox-ctx, context: {cluster: c, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    backend = KubernetesBackend.from_environment(poll_interval=0.02)
    assert backend.cluster_label == "sandbox-ctx"
    items = await backend.list_deployments("dev")
    assert len(items) == 4
    await backend.aclose()


async def test_unreachable_api_is_a_clear_error():
    backend = KubernetesBackend.from_url("http://127.0.0.1:9", cluster_label="nowhere")
    with pytest.raises(KubernetesError, match="cannot reach the Kubernetes API") as err:
        await backend.status(NS, "web")
    assert "Traceback" not in str(err.value)
    await backend.aclose()
