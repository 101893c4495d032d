"""`devops-bot sandbox reset`: every piece of the sandbox's state back to where it started,
also for a bot process that is serving the sandbox at the time."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.cli_helpers import Cli, no_traceback
from workflow.assembly import ServiceOptions, open_service
from workflow.sandbox.alertmanager_api import SandboxAlertmanager
from workflow.sandbox.files import reset_sandbox
from workflow.sandbox.kube_api import KubeApiServer
from workflow.tools.alertmanager import AlertmanagerClient


async def test_reset_restores_the_seed_cluster_and_drops_every_silence(sqlite_cli: Cli):
    cli = sqlite_cli
    seed = cli.cluster()  # the first use makes the seeded cluster
    data = cli.data_dir
    # A bot serving the sandbox from this data directory, as `run --sandbox` does.
    with (
        KubeApiServer(data / "sandbox-cluster.json") as kube,
        SandboxAlertmanager(kube, state_file=data / "sandbox-alertmanager.json") as am_server,
    ):
        async with httpx.AsyncClient(base_url=kube.url) as http:
            patched = await http.patch(
                "/apis/apps/v1/namespaces/dev/deployments/web",
                content=json.dumps(
                    [
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/image",
                            "value": "registry.example.com/web:v9.9.9",
                        }
                    ]
                ),
                headers={"Content-Type": "application/json-patch+json"},
            )
            assert patched.status_code == 200, patched.text
        async with AlertmanagerClient(am_server.url, backoff=0.01) as am:
            await am.create_silence(
                matchers={"service": "checkout"},
                duration_minutes=120,
                comment="drill",
                created_by="U1",
            )
            assert len(await am.silences()) == 1
            assert cli.cluster()[("dev", "web")].image.endswith(":v9.9.9")

            res = cli("sandbox", "reset")
            no_traceback(res)
            assert res.code == 0, res
            # The serving process sees the reset at its next request.
            assert await am.silences() == [], "a silence survived the reset"
            assert kube.snapshot()["dev"]["web"]["image"] == seed[("dev", "web")].image
            out = res.out.lower()
            assert "cluster" in out and "silence" in out, f"say what was reset\n{res}"
    # And so does the next process to open the sandbox.
    assert cli.cluster() == seed
    with (
        KubeApiServer(data / "sandbox-cluster.json") as kube,
        SandboxAlertmanager(kube, state_file=data / "sandbox-alertmanager.json") as am_server,
    ):
        async with AlertmanagerClient(am_server.url, backoff=0.01) as am:
            assert await am.silences() == []


def test_reset_replaces_a_state_file_it_cannot_read(sqlite_cli: Cli):
    cli = sqlite_cli
    seed = cli.cluster()
    (cli.data_dir / "sandbox-cluster.json").write_text("{not json")
    (cli.data_dir / "sandbox-alertmanager.json").write_text("[]")
    res = cli("sandbox", "reset")
    no_traceback(res)
    assert res.code == 0, res
    assert cli.cluster() == seed
    with KubeApiServer(cli.data_dir / "sandbox-cluster.json") as kube:
        SandboxAlertmanager(kube, state_file=cli.data_dir / "sandbox-alertmanager.json")


def test_reset_of_a_sandbox_never_used_makes_the_seed_cluster(sqlite_cli: Cli):
    res = sqlite_cli("sandbox", "reset")
    assert res.code == 0, res
    assert sqlite_cli.cluster()[("production", "api-server")].replicas >= 1


async def test_reset_covers_every_file_the_sandbox_adds_to_the_data_directory(tmp_path):
    """What a sandbox service writes beyond what the same service without the sandbox writes
    (checkpoints, approvals, audit, runbook index) is exactly what `reset_sandbox` resets."""

    async def files_after_use(data_dir: Path, *, sandbox: bool) -> set[str]:
        async with open_service(ServiceOptions(data_dir=data_dir, sandbox=sandbox)) as handle:
            if sandbox:
                await handle.service.deps.alertmanager.create_silence(
                    matchers={"service": "checkout"},
                    duration_minutes=5,
                    comment="x",
                    created_by="U1",
                )
                harness = handle.service.deps.backend("harness")
                await harness.create_pipeline(
                    (await harness.get_pipeline("payment_service_deploy"))
                    .yaml.replace("payment_service_deploy", "reset_probe")
                    .replace("name: payment-service deploy", "name: reset probe")
                )
        return {p.name for p in data_dir.iterdir() if not p.name.endswith(".lock")}

    plain = await files_after_use(tmp_path / "plain", sandbox=False)
    sandboxed = await files_after_use(tmp_path / "sandbox", sandbox=True)
    reset = {item.path.name for item in await reset_sandbox(tmp_path / "sandbox")}
    assert sandboxed - plain == reset

    # The sandbox's runbooks are gone from the runbook index a bot without the sandbox uses.
    team = tmp_path / "team-runbooks"
    team.mkdir()
    (team / "deploys.md").write_text("# Deploys\n\n## Rollback\n\nRoll back a crashloop.\n")
    options = ServiceOptions(
        data_dir=tmp_path / "sandbox", kubernetes=False, runbooks_dir=str(team)
    )
    async with open_service(options) as handle:
        found = await handle.service.deps.docs.search("crashloop rollback")
    assert [Path(hit["path_or_url"]).name for hit in found] == ["deploys.md"]
