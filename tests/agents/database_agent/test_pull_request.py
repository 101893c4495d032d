"""`migrations: pull_request`: the plan is checked as for `apply` (squawk, rehearsal on the
real PostgreSQL, schema diff), the approved plan commits the migration file to the service's
repository (real git: the sandbox forge's bare repositories, or smart HTTP through
`git http-backend` behind a local GitHub REST server) and opens ONE pull request however
often it is clicked; the database is left as it was; the ledger says `pull_request`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.agents.database_agent.conftest import PROD_VAR, STAGING_VAR
from tests.agents.database_agent.helpers import apply, plan_for, query, snapshot
from tests.agents.scaffold_agent.conftest import TOKEN
from tests.agents.scaffold_agent.forge_server import Forge, serve
from workflow.agents.base import Refusal
from workflow.agents.database_agent.client import Databases, DatabaseSettings
from workflow.agents.database_agent.pull_request import detect_layout, next_number
from workflow.approval.policy import ApprovalPolicy
from workflow.catalog import ServiceCatalog
from workflow.deps import WorkflowDeps
from workflow.tools.changes.github import GitHubForge
from workflow.tools.changes.sandbox import SandboxForge

ASK = "add a nullable memo text column to invoices in billing staging"


def pr_deps(url: str, forge_client: object, **database: object) -> WorkflowDeps:
    staging = {"url_env": STAGING_VAR, "migrations": "pull_request", **database}
    catalog = ServiceCatalog.from_dict(
        {
            "services": {
                "billing": {
                    "repository": "acme/billing",
                    "databases": {"production": {"url_env": PROD_VAR}, "staging": staging},
                }
            }
        }
    )
    deps = WorkflowDeps.embedded()
    deps.catalog = catalog
    settings = DatabaseSettings(lock_timeout_s=0.5, retry_pause_s=0.05)
    databases = Databases(catalog, {PROD_VAR: url, STAGING_VAR: url}, settings)
    deps.extras = {"postgres": databases, "forge": forge_client}
    return deps


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[Forge]:
    """A local GitHub REST server with git over smart HTTP (`git http-backend`)."""
    f = Forge(tmp_path / "forge", token=TOKEN)
    f.root.mkdir()
    server, _ = serve(f)
    yield f
    server.shutdown()
    server.server_close()


def schema_only(url: str) -> list[object]:
    """The snapshot without the bot's own ledger table (devops_bot.migrations)."""
    return [r for r in snapshot(url) if not str(r[0]).startswith("migrations")]


def ledger(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT outcome, detail, title, requester FROM devops_bot.migrations"
        ).fetchall()


async def test_a_numbered_sql_file_one_pull_request_after_two_clicks_database_untouched(
    database: str, tmp_path: Path
) -> None:
    sandbox = SandboxForge(tmp_path)
    deps = pr_deps(database, sandbox)
    before = schema_only(database)
    answer = await plan_for(deps, ASK, environment="staging")
    assert answer.status == "planned", answer.summary
    plan = answer.plan
    assert plan["action"] == "open_pull_request" and plan["backend"] == "postgres"
    assert "destructive" not in plan["risk"]
    # the sandbox repository starts with migrations/0001_initial_schema.sql
    path = "migrations/0002_add_column_memo_text_to_invoices.sql"
    assert plan["files"][0]["path"] == path
    assert "Pull request to acme/billing: " + path in plan["preview"]
    assert "Rehearsal: ran on the billing staging database" in plan["preview"]
    assert "memo" in plan["preview"]

    first = await apply(deps, plan)
    again = await apply(deps, plan)  # a retried click (or a resume after a crash)
    pulls = sandbox.pulls()
    assert len(pulls) == 1, pulls
    assert first.result["url"] == again.result["url"] == "sandbox://acme/billing/pull/1"
    assert first.result["created"] == ["commit", "pull request"]
    assert again.result["created"] == []
    assert "opened pull request #1" in first.said and "found the pull request #1" in again.said
    assert "nothing was run on the billing staging database" in first.said
    branch = first.result["branch"]
    assert branch == f"devops-bot/billing-migration-{plan['plan_hash'][7:19]}"
    content = sandbox.read_file("acme/billing", path, ref=branch)
    assert content is not None and "ALTER TABLE invoices ADD COLUMN memo text;" in content
    assert sandbox.read_file("acme/billing", path) is None, "main is untouched"
    body = pulls[0]["body"]
    assert "Rehearsal: ran on the billing staging database" in body
    assert "Lint (squawk):" in body and "Locks, from the rehearsal" in body

    assert schema_only(database) == before, "nothing ran on the database"
    rows = ledger(database)
    assert rows == [("pull_request", first.result["url"], "add column memo text to invoices", None)]
    changes = await query(deps, "what changed in the billing staging schema this week", "staging")
    assert changes.output["changes"] == 1
    table = changes.parts[0]
    assert "pull_request" in str(table) and "sandbox://acme/billing/pull/1" in str(table)

    # numbered after main's highest: the pull request is not merged yet
    other = await plan_for(
        deps, "add a nullable note text column to payments in billing staging", "staging"
    )
    assert other.plan["files"][0]["path"].startswith("migrations/0002_")


async def test_an_alembic_repository_gets_a_revision_chained_to_its_head_over_https(
    database: str, forge: Forge
) -> None:
    forge.make_repo(
        "acme",
        "billing",
        {
            "README.md": "# billing\n",
            "alembic/versions/1a_init.py": 'revision = "1a"\ndown_revision = None\n',
            "alembic/versions/2b_accounts.py": 'revision: str = "2b"\ndown_revision = "1a"\n',
        },
    )
    client = GitHubForge(api_url=forge.url, org="acme", token=TOKEN)
    deps = pr_deps(database, client)
    before = schema_only(database)
    answer = await plan_for(deps, ASK, environment="staging")
    plan = answer.plan
    (file,) = plan["files"]
    assert file["path"].startswith("alembic/versions/") and file["path"].endswith(
        "_add_column_memo_text_to_invoices.py"
    )
    text = file["content"]
    compile(text, file["path"], "exec")  # a valid Python module
    assert "down_revision = '2b'" in text and "from alembic import op" in text
    assert "op.execute('ALTER TABLE invoices ADD COLUMN memo text')" in text
    assert "def downgrade() -> None:\n    op.execute('ALTER TABLE invoices DROP COLUMN memo')" in (
        text
    )
    first = await apply(deps, plan)
    again = await apply(deps, plan)
    await client.aclose()
    assert len(forge.pulls["acme/billing"]) == 1
    assert first.result["url"] == again.result["url"] == f"{forge.url}/acme/billing/pull/1"
    assert forge.show("acme", "billing", first.result["branch"], file["path"]) == text
    assert schema_only(database) == before
    assert [r[0] for r in ledger(database)] == ["pull_request"]


async def test_a_concurrent_index_in_alembic_runs_in_an_autocommit_block(
    database: str, tmp_path: Path
) -> None:
    sandbox = SandboxForge(tmp_path)
    deps = pr_deps(database, sandbox, migrations_path="alembic/versions")
    answer = await plan_for(
        deps, "add an index on payments(account_id) in billing staging", "staging"
    )
    text = answer.plan["files"][0]["content"]
    compile(text, "rev.py", "exec")
    assert "with op.get_context().autocommit_block():\n        op.execute('CREATE INDEX" in text
    assert "down_revision = None" in text and "DROP INDEX CONCURRENTLY IF EXISTS" in text


async def test_the_configured_folder_and_the_policy_for_a_destructive_change(
    database: str, tmp_path: Path
) -> None:
    sandbox = SandboxForge(tmp_path)
    deps = pr_deps(database, sandbox, migrations_path="db/sql/")
    answer = await plan_for(deps, "drop column status from invoices in billing staging", "staging")
    plan = answer.plan
    assert plan["files"][0]["path"] == "db/sql/0001_drop_column_status_from_invoices.sql"
    assert "a new folder" in plan["preview"]
    assert "devops_bot_backup" not in plan["preview"], "the bot copies nothing aside here"
    policy = ApprovalPolicy.builtin()
    assert "destructive" in plan["risk"]
    need = policy.needs_approval("open_pull_request", "staging", plan["risk"])
    assert need.required and not need.confirm
    add = await plan_for(deps, ASK, "staging")
    need = policy.needs_approval("open_pull_request", "staging", add.plan["risk"])
    assert need.confirm, "a non-destructive pull request is one click"


async def test_without_a_repository_it_says_so(database: str, tmp_path: Path) -> None:
    deps = pr_deps(database, SandboxForge(tmp_path))
    entry = deps.catalog.services["billing"].model_copy(update={"repository": None})
    deps.catalog = ServiceCatalog.from_dict({"services": {"billing": entry.to_dict()}})
    with pytest.raises(Refusal, match="names no `repository:` for billing"):
        await plan_for(deps, ASK, "staging")


def test_layouts_are_detected_and_numbers_follow_the_highest() -> None:
    files = {"db/migrations/012_b.sql": "", "db/migrations/3_a.sql": "", "src/app.py": ""}
    layout = detect_layout(files, None)
    assert (layout.folder, layout.alembic, layout.found) == ("db/migrations", False, True)
    assert next_number(layout.names) == "0013"
    assert next_number(["00041-x.sql"]) == "00042"
    assert detect_layout({"README.md": ""}, None).folder == "migrations"
    flask = {"migrations/versions/x.py": "revision = 'x'\ndown_revision = None\n"}
    layout = detect_layout(flask, None)
    assert (layout.folder, layout.alembic, layout.heads) == ("migrations/versions", True, ["x"])


async def test_resumed_after_a_crash_at_either_point_one_branch_one_pull_request(
    database: str, tmp_path: Path
) -> None:
    from workflow.tools.changes.git import GitRemote, push_files

    sandbox = SandboxForge(tmp_path)
    deps = pr_deps(database, sandbox)
    plan = (await plan_for(deps, ASK, environment="staging")).plan
    (file,) = plan["files"]
    # crash 1: the branch was pushed, the pull request never opened
    branch = f"devops-bot/billing-migration-{plan['plan_hash'][7:19]}"
    remote = GitRemote(str(sandbox.repo_path("acme", "billing")))
    pushed = push_files(
        remote, {file["path"]: file["content"]}, branch=branch, base="main", message="m"
    )
    first = await apply(deps, plan)
    assert first.result["commit"] == pushed.commit
    assert first.result["created"] == ["pull request"]
    # crash 2: the pull request was opened, the ledger row never written
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM devops_bot.migrations")
    again = await apply(deps, plan)
    assert again.result["created"] == [] and again.result["url"] == first.result["url"]
    assert len(sandbox.pulls()) == 1
    assert [r[:2] for r in ledger(database)] == [("pull_request", first.result["url"])]


async def test_a_schema_changed_since_the_plan_opens_no_pull_request(
    database: str, tmp_path: Path
) -> None:
    from workflow.agents.spec import ApplyError

    sandbox = SandboxForge(tmp_path)
    deps = pr_deps(database, sandbox)
    plan = (await plan_for(deps, ASK, environment="staging")).plan
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE invoices ADD COLUMN note text")
    with pytest.raises(ApplyError, match="changed since it was approved"):
        await apply(deps, plan)
    assert sandbox.pulls() == []


async def test_without_a_forge_the_plan_says_so_and_the_click_says_why(
    database: str,
) -> None:
    from workflow.agents.spec import BackendMissing

    deps = pr_deps(database, None)
    deps.extras.pop("forge")
    plan = (await plan_for(deps, ASK, environment="staging")).plan
    assert plan["files"][0]["path"] == "migrations/0001_add_column_memo_text_to_invoices.sql"
    assert "no forge is configured" in plan["preview"]
    with pytest.raises(BackendMissing):
        await apply(deps, plan)
