"""The API test run's bounds, from the environment the edge passes (`API_TESTS_*`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workflow.agents.spec import BackendContext, Connected

__all__ = ["BACKEND", "ApiTestSettings", "connect"]

BACKEND = "api_tests"


class ApiTestSettings(BaseModel):
    """max_examples  generated requests per operation (API_TESTS_MAX_EXAMPLES)
    time_budget_s    the whole run's bound in seconds (API_TESTS_TIME_BUDGET_S)
    request_timeout_s one request's bound (API_TESTS_REQUEST_TIMEOUT_S)
    seed             a fixed seed for every run (API_TESTS_SEED); none: a new one per run,
                     printed with its answer"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_examples: int = Field(25, ge=1, le=1000)
    time_budget_s: float = Field(90.0, gt=0, le=3600)
    request_timeout_s: float = Field(5.0, gt=0, le=120)
    seed: int | None = Field(None, ge=0)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ApiTestSettings | str:
        raw = {
            field: environ[f"API_TESTS_{field.upper()}"]
            for field in cls.model_fields
            if environ.get(f"API_TESTS_{field.upper()}")
        }
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            return f"API_TESTS_{str(first['loc'][0]).upper()}: {first['msg']}"


@contextlib.asynccontextmanager
async def connect(context: BackendContext) -> AsyncIterator[Connected]:
    settings = ApiTestSettings.from_environ(context.environ)
    if isinstance(settings, str):
        yield Connected(unavailable={BACKEND: f"API tests are misconfigured: {settings}"})
        return
    yield Connected(backends={BACKEND: settings})
