"""The sandbox Kubernetes API server, driven by the real lightkube client (and raw httpx)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Event, Namespace, Pod

from workflow.sandbox.kube_api import KubeApiServer

ROLLOUT = 0.1
NS = "production"
IMAGE = "registry.example.com/api-server"


def _client(url: str) -> AsyncClient:
    config = KubeConfig.from_one(cluster=Cluster(server=url), user=User())
    return AsyncClient(config, field_manager="tests")


@pytest.fixture
def server():
    with KubeApiServer(rollout_seconds=ROLLOUT) as srv:
        yield srv


@pytest.fixture
async def kube(server):
    client = _client(server.url)
    yield client
    await client.close()


def _image_patch(image: str, rv: str | None = None) -> dict:
    patch: dict = {
        "spec": {"template": {"spec": {"containers": [{"name": "api-server", "image": image}]}}}
    }
    if rv is not None:
        patch["metadata"] = {"resourceVersion": rv}
    return patch


async def _replicasets(kube: AsyncClient, app: str, ns: str = NS) -> list:
    return [rs async for rs in kube.list(ReplicaSet, namespace=ns, labels={"app": app})]


async def _pods(kube: AsyncClient, app: str, ns: str = NS) -> list:
    return [p async for p in kube.list(Pod, namespace=ns, labels={"app": app})]


async def _wait_complete(kube: AsyncClient, name: str, ns: str = NS, within: float = 3.0):
    deadline = time.monotonic() + within
    while True:
        dep = await kube.get(Deployment, name, namespace=ns)
        st = dep.status
        # Zero counts are omitted from the JSON, as by the real API server.
        if (
            (st.observedGeneration or 0) >= dep.metadata.generation
            and (st.updatedReplicas or 0) == dep.spec.replicas
            and (st.availableReplicas or 0) == dep.spec.replicas
            and (st.replicas or 0) == dep.spec.replicas
        ):
            return dep
        assert time.monotonic() < deadline, f"rollout of {name} did not complete: {st}"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------------- errors


async def test_missing_objects_are_404_status(kube):
    with pytest.raises(ApiError) as err:
        await kube.get(Deployment, "nope", namespace=NS)
    status = err.value.status
    assert (status.code, status.reason) == (404, "NotFound")
    assert status.message == 'deployments.apps "nope" not found'

    with pytest.raises(ApiError) as err:
        await kube.get(Namespace, "nope")
    assert err.value.status.message == 'namespaces "nope" not found'

    # As in Kubernetes: a missing namespace lists as empty and reads as a missing object.
    assert [d async for d in kube.list(Deployment, namespace="nope")] == []
    with pytest.raises(ApiError) as err:
        await kube.get(Deployment, "web", namespace="nope")
    assert err.value.status.message == 'deployments.apps "web" not found'

    with pytest.raises(ApiError) as err:
        await kube.patch(Deployment, "nope", {"spec": {"replicas": 1}}, namespace=NS)
    assert err.value.status.code == 404


async def test_unknown_path_is_a_404_status(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        resp = await http.get("/apis/batch/v1/namespaces/dev/cronjobs")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["kind"] == "Status"


async def test_create_conflicts_and_validation(kube):
    existing = await kube.get(Deployment, "web", namespace="dev")
    body = existing.to_dict()
    body["metadata"] = {"name": "web"}
    with pytest.raises(ApiError) as err:
        await kube.create(Deployment.from_dict(body), namespace="dev")
    assert (err.value.status.code, err.value.status.reason) == (409, "AlreadyExists")

    body["metadata"] = {"name": "Web_App"}
    with pytest.raises(ApiError) as err:
        await kube.create(Deployment.from_dict(body), namespace="dev")
    assert (err.value.status.code, err.value.status.reason) == (422, "Invalid")
    assert "metadata.name" in err.value.status.message

    with pytest.raises(ApiError) as err:
        await kube.patch(Deployment, "web", {"spec": {"replicas": -1}}, namespace="dev")
    assert err.value.status.code == 422
    assert "spec.replicas" in err.value.status.message

    with pytest.raises(ApiError) as err:
        await kube.create(Namespace.from_dict({"metadata": {"name": "Bad_NS"}}))
    assert err.value.status.code == 422


async def test_stale_resource_version_is_409_conflict(kube):
    dep = await kube.get(Deployment, "api-server", namespace=NS)
    old_rv = dep.metadata.resourceVersion
    await kube.patch(Deployment, "api-server", {"metadata": {"labels": {"x": "1"}}}, namespace=NS)
    with pytest.raises(ApiError) as err:
        await kube.patch(
            Deployment, "api-server", _image_patch(f"{IMAGE}:v9", old_rv), namespace=NS
        )
    assert (err.value.status.code, err.value.status.reason) == (409, "Conflict")
    assert "has been modified" in err.value.status.message
    after = await kube.get(Deployment, "api-server", namespace=NS)
    assert after.spec.template.spec.containers[0].image == f"{IMAGE}:v1.2.2"


async def test_wrong_patch_content_type_is_415(server):
    async with httpx.AsyncClient(base_url=server.url) as http:
        resp = await http.patch(
            f"/apis/apps/v1/namespaces/{NS}/deployments/web",
            content=json.dumps({"spec": {"replicas": 9}}),
            headers={"Content-Type": "application/json"},
        )
    assert resp.status_code == 415
    assert resp.json()["reason"] == "UnsupportedMediaType"
    assert server.snapshot()[NS]["web"]["replicas"] == 4


async def test_unsupported_dry_run_value_is_400(server):
    before = server.snapshot()
    async with httpx.AsyncClient(base_url=server.url) as http:
        resp = await http.patch(
            f"/apis/apps/v1/namespaces/{NS}/deployments/web",
            params={"dryRun": "Server"},
            content=json.dumps({"spec": {"replicas": 9}}),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        )
    assert resp.status_code == 400
    assert resp.json()["reason"] == "BadRequest"
    assert server.snapshot() == before


async def test_replace_with_stale_resource_version_is_409(kube):
    dep = await kube.get(Deployment, "web", namespace="dev")
    await kube.patch(Deployment, "web", {"spec": {"replicas": 2}}, namespace="dev")
    dep.spec.replicas = 7
    with pytest.raises(ApiError) as err:
        await kube.replace(dep)
    assert err.value.status.code == 409
    # Let the controller finish scaling (its status updates move resourceVersion too, as in
    # a real cluster), then a read-modify-replace with the fresh version goes through.
    await _wait_complete(kube, "web", "dev")
    fresh = await kube.get(Deployment, "web", namespace="dev")
    fresh.spec.replicas = 3
    replaced = await kube.replace(fresh)
    assert replaced.spec.replicas == 3
    assert int(replaced.metadata.resourceVersion) > int(fresh.metadata.resourceVersion)


# ---------------------------------------------------------------------------- dry-run


async def test_dry_run_persists_nothing(server, kube):
    before_snapshot = server.snapshot()
    dep = await kube.get(Deployment, "api-server", namespace=NS)
    rv = dep.metadata.resourceVersion
    rs_before = await _replicasets(kube, "api-server")
    events_before = [e async for e in kube.list(Event, namespace=NS)]

    result = await kube.patch(
        Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.3", rv), namespace=NS, dry_run=True
    )
    assert result.spec.template.spec.containers[0].image == f"{IMAGE}:v1.2.3"
    assert result.metadata.generation == dep.metadata.generation + 1
    assert result.metadata.resourceVersion == rv

    await asyncio.sleep(ROLLOUT * 2)  # long enough for a real change to roll out
    after = await kube.get(Deployment, "api-server", namespace=NS)
    assert after.metadata.resourceVersion == rv
    assert after.metadata.generation == dep.metadata.generation
    assert after.spec.template.spec.containers[0].image == f"{IMAGE}:v1.2.2"
    assert len(await _replicasets(kube, "api-server")) == len(rs_before)
    assert len([e async for e in kube.list(Event, namespace=NS)]) == len(events_before)

    await kube.delete(Deployment, "api-server", namespace=NS, dry_run=True)
    await kube.create(Namespace.from_dict({"metadata": {"name": "dry"}}), dry_run=True)
    body = dep.to_dict()
    body["metadata"] = {"name": "api-copy"}
    created = await kube.create(Deployment.from_dict(body), namespace=NS, dry_run=True)
    assert created.metadata.name == "api-copy"
    assert server.snapshot() == before_snapshot
    assert "dry" not in server.snapshot()


# ---------------------------------------------------------------------------- patches


async def test_strategic_merge_merges_containers_by_name(kube):
    await kube.patch(Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.3"), namespace=NS)
    dep = await kube.get(Deployment, "api-server", namespace=NS)
    container = dep.spec.template.spec.containers[0]
    assert container.image == f"{IMAGE}:v1.2.3"
    assert {e.name for e in container.env} == {"ENVIRONMENT", "HTTP_PORT"}  # kept
    assert container.readinessProbe is not None


async def test_merge_patch_and_null_deletes(kube):
    from lightkube.types import PatchType

    await kube.patch(Deployment, "web", {"metadata": {"labels": {"team": "shop"}}}, namespace=NS)
    await kube.patch(
        Deployment,
        "web",
        {"metadata": {"labels": {"team": None}}},
        namespace=NS,
        patch_type=PatchType.MERGE,
    )
    dep = await kube.get(Deployment, "web", namespace=NS)
    assert "team" not in dep.metadata.labels
    assert dep.metadata.labels["app"] == "web"

    await kube.patch(
        Deployment,
        "web",
        [{"op": "replace", "path": "/spec/replicas", "value": 2}],
        namespace=NS,
        patch_type=PatchType.JSON,
    )
    assert (await kube.get(Deployment, "web", namespace=NS)).spec.replicas == 2


async def test_no_op_patch_does_not_bump_resource_version(kube):
    dep = await kube.get(Deployment, "web", namespace=NS)
    same = await kube.patch(Deployment, "web", {"spec": {"replicas": 4}}, namespace=NS)
    assert same.metadata.resourceVersion == dep.metadata.resourceVersion


# ---------------------------------------------------------------------------- controller


async def test_rollout_converges_after_rollout_seconds(kube):
    result = await kube.patch(
        Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.3"), namespace=NS
    )
    assert result.metadata.generation == 3
    first = await kube.get(Deployment, "api-server", namespace=NS)
    assert first.status.observedGeneration < first.metadata.generation  # not observed yet

    dep = await _wait_complete(kube, "api-server")
    assert dep.status.readyReplicas == 3
    conditions = {c.type: c for c in dep.status.conditions}
    assert conditions["Progressing"].reason == "NewReplicaSetAvailable"
    assert conditions["Available"].status == "True"
    pods = await _pods(kube, "api-server")
    assert len(pods) == 3
    assert {p.spec.containers[0].image for p in pods} == {f"{IMAGE}:v1.2.3"}
    assert all(p.status.phase == "Running" for p in pods)


async def test_image_change_creates_next_revision_and_rollback_reuses_replicaset(kube):
    dep = await kube.get(Deployment, "api-server", namespace=NS)
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    revisions = {
        rs.spec.template.spec.containers[0].image: rs.metadata.annotations[
            "deployment.kubernetes.io/revision"
        ]
        for rs in await _replicasets(kube, "api-server")
    }
    assert revisions == {f"{IMAGE}:v1.2.1": "1", f"{IMAGE}:v1.2.2": "2"}

    await kube.patch(Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.3"), namespace=NS)
    dep = await _wait_complete(kube, "api-server")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    replicasets = await _replicasets(kube, "api-server")
    assert len(replicasets) == 3
    new = next(rs for rs in replicasets if rs.spec.replicas)
    assert new.metadata.ownerReferences[0].name == "api-server"
    assert new.metadata.ownerReferences[0].uid == dep.metadata.uid
    pod_hash = new.metadata.labels["pod-template-hash"]
    for pod in await _pods(kube, "api-server"):
        assert pod.metadata.name.startswith(f"api-server-{pod_hash}-")
        assert len(pod.metadata.name.rsplit("-", 1)[1]) == 5

    # Back to v1.2.1: the controller re-uses that ReplicaSet under revision 4.
    await kube.patch(Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.1"), namespace=NS)
    dep = await _wait_complete(kube, "api-server")
    replicasets = await _replicasets(kube, "api-server")
    assert len(replicasets) == 3
    by_image = {rs.spec.template.spec.containers[0].image: rs for rs in replicasets}
    assert (
        by_image[f"{IMAGE}:v1.2.1"].metadata.annotations["deployment.kubernetes.io/revision"] == "4"
    )
    assert by_image[f"{IMAGE}:v1.2.1"].spec.replicas == 3
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "4"


async def test_restart_annotation_rolls_new_pods(kube):
    old_pods = {p.metadata.name for p in await _pods(kube, "web", ns="dev")}
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01"}}
            }
        }
    }
    await kube.patch(Deployment, "web", patch, namespace="dev")
    dep = await _wait_complete(kube, "web", ns="dev")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    new_pods = {p.metadata.name for p in await _pods(kube, "web", ns="dev")}
    assert new_pods and not (new_pods & old_pods)
    events = [
        e.message
        async for e in kube.list(Event, namespace="dev", fields={"involvedObject.name": "web"})
    ]
    assert any(m.startswith("Scaled up replica set web-") for m in events)
    assert any(m.startswith("Scaled down replica set web-") for m in events)


async def test_scale_converges(kube):
    await kube.patch(Deployment, "checkout", {"spec": {"replicas": 5}}, namespace="staging")
    dep = await _wait_complete(kube, "checkout", ns="staging")
    assert dep.status.readyReplicas == 5
    assert len(await _pods(kube, "checkout", ns="staging")) == 5
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "1"

    await kube.patch(Deployment, "checkout", {"spec": {"replicas": 0}}, namespace="staging")
    dep = await _wait_complete(kube, "checkout", ns="staging")
    assert await _pods(kube, "checkout", ns="staging") == []


async def test_crashloop_image_never_completes(kube):
    image = f"{IMAGE}:v1.2.3-crashloop"
    await kube.patch(Deployment, "api-server", _image_patch(image), namespace=NS)
    await asyncio.sleep(ROLLOUT * 4)
    dep = await kube.get(Deployment, "api-server", namespace=NS)
    assert dep.status.observedGeneration == dep.metadata.generation
    assert dep.status.updatedReplicas == 3
    assert dep.status.replicas == 6  # old pods keep serving
    assert {c.type: c.reason for c in dep.status.conditions}["Progressing"] == "ReplicaSetUpdated"

    crashing = [p for p in await _pods(kube, "api-server") if p.spec.containers[0].image == image]
    assert len(crashing) == 3
    status = crashing[0].status.containerStatuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.lastState.terminated.reason == "Error"
    assert not status.ready
    first_count = status.restartCount
    assert first_count >= 1
    await asyncio.sleep(ROLLOUT * 4)
    again = await kube.get(Pod, crashing[0].metadata.name, namespace=NS)
    assert again.status.containerStatuses[0].restartCount > first_count

    events = [
        e
        async for e in kube.list(
            Event, namespace=NS, fields={"involvedObject.name": crashing[0].metadata.name}
        )
    ]
    backoff = [e for e in events if e.reason == "BackOff"]
    assert backoff and backoff[0].type == "Warning"

    lines = [line async for line in kube.log(crashing[0].metadata.name, namespace=NS)]
    assert any(image in line for line in lines)
    assert 1 <= len(lines) <= 10


async def test_oom_image_reports_oomkilled(kube):
    await kube.patch(Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.3-oom"), namespace="dev")
    await _wait_complete(kube, "api-server", ns="dev")
    await asyncio.sleep(ROLLOUT)
    pod = (await _pods(kube, "api-server", ns="dev"))[0]
    status = pod.status.containerStatuses[0]
    assert status.lastState.terminated.reason == "OOMKilled"
    assert status.lastState.terminated.exitCode == 137
    assert status.restartCount >= 1
    previous = [line async for line in kube.log(pod.metadata.name, namespace="dev", tail_lines=1)]
    assert len(previous) == 1


async def test_pod_logs_tail_and_container(kube):
    pod = (await _pods(kube, "web", ns="staging"))[0]
    lines = [line async for line in kube.log(pod.metadata.name, namespace="staging")]
    assert any("registry.example.com/web:v1.8.0" in line for line in lines)
    tail = [
        line
        async for line in kube.log(
            pod.metadata.name, namespace="staging", tail_lines=2, container="web"
        )
    ]
    assert tail == lines[-2:]
    with pytest.raises(ApiError) as err:
        [line async for line in kube.log(pod.metadata.name, namespace="staging", container="nope")]
    assert err.value.status.code == 400


async def test_created_deployment_rolls_out_revision_one(kube):
    body = {
        "metadata": {"name": "worker", "labels": {"app": "worker"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "worker"}},
            "template": {
                "metadata": {"labels": {"app": "worker"}},
                "spec": {"containers": [{"name": "worker", "image": "busybox:1.36"}]},
            },
        },
    }
    created = await kube.create(Deployment.from_dict(body), namespace="dev")
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"  # defaulted
    dep = await _wait_complete(kube, "worker", ns="dev")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert len(await _pods(kube, "worker", ns="dev")) == 2


async def test_delete_deployment_removes_replicasets_and_pods(kube):
    await kube.delete(Deployment, "payment-service", namespace=NS)
    with pytest.raises(ApiError):
        await kube.get(Deployment, "payment-service", namespace=NS)
    assert await _replicasets(kube, "payment-service") == []
    assert await _pods(kube, "payment-service") == []


async def test_namespace_lifecycle(kube):
    created = await kube.create(Namespace.from_dict({"metadata": {"name": "feature-x"}}))
    assert created.status.phase == "Active"
    with pytest.raises(ApiError) as err:
        await kube.create(Namespace.from_dict({"metadata": {"name": "feature-x"}}))
    assert err.value.status.code == 409
    names = {ns.metadata.name async for ns in kube.list(Namespace)}
    assert {"dev", "staging", "production", "feature-x"} <= names
    await kube.delete(Namespace, "dev")
    with pytest.raises(ApiError):
        await kube.get(Namespace, "dev")
    everywhere = [d async for d in kube.list(Deployment, namespace="*")]
    assert {d.metadata.namespace for d in everywhere} == {"staging", "production"}


async def test_unsupported_field_selector_is_400(kube):
    with pytest.raises(ApiError) as err:
        [p async for p in kube.list(Pod, namespace=NS, fields={"spec.image": "x"})]
    assert err.value.status.code == 400


# ---------------------------------------------------------------------------- running


async def test_starts_inside_a_running_event_loop():
    srv = KubeApiServer(rollout_seconds=ROLLOUT)
    url = srv.start()
    try:
        client = _client(url)
        dep = await client.get(Deployment, "web", namespace="dev")
        assert dep.metadata.name == "web"
        await client.close()
    finally:
        srv.stop()
    assert srv.url is None


async def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "cluster.json"
    with KubeApiServer(state, rollout_seconds=ROLLOUT) as first:
        client = _client(first.url)
        await client.patch(Deployment, "api-server", _image_patch(f"{IMAGE}:v1.2.3"), namespace=NS)
        await _wait_complete(client, "api-server")
        await client.create(Namespace.from_dict({"metadata": {"name": "feature-x"}}))
        await client.close()
        snapshot = first.snapshot()
    assert state.exists()
    assert not list(tmp_path.glob(".*.tmp"))

    with KubeApiServer(state, rollout_seconds=ROLLOUT) as second:
        assert second.snapshot() == snapshot
        client = _client(second.url)
        dep = await client.get(Deployment, "api-server", namespace=NS)
        assert dep.spec.template.spec.containers[0].image == f"{IMAGE}:v1.2.3"
        assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
        await client.get(Namespace, "feature-x")
        updated = await client.patch(Deployment, "web", {"spec": {"replicas": 2}}, namespace=NS)
        assert int(updated.metadata.resourceVersion) > int(
            snapshot[NS]["api-server"]["resourceVersion"]
        )
        await client.close()


def test_unseeded_server_is_empty():
    srv = KubeApiServer(seed=False)
    assert srv.snapshot() == {}


async def test_two_servers_on_one_state_file_never_lose_a_write(tmp_path):
    """A CLI `run` and a later `approve` each serve the same state file: the write of
    one must be seen by the other, and a read in the other must not overwrite it."""
    state = tmp_path / "cluster.json"
    with KubeApiServer(state, rollout_seconds=0.05) as a, KubeApiServer(state) as b:
        ka, kb = _client(a.url), _client(b.url)
        await kb.get(Deployment, "api-server", namespace="production")  # b has read once
        await ka.patch(
            Deployment,
            "api-server",
            _image_patch("registry.example.com/x:v9"),
            namespace="production",
        )
        seen = await kb.get(Deployment, "api-server", namespace="production")
        assert seen.spec.template.spec.containers[0].image == "registry.example.com/x:v9"
        await asyncio.sleep(0.1)
        b.snapshot()  # b reconciles and saves
        assert a.snapshot()["production"]["api-server"]["image"] == "registry.example.com/x:v9"
        await ka.close()
        await kb.close()
