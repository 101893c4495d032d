"""The objects a fresh sandbox cluster starts with.

Three namespaces with the same four services, fully rolled out an hour before seeding.
`history` lists the images of earlier revisions (oldest first) so `rollout undo` has
somewhere to go back to.

One thing is wrong, so an investigation has something to find: about twelve minutes before
the cluster was seeded, `checkout` in `production` was rolled out from v2.4.0 to v2.4.1, a
known-bad image (`KNOWN_BAD_IMAGES`): its pods run and are Ready, but time out calling
payment-service, so its latency and error ratio are up. Rolling it back restores v2.4.0.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KNOWN_BAD_IMAGES", "RECENT_ROLLOUTS", "REGISTRY", "SEED_NAMESPACES", "seed_objects"]

REGISTRY = "registry.example.com"
SEED_NAMESPACES = ("dev", "staging", "production")

# name -> (tag, container port, {namespace: replicas}, extra env)
_SERVICES: dict[str, tuple[str, int, dict[str, int], dict[str, str]]] = {
    "api-server": (
        "v1.2.2",
        8080,
        {"production": 3, "staging": 2, "dev": 1},
        {"HTTP_PORT": "8080"},
    ),
    "checkout": (
        "v2.4.0",
        8080,
        {"production": 3, "staging": 2, "dev": 1},
        {"PAYMENT_URL": "http://payment-service:8080"},
    ),
    "payment-service": (
        "v3.1.5",
        8080,
        {"production": 2, "staging": 1, "dev": 1},
        {"PROVIDER_TIMEOUT_MS": "3000"},
    ),
    "web": (
        "v1.8.0",
        80,
        {"production": 4, "staging": 2, "dev": 1},
        {"API_URL": "http://api-server:8080"},
    ),
}

# Earlier images per (namespace, deployment), oldest first.
_HISTORY: dict[tuple[str, str], list[str]] = {
    ("production", "api-server"): [f"{REGISTRY}/api-server:v1.2.1"],
}

# Images the sandbox knows to be bad, by full reference, and how they misbehave (the fault
# kinds of the sandbox cluster; an image tag containing the kind's name does the same).
KNOWN_BAD_IMAGES: dict[str, str] = {
    f"{REGISTRY}/checkout:v2.4.1": "slow",
}

# Rollouts that happened shortly before the cluster was seeded (the rest converged an hour
# earlier): (namespace, deployment) -> (new tag, seconds before seeding).
RECENT_ROLLOUTS: dict[tuple[str, str], tuple[str, int]] = {
    ("production", "checkout"): ("v2.4.1", 12 * 60),
}


def _deployment(namespace: str, name: str) -> dict[str, Any]:
    tag, port, replicas, env = _SERVICES[name]
    labels = {"app": name}
    container = {
        "name": name,
        "image": f"{REGISTRY}/{name}:{tag}",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "ENVIRONMENT", "value": namespace}]
        + [{"name": k, "value": v} for k, v in env.items()],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": port},
            "periodSeconds": 5,
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, "app.kubernetes.io/part-of": "shop"},
        },
        "spec": {
            "replicas": replicas[namespace],
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [container]},
            },
        },
    }


def seed_objects() -> dict[str, Any]:
    """Namespaces and Deployments (with image history) for a fresh sandbox cluster.

    Each deployment entry has its final `manifest`, the `history` of earlier images (oldest
    first) and, for a recent rollout, `rolled_out_seconds_ago`: when the change from the
    last history image to the manifest's image happened, in seconds before seeding.
    """
    deployments = []
    for namespace in SEED_NAMESPACES:
        for name in _SERVICES:
            manifest = _deployment(namespace, name)
            entry: dict[str, Any] = {
                "manifest": manifest,
                "history": list(_HISTORY.get((namespace, name), [])),
            }
            recent = RECENT_ROLLOUTS.get((namespace, name))
            if recent is not None:
                tag, seconds_ago = recent
                container = manifest["spec"]["template"]["spec"]["containers"][0]
                entry["history"].append(container["image"])
                container["image"] = f"{REGISTRY}/{name}:{tag}"
                entry["rolled_out_seconds_ago"] = seconds_ago
            deployments.append(entry)
    return {
        "namespaces": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in SEED_NAMESPACES
        ],
        "deployments": deployments,
    }
