"""Canonical environment names and the aliases people type for them."""

from __future__ import annotations

__all__ = ["CANONICAL_ENVIRONMENTS", "ENVIRONMENT_ALIASES", "canonical_environment"]

CANONICAL_ENVIRONMENTS = ("production", "staging", "dev")

ENVIRONMENT_ALIASES: dict[str, str] = {
    "production": "production",
    "prod": "production",
    "prd": "production",
    "live": "production",
    "prod-1": "production",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "preprod": "staging",
    "pre-prod": "staging",
    "uat": "staging",
    "dev": "dev",
    "development": "dev",
    "develop": "dev",
    "devel": "dev",
    "sandbox": "dev",
}


def canonical_environment(name: str | None) -> str | None:
    """Map an alias (any case) to production/staging/dev; None when unknown."""
    if not name:
        return None
    return ENVIRONMENT_ALIASES.get(name.strip().lower())
