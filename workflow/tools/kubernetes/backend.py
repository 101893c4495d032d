"""KubernetesBackend: the client, its configuration and the parts it is made of."""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError

from workflow.tools.kubernetes.applying import _Applying
from workflow.tools.kubernetes.errors import KubernetesError
from workflow.tools.kubernetes.planning import _Planning


class KubernetesBackend(_Applying, _Planning):
    """Reads, plans and applies Deployment/Namespace changes through lightkube."""

    backend_name = "kubernetes"

    def __init__(
        self,
        client: AsyncClient,
        *,
        rollout_timeout: float = 120,
        poll_interval: float = 1.0,
        cluster_label: str = "kubernetes",
    ):
        self.client = client
        self.rollout_timeout = rollout_timeout
        self.poll_interval = poll_interval
        self.cluster_label = cluster_label

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> KubernetesBackend:
        """A backend for an API server reachable at `url` without credentials (the sandbox)."""
        config = KubeConfig.from_server(url)
        # lightkube's from_server() has no user entry and its client asserts one exists;
        # an empty user means "no credentials".
        if not config.users:
            config = KubeConfig.from_one(cluster=Cluster(server=url), user=User())
        kw.setdefault("cluster_label", "sandbox")
        return cls(AsyncClient(config, field_manager="devops-bot"), **kw)

    @classmethod
    def from_environment(cls, **kw: Any) -> KubernetesBackend:
        """A backend from in-cluster service-account config or the KUBECONFIG file."""
        try:
            config = KubeConfig.from_env()
            single = config.get()
            client = AsyncClient(config, field_manager="devops-bot")
        except ConfigError as exc:
            if str(exc).startswith("Configuration file"):
                raise KubernetesError(
                    "no Kubernetes configuration: set KUBECONFIG or run in-cluster"
                ) from None
            raise KubernetesError(f"invalid Kubernetes configuration: {exc}") from None
        except Exception as exc:
            # Parser messages can quote the file, credentials included: name the type only.
            raise KubernetesError(
                f"invalid Kubernetes configuration ({type(exc).__name__}); check KUBECONFIG"
            ) from None
        label = "in-cluster" if config.fname is None else single.context_name
        kw.setdefault("cluster_label", label)
        return cls(client, **kw)

    async def aclose(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> KubernetesBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
