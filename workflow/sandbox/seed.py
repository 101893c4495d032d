"""The objects a fresh sandbox cluster starts with.

Three namespaces with the same four services, fully rolled out. `history` lists the images
of earlier revisions (oldest first) so `rollout undo` has somewhere to go back to.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REGISTRY", "SEED_NAMESPACES", "seed_objects"]

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
    """Namespaces and Deployments (with image history) for a fresh sandbox cluster."""
    deployments = []
    for namespace in SEED_NAMESPACES:
        for name in _SERVICES:
            deployments.append(
                {
                    "manifest": _deployment(namespace, name),
                    "history": list(_HISTORY.get((namespace, name), [])),
                }
            )
    return {
        "namespaces": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in SEED_NAMESPACES
        ],
        "deployments": deployments,
    }
