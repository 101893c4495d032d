"""Migrations that go through the service's repository (`migrations: pull_request`).

The plan is the same as for `apply` (linted, rehearsed on the real database and rolled
back, schema diff); what differs is the approved action: the migration file is committed to
the service's repository (catalog `repository:`) on a branch named after the plan hash, and
one pull request is opened for it (the change-request tool finds the branch and the pull
request again on a retried click or after a crash). Nothing runs on the database: the ledger
records the plan as `pull_request`, with the pull request's link.

Where the file goes: the database's `migrations_path` in the catalog, else the first folder
of a common layout the repository has (`alembic/versions/`, `migrations/versions/`,
`db/migrations/`, `migrations/`), else `migrations/`. An Alembic folder gets a revision file
(upgrade()/downgrade() through op.execute, chained to the current head); any other gets a
numbered `NNNN_<slug>.sql` after the highest number there.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from workflow.agents.database_agent.migrations import Migration, qident, sql_text
from workflow.tools.changes import ChangeError
from workflow.tools.changes.git import GitRemote, git, remote_heads

FORGE = "forge"  # the change-request backend (scaffold_agent's client connects it)

__all__ = [
    "LAYOUTS",
    "MODE",
    "RepoLayout",
    "alembic_file",
    "apply_pull_request",
    "down_sql",
    "migration_file",
    "read_layout",
    "seed_sandbox_repository",
]

# Folders a repository's migrations commonly live in, most specific first.
LAYOUTS = ("alembic/versions", "migrations/versions", "db/migrations", "migrations")
DEFAULT_FOLDER = "migrations"
MODE = "pull_request"  # the plan body's `mode`, and the ledger's outcome

_NUMBERED = re.compile(r"^(\d+)[_-]")
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.M)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


@dataclass
class RepoLayout:
    """What the repository's migrations folder holds (read from its base branch)."""

    folder: str
    alembic: bool
    names: list[str] = field(default_factory=list)  # file names directly in the folder
    heads: list[str] = field(default_factory=list)  # Alembic: revisions nothing revises
    found: bool = False  # the folder exists in the repository
    note: str = ""


def detect_layout(files: dict[str, str], configured: str | None) -> RepoLayout:
    """`files`: path -> text (text only for .py files in candidate folders)."""
    paths = list(files)
    if configured:
        folder = configured.strip("/")
    else:
        folder = next(
            (c for c in LAYOUTS if any(p.startswith(c + "/") for p in paths)), DEFAULT_FOLDER
        )
    inside = {p: t for p, t in files.items() if p.startswith(folder + "/")}
    names = sorted(PurePosixPath(p).name for p in inside if "/" not in p.removeprefix(folder + "/"))
    revisions: dict[str, list[str]] = {}
    for path, text in inside.items():
        if not path.endswith(".py"):
            continue
        rev = _REVISION.search(text or "")
        if rev:
            down = _DOWN.search(text or "")
            revisions[rev[1]] = _QUOTED.findall(down[1]) if down else []
    alembic = bool(revisions) or folder.endswith("versions")
    revised = {d for downs in revisions.values() for d in downs}
    heads = sorted(r for r in revisions if r not in revised)
    return RepoLayout(folder, alembic, names, heads, found=bool(inside))


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:50] or "migration"


def next_number(names: list[str]) -> str:
    numbers = [(m[1], int(m[1])) for n in names if (m := _NUMBERED.match(n))]
    if not numbers:
        return "0001"
    width = max(4, *(len(text) for text, _ in numbers))
    return str(max(n for _, n in numbers) + 1).zfill(width)


def down_sql(migration: Migration, context: dict[str, Any], schema: str) -> list[str] | None:
    """The statements that undo the migration, where that is certain; None otherwise."""
    table = str(context.get("table") or "")
    t = qident(table) if schema == "public" else f"{qident(schema)}.{qident(table)}"
    if migration.op == "add_column" and context.get("column"):
        return [f"ALTER TABLE {t} DROP COLUMN {qident(str(context['column']))}"]
    if migration.op == "create_table" and table:
        return [f"DROP TABLE {t}"]
    if migration.op == "add_index" and migration.steps and migration.steps[0].index:
        name = migration.steps[0].index
        q = qident(name) if schema == "public" else f"{qident(schema)}.{qident(name)}"
        return [f"DROP INDEX CONCURRENTLY IF EXISTS {q}"]
    return None


def _py_string(sql: str) -> str:
    text = sql.rstrip().rstrip(";")
    if '"""' in text or "\\" in text or text.endswith('"'):
        return repr(text)
    return '"""\n' + text + '\n"""' if "\n" in text else repr(text)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def alembic_file(
    migration: Migration, revision: str, heads: list[str], down: list[str] | None, note: str
) -> str:
    """An Alembic revision: upgrade() runs the planned statements through op.execute
    (CONCURRENTLY ones in an autocommit block, batched ones until no row changes)."""
    if not heads:
        down_revision = "None"
    elif len(heads) == 1:
        down_revision = repr(heads[0])
    else:
        down_revision = "(" + ", ".join(repr(h) for h in heads) + ")"
    body: list[str] = []
    uses_sa = False
    for step in migration.steps:
        literal = _py_string(step.sql)
        if step.concurrent:
            body.append("with op.get_context().autocommit_block():")
            body.append(_indent(f"op.execute({literal})", 4))
        elif step.batched:
            uses_sa = True
            body.append("# repeated in batches until no row changes")
            body.append(f"while op.get_bind().execute(sa.text({literal})).rowcount:")
            body.append("    pass")
        else:
            body.append(f"op.execute({literal})")
    if down:
        undo = []
        for sql in down:
            literal = _py_string(sql)
            if "CONCURRENTLY" in sql:
                undo += ["with op.get_context().autocommit_block():", f"    op.execute({literal})"]
            else:
                undo.append(f"op.execute({literal})")
    else:
        undo = [
            "raise NotImplementedError(",
            f"    {migration.op!r} is not reversed automatically: write the downgrade by hand",
            ")",
        ]
    imports = "from alembic import op\n" + ("import sqlalchemy as sa\n" if uses_sa else "")
    revises = ", ".join(heads) or "(none)"
    return (
        f'"""{migration.title}\n\nRevision ID: {revision}\nRevises: {revises}\n\n{note}\n"""\n\n'
        f"{imports}\n"
        f"revision = {revision!r}\n"
        f"down_revision = {down_revision}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        f"{_indent(chr(10).join(body), 4)}\n\n\n"
        "def downgrade() -> None:\n"
        f"{_indent(chr(10).join(undo), 4)}\n"
    )


def migration_file(
    layout: RepoLayout, migration: Migration, down: list[str] | None, note: str
) -> tuple[str, str]:
    """(path in the repository, content) of the migration file."""
    sql = sql_text(migration)
    slug = _slug(migration.title)
    if layout.alembic:
        revision = hashlib.sha256(f"{layout.folder}\n{sql}".encode()).hexdigest()[:12]
        path = f"{layout.folder}/{revision}_{slug}.py"
        return path, alembic_file(migration, revision, layout.heads, down, note)
    path = f"{layout.folder}/{next_number(layout.names)}_{slug}.sql"
    return path, f"-- {note}\n{sql}"


# ------------------------------------------------------------------ reading the repository


def _read_tree(remote: GitRemote, base: str) -> dict[str, str] | None:
    """The base branch's file paths (with the text of .py files in candidate folders)."""
    with tempfile.TemporaryDirectory(prefix="devops-bot-git-") as tmp:
        work = Path(tmp)
        git(["init", "-q"], cwd=work, remote=remote)
        heads = remote_heads(remote, work)
        if base not in heads:
            return None
        git(["fetch", "-q", "--depth", "1", remote.url, base], cwd=work, remote=remote)
        listed = git(["ls-tree", "-r", "--name-only", "FETCH_HEAD"], cwd=work, remote=remote)
        files: dict[str, str] = {}
        for path in listed.splitlines():
            text = ""
            if path.endswith(".py") and any(path.startswith(c + "/") for c in LAYOUTS):
                text = git(["show", f"FETCH_HEAD:{path}"], cwd=work, remote=remote, check=False)
            files[path] = text
        return files


async def read_layout(
    forge: Any, repository: str, configured: str | None, base: str = "main"
) -> RepoLayout:
    """The repository's migrations layout, read on the forge; without a forge or a readable
    repository, the configured folder (or `migrations/`) with a note saying why."""
    if forge is None:
        layout = detect_layout({}, configured)
        layout.note = "no forge is configured, so the repository's layout was not read"
        return layout
    try:
        remote = await forge.remote_for(repository)
        files = await asyncio.to_thread(_read_tree, remote, base) if remote else None
    except ChangeError as exc:
        layout = detect_layout({}, configured)
        layout.note = f"the repository could not be read ({exc.message})"
        return layout
    if files is None:
        layout = detect_layout({}, configured)
        layout.note = f"{repository} has no {base} branch on the forge yet"
        return layout
    return detect_layout(files, configured)


SANDBOX_README = (
    "# {name}\n\nA sandbox repository (devops-bot sandbox forge). Its database migrations live "
    "in `migrations/`, numbered.\n"
)


def seed_sandbox_repository(forge: Any, repository: str, first_sql: str) -> bool:
    """The sandbox forge's repository of a service with a database: created with a
    `migrations/` folder holding its first migration. False when it already exists."""
    from workflow.tools.changes import split_repository
    from workflow.tools.changes.git import push_files
    from workflow.tools.changes.sandbox import SandboxForge

    if not isinstance(forge, SandboxForge):
        return False
    owner, name = split_repository(repository)
    path = forge.repo_path(owner, name)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    remote = GitRemote(str(path))
    git(["init", "-q", "--bare", "-b", "main", str(path)], cwd=path.parent, remote=remote)
    push_files(
        remote,
        {
            "README.md": SANDBOX_README.format(name=name),
            "migrations/0001_initial_schema.sql": first_sql.strip() + "\n",
        },
        branch="main",
        base="main",
        message="Initial commit (sandbox): the schema's first migration",
        initial=True,
    )
    return True


# ------------------------------------------------------------------ the approved plan


async def apply_pull_request(plan: Any, deps: Any, target: Any) -> Any:
    """Commit the plan's migration file on its branch and open one pull request for it; then
    record the plan in the database's ledger as `pull_request` (nothing else is run there)."""
    from workflow.agents.database_agent.inspect import describe, fingerprint
    from workflow.agents.database_agent.ledger import LEDGER, ensure_ledger
    from workflow.agents.spec import Applied, ApplyError, BackendMissing
    from workflow.apply import APPLYING
    from workflow.tools.changes import ChangeRequest, branch_for

    forge = deps.backend(FORGE)
    if forge is None:
        raise BackendMissing(deps.why_missing(FORGE))
    body = plan.body or {}
    who = APPLYING.get() or {}
    where = f" on {forge.label}"
    conn = await target.open()
    await conn.set_autocommit(True)
    try:
        await ensure_ledger(conn)
        row = await (
            await conn.execute(
                f"SELECT id, outcome FROM {LEDGER} WHERE plan_hash = %s", (plan.plan_hash,)
            )
        ).fetchone()
        if row is None or row[1] != MODE:
            tables = body.get("tables") or []
            now = fingerprint({t: await describe(conn, target.schema, t) for t in tables})
            if now != plan.resource_version:
                raise ApplyError(
                    f"refused: the schema of {', '.join(tables)} on the {target.label} changed "
                    f"since it was approved (planned against {plan.resource_version}, now "
                    f"{now}); no pull request was opened. Ask again to plan against the "
                    "current schema."
                )
        title = f"{target.service}: {body.get('title') or 'migration'} ({target.environment})"
        thread = who.get("thread") or "unknown"
        request = ChangeRequest(
            repository=str(body.get("repository") or ""),
            files={f.path: f.content for f in plan.files},
            branch=branch_for(f"{target.service}-migration", plan.plan_hash),
            base=str(body.get("base") or "main"),
            title=title,
            message=(
                f"{title}\n\nRequested by {who.get('requester') or 'unknown'} in thread "
                f"{thread} through devops-bot (plan {plan.plan_hash})."
            ),
            body=pull_request_body(plan, target),
        )
        try:
            result = await forge.submit(request)
        except ChangeError as exc:
            raise ApplyError(exc.message) from exc
        values = {
            "hash": plan.plan_hash,
            "title": str(body.get("title") or plan.action),
            "sql": str(body.get("sql") or ""),
            "service": target.service,
            "environment": target.environment,
            "requester": who.get("requester"),
            "approvers": list(who.get("approvers") or []),
            "thread": who.get("thread"),
            "before": plan.resource_version,
            "total": len(body.get("steps") or []),
            "detail": result.url,
        }
        cur = await conn.execute(
            f"INSERT INTO {LEDGER} (plan_hash, title, sql, service, environment, requester, "
            "approvers, thread, fingerprint_before, steps_total, outcome, detail, ended_at) "
            "VALUES (%(hash)s, %(title)s, %(sql)s, %(service)s, %(environment)s, "
            "%(requester)s, %(approvers)s, %(thread)s, %(before)s, %(total)s, 'pull_request', "
            "%(detail)s, now()) ON CONFLICT (plan_hash) DO UPDATE SET outcome = 'pull_request', "
            "detail = EXCLUDED.detail, ended_at = coalesce(migrations.ended_at, now()) "
            "RETURNING id",
            values,
        )
        got = await cur.fetchone()
        ledger_id = int(got[0]) if got else 0
    finally:
        await conn.close()
    path = next(iter(request.files), "")
    again = "pull request" not in result.created
    said = (
        f"{'found the' if again else 'opened'} pull request #{result.pull_request} on "
        f"{result.repository}: {result.url} (branch {result.branch}, commit "
        f"{result.commit[:12]}, file {path}); nothing was run on the {target.label}: the "
        f"migration runs when the pull request is merged and deployed (ledger #{ledger_id})"
    )
    out = result.as_dict() | {"ledger_id": ledger_id, "path": path, "mode": MODE}
    return Applied(out, where=where, said=said)


def pull_request_body(plan: Any, target: Any) -> str:
    body = plan.body or {}
    text = (
        f"Migration for the {target.service} database, planned by devops-bot (plan "
        f"{plan.plan_hash}) and checked on the {target.label}: linted with squawk and "
        "rehearsed in a transaction that was rolled back. Nothing was run on the database; "
        "it changes when this is merged and deployed.\n\n"
        f"File: `{next((f.path for f in plan.files), '')}`\n"
        f"Risk: {', '.join(plan.risk) or 'none'}\n\n"
        "```\n" + plan.preview + "\n```\n"
    )
    if body.get("note"):
        text += f"\n{body['note']}\n"
    return text[:60000]
