"""plan_first_deploy / apply on the sandbox Kubernetes API: the objects are dry-run, then
created; one created meanwhile is fine when it matches the plan, refused when it does not."""

from __future__ import annotations

import pytest
from lightkube.resources.apps_v1 import Deployment

from tests.deploy.test_rbac import FIRST_DEPLOY
from workflow.sandbox.kube_api import KubeApiServer
from workflow.tools.kubernetes import KubernetesBackend, KubernetesError
from workflow.tools.kubernetes.errors import StalePlanError


@pytest.fixture
def server():
    with KubeApiServer(rollout_seconds=0.1) as srv:
        yield srv


@pytest.fixture
async def backend(server):
    b = KubernetesBackend.from_url(server.url, poll_interval=0.02, rollout_timeout=5)
    yield b
    await b.aclose()


async def plan(backend, image="v0.1.0", manifests=FIRST_DEPLOY):
    return await backend.plan_first_deploy(
        namespace="staging",
        name="invoice-api",
        environment="staging",
        image=image,
        manifests=manifests,
    )


async def test_plan_is_a_dry_run_with_the_image_then_apply_creates_and_rolls_out(backend, server):
    p = await plan(backend)
    assert p.action == "deploy" and p.risk == ["creates"]
    assert [f.path for f in p.files] == ["k8s/deployment.yaml", "k8s/service.yaml"]
    assert "registry.example.com/invoice-api:v0.1.0" in p.files[0].content
    assert "namespace: staging" in p.files[1].content
    with pytest.raises(KubernetesError, match="not found"):
        await backend.status("staging", "invoice-api")  # the dry-run kept nothing
    done = await backend.apply(p, wait=False)
    assert done["created"] == ["deployment/invoice-api", "service/invoice-api"]
    followed = await backend.follow_rollout("staging", "invoice-api", done["generation"])
    assert followed["rollout"] == "complete"
    image = "registry.example.com/invoice-api:v0.1.0"
    assert followed["status"]["images"] == {"invoice-api": image}
    again = await backend.apply(p, wait=False)  # applied twice: found done, not an error
    assert again["created"] == []


async def test_an_object_created_meanwhile_that_differs_is_a_clear_failure(backend):
    first, other = await plan(backend), await plan(backend, image="v0.2.0")
    await backend.apply(other, wait=False)
    with pytest.raises(StalePlanError, match="created meanwhile and differs"):
        await backend.apply(first, wait=False)
    dep = await backend.client.get(Deployment, "invoice-api", namespace="staging")
    assert dep.spec.template.spec.containers[0].image.endswith(":v0.2.0")


async def test_manifests_other_than_deployment_and_service_are_refused(backend):
    bad = {**FIRST_DEPLOY, "k8s/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n"}
    with pytest.raises(KubernetesError, match="only Deployment and Service"):
        await plan(backend, manifests=bad)
    with pytest.raises(KubernetesError, match="exactly one Deployment named 'invoice-api'"):
        await plan(backend, manifests={"k8s/service.yaml": FIRST_DEPLOY["k8s/service.yaml"]})
