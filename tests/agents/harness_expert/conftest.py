"""Shared fixtures: catalog entries and Harness's official v0 pipeline schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflow.catalog import ServiceEntry

SCHEMA = Path(__file__).resolve().parents[4] / "shared" / "schemas" / "harness" / "pipeline.v0.json"

# A service whose catalog entry names every Harness ref (as the sandbox's payment-service).
FULL = ServiceEntry.model_validate(
    {
        "name": "payment-service",
        "aliases": ["payments"],
        "repository": "acme/payment-service",
        "image": "registry.example.com/payment-service",
        "language": "java",
        "harness_pipeline": "payment_service_deploy",
        "harness": {
            "connector": "github_acme",
            "registry_connector": "registry_example",
            "service": "payment_service",
            "approvers": ["sre_leads"],
            "environments": {
                "dev": {"environment": "dev", "infrastructure": "dev_k8s"},
                "staging": {"environment": "staging", "infrastructure": "staging_k8s"},
                "production": {"environment": "payments_live", "infrastructure": "live_k8s"},
            },
        },
    }
)
# A service the catalog knows, without Harness settings.
PARTIAL = ServiceEntry.model_validate(
    {
        "name": "web",
        "repository": "https://github.com/acme/web.git",
        "image": "registry.example.com/web",
        "language": "typescript",
        "namespaces": {"staging": "web-staging", "production": "web"},
    }
)


def schema_messages(validator: Any, data: Any) -> list[str]:
    """Each schema error as `path: message`, down to the deepest cause inside oneOf."""

    def deepest(error: Any) -> Any:
        while error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        return error

    out = []
    for error in validator.iter_errors(data):
        cause = deepest(error)
        path = "$." + ".".join(str(p) for p in cause.absolute_path)
        out.append(f"{path}: {cause.message[:200]}")
    return out


@pytest.fixture(scope="module")
def pipeline_schema() -> Any:
    """A Draft-7 validator of Harness's pipeline.v0.json, built once per test module."""
    if not SCHEMA.is_file():
        pytest.skip(f"Harness's pipeline schema {SCHEMA} is not present on this machine")
    import jsonschema

    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture(scope="module")
def assert_schema_valid(pipeline_schema: Any) -> Any:
    def check(yaml_text: str) -> None:
        errors = schema_messages(pipeline_schema, yaml.safe_load(yaml_text))
        assert not errors, errors

    return check


@pytest.fixture(scope="module")
def official_problems(pipeline_schema: Any) -> Any:
    """The sandbox Harness's validate hook for tests: Harness's official schema, then the
    product's rules (as (fqn, message) pairs, the shape of Harness's schemaErrors)."""
    from workflow.agents.harness_expert.rules import check_pipeline

    def problems(text: str) -> list[tuple[str, str]]:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return [("$", f"not YAML: {exc}")]
        found = [tuple(m.split(": ", 1)) for m in schema_messages(pipeline_schema, doc)]
        return found or [(p.fqn, p.message) for p in check_pipeline(text)]

    return problems
