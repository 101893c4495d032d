"""Every environment variable the product reads, in one place (pydantic-settings).

Read once at the edge (CLI entry point, server start) and passed down by constructors.
Secrets are `SecretStr`, so they never show up in a repr or a log line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    redis_url: str | None = None
    devops_bot_data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("devops-bot"))
    )
    devops_bot_policy: str | None = None
    devops_bot_catalog: str | None = None
    devops_bot_sandbox: bool = False
    kubeconfig: str | None = None
    kubernetes_service_host: str | None = None  # set in a pod: the bot runs in-cluster
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    loki_url: str | None = None
    # Label name of the service in Loki streams (e.g. app, service, app_kubernetes_io_name).
    loki_service_label: str = "app"
    # Metric/alert label names, "field=value,...", e.g. "service_label=app" (MetricLabels).
    prometheus_labels: str | None = None
    devops_bot_runbooks: str | None = None  # folder of Markdown runbooks to search
    # Seconds between rounds of the expiry sweeper (expired approvals closed, runs left by a
    # replica that died reported).
    devops_bot_sweep_interval: float = Field(default=30.0, gt=0)
    # Graph runs one bot process drives at once; later requests are acked and wait, "queued".
    devops_bot_max_runs: int = Field(default=8, ge=1)
    # SIGTERM: seconds the runs in flight get to finish before they are handed over to
    # another replica (keep it under the pod's terminationGracePeriodSeconds).
    devops_bot_drain_timeout: float = Field(default=30.0, ge=0)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    port: int = 3000
    log_level: str = "WARNING"
    log_format: Literal["json", "console"] = "console"

    @field_validator(
        "redis_url",
        "devops_bot_policy",
        "devops_bot_catalog",
        "openai_api_key",
        "openai_base_url",
        "prometheus_url",
        "alertmanager_url",
        "loki_url",
        "prometheus_labels",
        "devops_bot_runbooks",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "devops_bot_sweep_interval",
        "devops_bot_max_runs",
        "devops_bot_drain_timeout",
        mode="before",
    )
    @classmethod
    def _blank_is_default(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[info.field_name].default
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    def service_options(self, *, sandbox: bool | None = None) -> Any:
        """The `workflow.assembly.ServiceOptions` these settings describe."""
        from workflow.assembly import ServiceOptions
        from workflow.tools.errors import InvalidRequestError
        from workflow.tools.prometheus import MetricLabels

        try:
            labels = MetricLabels.parse(self.prometheus_labels)
        except InvalidRequestError as exc:
            raise SettingsError(f"PROMETHEUS_LABELS: {exc}") from None
        return ServiceOptions(
            data_dir=self.devops_bot_data_dir,
            redis_url=self.redis_url,
            policy_path=self.devops_bot_policy,
            catalog_path=self.devops_bot_catalog,
            sandbox=self.devops_bot_sandbox if sandbox is None else sandbox,
            prometheus_url=self.prometheus_url,
            alertmanager_url=self.alertmanager_url,
            loki_url=self.loki_url,
            loki_service_label=self.loki_service_label,
            labels=labels,
            runbooks_dir=self.devops_bot_runbooks,
            llm=self.llm(timeout=30),  # incident summaries: a longer answer than a request's
            # Agents read their own settings (e.g. HARNESS_*) from it: see AgentSpec.connect.
            environ=dict(os.environ),
        )

    def llm(self, *, timeout: float = 10) -> Any:
        """The OpenAI chat model (OPENAI_API_KEY, OPENAI_BASE_URL), or None without a key (a
        blank one is none): requests are then classified by the rules alone, and incidents
        summarised without it.

        The one place the model is built: the app and the CLI classify requests with it
        (default timeout), `service_options` gives it to the graph for incident summaries.
        """
        if self.openai_api_key is None:
            return None
        from workflow.classify.llm import build_openai_model

        return build_openai_model(
            self.openai_api_key.get_secret_value(), base_url=self.openai_base_url, timeout=timeout
        )

    def require(self, name: str) -> str:
        """The value of a setting a command cannot do without, or one clear error."""
        value = getattr(self, name.lower())
        if value is None or value == "":
            raise SettingsError(f"{name.upper()} is not set; this command needs it")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def load_settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"{name}: {first['msg']}") from None
