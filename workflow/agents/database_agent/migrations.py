"""Typed migration requests -> the exact SQL, deterministically (no model in the loop).

A `Migration` is a list of `Step`s. Most run in one transaction; a `CREATE INDEX
CONCURRENTLY` (and its DROP) cannot, and runs alone (`concurrent`), rehearsed as its
non-concurrent equivalent (`rehearse_as`); a backfill runs in batches, each its own
transaction, until no row changes (`batched`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "EXAMPLES",
    "Migration",
    "MigrationError",
    "Step",
    "build_migration",
    "qident",
    "sql_text",
]

BATCH_ROWS = 10_000

EXAMPLES = (
    "add a nullable note text column to payments in billing staging",
    "add column status text not null default 'open' to invoices in billing prod",
    "drop column memo from invoices in billing staging",
    "rename column memo to note on invoices in billing staging",
    "rename table invoices to bills in billing staging",
    "change type of invoices.amount_cents to bigint in billing staging",
    "create table refunds (id bigint, payment_id bigint not null, reason text) in billing staging",
    "add an index on payments(account_id) in billing prod",
    "drop index payments_account_id_idx in billing prod",
    "add a foreign key from invoices.account_id to accounts.id in billing prod",
    "add a check (amount_cents >= 0) on payments in billing prod",
    "add a unique constraint on accounts(name) in billing prod",
    "run in billing staging: ```ALTER TABLE invoices ADD COLUMN memo text;```",
    "restore accounts.name in billing staging",
    "seed the invoices table in billing staging with 500 rows",
)


class MigrationError(ValueError):
    """The request does not make a migration; the message says how to ask."""


_RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column "
    "constraint create current_catalog current_date current_role current_time "
    "current_timestamp current_user default deferrable desc distinct do else end except false "
    "fetch for foreign from grant group having in initially intersect into lateral leading "
    "limit localtime localtimestamp not null offset on only or order placing primary "
    "references returning select session_user some symmetric table then to trailing true "
    "union unique user using variadic when where window with".split()
)
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
_TYPE = re.compile(
    r"(?:[a-z][a-z0-9_]*(?: (?:varying|precision|without time zone|with time zone))?)"
    r"(?:\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\[\])?"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FUNCTIONS = {
    "now()": False,
    "current_timestamp": False,
    "current_date": False,
    "gen_random_uuid()": True,
    "random()": True,
    "clock_timestamp()": True,
}
_CHECK = re.compile(r"[\w\s<>=!().,'+\-*/%]+")


def qident(name: str) -> str:
    """An identifier as PostgreSQL reads it: plain when it can be, double-quoted otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MigrationError(f"invalid name {name!r}: letters, digits and '_', at most 63")
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _type(value: Any) -> str:
    text = re.sub(r"\s+", " ", str(value or "").strip().lower())
    if not text or not _TYPE.fullmatch(text):
        raise MigrationError(
            f"invalid column type {value!r}: a PostgreSQL type such as text, bigint, "
            "numeric(12,2), timestamptz, boolean, uuid, jsonb"
        )
    return text


def _literal(value: Any) -> tuple[str, bool]:
    """(SQL of a default, whether it is volatile: a rewrite or a backfill is needed)."""
    if isinstance(value, bool):
        return ("true" if value else "false"), False
    if isinstance(value, int | float):
        return str(value), False
    text = str(value).strip()
    low = text.lower()
    if low in _FUNCTIONS:
        return low, _FUNCTIONS[low]
    if low in {"true", "false", "null"} or _NUMBER.fullmatch(text):
        return low, False
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1].replace("''", "'")
    return "'" + text.replace("'", "''") + "'", False


@dataclass(frozen=True)
class Step:
    sql: str
    table: str | None = None
    concurrent: bool = False  # cannot run inside a transaction block
    batched: bool = False  # repeated, one transaction per batch, until no row changes
    rehearse_as: str | None = None  # what the rehearsal runs instead (concurrent steps)
    index: str | None = None  # the index a concurrent step builds (cleaned up on failure)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Step:
        return cls(**raw)


@dataclass
class Migration:
    op: str
    title: str
    steps: list[Step]
    tables: list[str]
    destructive: bool = False
    new_tables: list[str] = field(default_factory=list)  # created: no fingerprint before
    renamed: dict[str, str] = field(default_factory=dict)  # table -> its new name
    backup: dict[str, Any] | None = None  # data copied aside before a drop
    sample_sql: str | None = None  # what the rehearsal shows of the rows it wrote (a seed)


def sql_text(migration: Migration) -> str:
    """The migration file: every statement, in order, as it will run."""
    lines = [f"-- {migration.title}"]
    for step in migration.steps:
        if step.concurrent:
            lines.append("-- runs outside a transaction (CONCURRENTLY)")
        if step.batched:
            lines.append(f"-- repeated in batches of {BATCH_ROWS} rows until no row changes")
        lines.append(step.sql.rstrip(";") + ";")
    return "\n".join(lines) + "\n"


def _qualified(schema: str, table: str) -> str:
    return table if schema == "public" else f"{qident(schema)}.{table}"


def _need(context: dict[str, Any], *keys: str, example: str) -> list[Any]:
    missing = [k for k in keys if not context.get(k)]
    if missing:
        raise MigrationError(f"missing {', '.join(missing)}: say e.g. '{example}'")
    return [context[k] for k in keys]


def build_migration(
    context: dict[str, Any], *, schema: str = "public", rows: dict[str, int] | None = None
) -> Migration:
    """The migration a request's context asks for (`db_op` and its keys)."""
    op = str(context.get("db_op") or "")
    rows = rows or {}
    builder = _BUILDERS.get(op)
    if builder is None:
        raise MigrationError(
            "I can plan these migrations (say one like these):\n- " + "\n- ".join(EXAMPLES)
        )
    return builder(context, schema, rows)


def _add_column(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, column, ctype = _need(context, "table", "column", "column_type", example=EXAMPLES[0])
    t, c, ty = _qualified(schema, qident(table)), qident(column), _type(ctype)
    not_null = context.get("nullable") is False
    default = context.get("default")
    title = f"add column {column} {ty} to {table}"
    if default is None and not not_null:
        return Migration(
            "add_column", title, [Step(f"ALTER TABLE {t} ADD COLUMN {c} {ty}", table)], [table]
        )
    if default is not None:
        value, volatile = _literal(default)
    else:
        if rows.get(table, 0) > 0:
            raise MigrationError(
                f"{table} has rows, so a NOT NULL column needs a default to fill them: say e.g. "
                f"'{EXAMPLES[1]}', or add it nullable"
            )
        step = Step(f"ALTER TABLE {t} ADD COLUMN {c} {ty} NOT NULL", table)
        return Migration("add_column", title + " NOT NULL", [step], [table])
    if not not_null:
        step = Step(f"ALTER TABLE {t} ADD COLUMN {c} {ty} DEFAULT {value}", table)
        return Migration("add_column", f"{title} default {value}", [step], [table])
    check = qident(f"{table}_{column}_not_null"[:63])
    steps: list[Step] = []
    if volatile:  # a volatile default would rewrite the table: add, then fill in batches
        steps += [
            Step(f"ALTER TABLE {t} ADD COLUMN {c} {ty}", table),
            Step(f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {value}", table),
            Step(
                f"UPDATE {t} SET {c} = {value} WHERE ctid IN (SELECT ctid FROM {t} "
                f"WHERE {c} IS NULL LIMIT {BATCH_ROWS})",
                table,
                batched=True,
            ),
        ]
    else:  # a constant default fills existing rows without a rewrite (PostgreSQL 11+)
        steps.append(Step(f"ALTER TABLE {t} ADD COLUMN {c} {ty} DEFAULT {value}", table))
    steps += [
        Step(f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID", table),
        Step(f"ALTER TABLE {t} VALIDATE CONSTRAINT {check}", table),
        Step(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL", table),
        Step(f"ALTER TABLE {t} DROP CONSTRAINT {check}", table),
    ]
    return Migration("add_column", f"{title} NOT NULL default {value}", steps, [table])


def _drop_column(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, column = _need(context, "table", "column", example=EXAMPLES[2])
    t, c = _qualified(schema, qident(table)), qident(column)
    backup = {"table": table, "column": column}
    return Migration(
        "drop_column",
        f"drop column {column} from {table}",
        [Step(f"ALTER TABLE {t} DROP COLUMN {c}", table)],
        [table],
        destructive=True,
        backup=backup,
    )


def _rename_column(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, column, new = _need(context, "table", "column", "new_name", example=EXAMPLES[3])
    t = _qualified(schema, qident(table))
    step = Step(f"ALTER TABLE {t} RENAME COLUMN {qident(column)} TO {qident(new)}", table)
    return Migration(
        "rename_column",
        f"rename column {table}.{column} to {new}",
        [step],
        [table],
        destructive=True,
    )


def _rename_table(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, new = _need(context, "table", "new_name", example=EXAMPLES[4])
    step = Step(f"ALTER TABLE {_qualified(schema, qident(table))} RENAME TO {qident(new)}", table)
    return Migration(
        "rename_table",
        f"rename table {table} to {new}",
        [step],
        [table],
        destructive=True,
        renamed={table: new},
    )


def _change_type(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, column, ctype = _need(context, "table", "column", "column_type", example=EXAMPLES[5])
    t, c, ty = _qualified(schema, qident(table)), qident(column), _type(ctype)
    step = Step(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty} USING {c}::{ty}", table)
    return Migration(
        "change_type", f"change type of {table}.{column} to {ty}", [step], [table], destructive=True
    )


def _create_table(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    (table,) = _need(context, "table", example=EXAMPLES[6])
    columns = context.get("columns") or []
    if not columns:
        raise MigrationError(f"which columns? say e.g. '{EXAMPLES[6]}'")
    defs, names = [], set()
    for col in columns:
        name = str(col.get("name"))
        names.add(name)
        spec = f"{qident(name)} {_type(col.get('type'))}"
        if name == "id" and _type(col.get("type")) in {"bigint", "integer", "int"}:
            spec += " GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        elif col.get("nullable") is False:
            spec += " NOT NULL"
        if col.get("default") is not None:
            spec += f" DEFAULT {_literal(col['default'])[0]}"
        defs.append(spec)
    if "id" not in names:
        defs.insert(0, "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    body = ",\n  ".join(defs)
    step = Step(f"CREATE TABLE {_qualified(schema, qident(table))} (\n  {body}\n)", table)
    return Migration("create_table", f"create table {table}", [step], [table], new_tables=[table])


def _add_index(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, columns = _need(context, "table", "index_columns", example=EXAMPLES[7])
    unique = bool(context.get("unique"))
    name = context.get("index_name") or f"{table}_{'_'.join(columns)}_{'key' if unique else 'idx'}"
    name = name[:63]
    cols = ", ".join(qident(c) for c in columns)
    t = _qualified(schema, qident(table))
    kind = "UNIQUE INDEX" if unique else "INDEX"
    sql = f"CREATE {kind} CONCURRENTLY IF NOT EXISTS {qident(name)} ON {t} ({cols})"
    plain = f"CREATE {kind} {qident(name)} ON {t} ({cols})"
    step = Step(sql, table, concurrent=True, rehearse_as=plain, index=name)
    return Migration(
        "add_index", f"add index {name} on {table} ({', '.join(columns)})", [step], [table]
    )


def _drop_index(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    name, table = _need(context, "index_name", "table", example=EXAMPLES[8])
    qname = _qualified(schema, qident(name))
    step = Step(
        f"DROP INDEX CONCURRENTLY IF EXISTS {qname}",
        table,
        concurrent=True,
        rehearse_as=f"DROP INDEX {qname}",
    )
    return Migration("drop_index", f"drop index {name}", [step], [table], destructive=True)


def _add_foreign_key(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, column, ref_table = _need(context, "table", "column", "ref_table", example=EXAMPLES[9])
    ref_column = context.get("ref_column") or "id"
    name = qident(f"{table}_{column}_fkey"[:63])
    t = _qualified(schema, qident(table))
    ref = _qualified(schema, qident(ref_table))
    steps = [
        Step(
            f"ALTER TABLE {t} ADD CONSTRAINT {name} FOREIGN KEY ({qident(column)}) "
            f"REFERENCES {ref} ({qident(ref_column)}) NOT VALID",
            table,
        ),
        Step(f"ALTER TABLE {t} VALIDATE CONSTRAINT {name}", table),
    ]
    return Migration(
        "add_foreign_key",
        f"add foreign key {table}.{column} -> {ref_table}.{ref_column}",
        steps,
        [table, ref_table],
    )


def _add_check(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, expression = _need(context, "table", "check", example=EXAMPLES[10])
    expression = str(expression).strip()
    if not _CHECK.fullmatch(expression) or ";" in expression or "--" in expression:
        raise MigrationError(f"a check expression I can use as is, e.g. '{EXAMPLES[10]}'")
    base = re.sub(r"\W+", "_", expression).strip("_")[:30] or "check"
    name = qident(context.get("constraint_name") or f"{table}_{base}_check"[:63].lower())
    t = _qualified(schema, qident(table))
    steps = [
        Step(f"ALTER TABLE {t} ADD CONSTRAINT {name} CHECK ({expression}) NOT VALID", table),
        Step(f"ALTER TABLE {t} VALIDATE CONSTRAINT {name}", table),
    ]
    return Migration("add_check", f"add check ({expression}) on {table}", steps, [table])


def _add_unique(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    table, columns = _need(context, "table", "index_columns", example=EXAMPLES[11])
    name = f"{table}_{'_'.join(columns)}_key"[:63]
    cols = ", ".join(qident(c) for c in columns)
    t = _qualified(schema, qident(table))
    # A unique constraint cannot be NOT VALID: build its index concurrently, then attach it.
    steps = [
        Step(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {qident(name)} ON {t} ({cols})",
            table,
            concurrent=True,
            rehearse_as=f"CREATE UNIQUE INDEX {qident(name)} ON {t} ({cols})",
            index=name,
        ),
        Step(
            f"ALTER TABLE {t} ADD CONSTRAINT {qident(name)} UNIQUE USING INDEX {qident(name)}",
            table,
        ),
    ]
    return Migration(
        "add_unique", f"add unique constraint on {table} ({', '.join(columns)})", steps, [table]
    )


_DESTRUCTIVE_SQL = re.compile(
    r"\b(?:drop|truncate|delete|rename|alter\s+column\s+\S+\s+(?:set\s+data\s+)?type)\b", re.I
)
_TABLE_IN_SQL = re.compile(
    r"\b(?:alter\s+table(?:\s+if\s+exists)?(?:\s+only)?|update|delete\s+from|insert\s+into"
    r"|truncate(?:\s+table)?|create\s+(?:unique\s+)?index(?:\s+concurrently)?(?:\s+if\s+not"
    r"\s+exists)?\s+\S+\s+on|references|drop\s+table(?:\s+if\s+exists)?)\s+(?:only\s+)?"
    r"(?:\"?[\w$]+\"?\.)?\"?([\w$]+)\"?",
    re.I,
)
_CREATE_TABLE = re.compile(
    r"\bcreate\s+table(?:\s+if\s+not\s+exists)?\s+(?:\"?[\w$]+\"?\.)?"
    r"\"?([\w$]+)\"?",
    re.I,
)


def split_statements(sql: str) -> list[str]:
    """Statements of a script, split on `;` outside quotes, comments and dollar quotes."""
    out, buf, i, quote = [], [], 0, None
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if sql.startswith(quote, i):
                buf.append(sql[i + 1 : i + len(quote)])
                i += len(quote)
                quote = None
                continue
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == "$" and (m := re.match(r"\$\w*\$", sql[i:])):
            quote = m.group(0)
            buf.append(quote)
            i += len(quote)
            continue
        elif ch == ";":
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf).strip())
    return [s for s in out if s]


def _raw(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    (sql,) = _need(context, "sql", example=EXAMPLES[12])
    statements = split_statements(str(sql))
    if not statements:
        raise MigrationError(f"the code block holds no SQL: say e.g. '{EXAMPLES[12]}'")
    steps, tables, new = [], [], []
    for statement in statements:
        if re.match(r"\s*(?:begin|commit|rollback|start\s+transaction)\b", statement, re.I):
            raise MigrationError(
                "leave BEGIN/COMMIT out: the bot runs the migration's transaction itself"
            )
        concurrent = bool(re.search(r"\bconcurrently\b", statement, re.I))
        found = _TABLE_IN_SQL.findall(statement)
        created = _CREATE_TABLE.findall(statement)
        new += created
        table = (found or created or [None])[0]
        for name in found + created:
            if name not in tables:
                tables.append(name)
        rehearse = None
        index = None
        if concurrent:
            rehearse = re.sub(r"\s+concurrently\b", "", statement, count=1, flags=re.I)
            m = re.search(
                r"\bindex\s+concurrently\s+(?:if\s+not\s+exists\s+)?\"?([\w$]+)", statement, re.I
            )
            index = m.group(1) if m and re.match(r"\s*create", statement, re.I) else None
        steps.append(
            Step(statement, table, concurrent=concurrent, rehearse_as=rehearse, index=index)
        )
    destructive = any(_DESTRUCTIVE_SQL.search(s) for s in statements)
    return Migration(
        "raw_sql",
        f"SQL typed in the request ({len(steps)} statement(s))",
        steps,
        tables,
        destructive=destructive,
        new_tables=new,
    )


def _restore_column(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    """The column put back from its copy in devops_bot_backup (the node finds the copy)."""
    table, column, ctype, backup = _need(
        context, "table", "column", "column_type", "backup_table", example=EXAMPLES[13]
    )
    key = list(context.get("key") or [])
    if not key:
        raise MigrationError(f"{table} has no primary key: its rows cannot be matched to the copy")
    t, c = _qualified(schema, qident(table)), qident(column)
    match = " AND ".join(f"t.{qident(k)} = b.{qident(k)}" for k in key)
    copy = f"devops_bot_backup.{qident(backup)}"
    steps = [
        Step(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {_type(ctype)}", table),
        Step(f"UPDATE {t} AS t SET {c} = b.{c} FROM {copy} AS b WHERE {match}", table),
    ]
    return Migration("restore_column", f"restore {table}.{column} from {copy}", steps, [table])


_SEED_TEXT = re.compile(r"text|character|char|citext")


def _seed(context: dict[str, Any], schema: str, rows: dict[str, int]) -> Migration:
    """Rows generated from the table's schema (the node reads it into `seed_columns`)."""
    table, count = _need(context, "table", "rows", example=EXAMPLES[14])
    count = int(count)
    if not 0 < count <= 100_000:
        raise MigrationError("seed between 1 and 100000 rows at a time")
    token = str(context.get("seed_token") or "seed")
    names, values, ctes = [], [], []
    for col in context.get("seed_columns") or []:
        name, ctype = col["name"], col["type"].lower()
        if col.get("default") is not None or col.get("identity"):
            continue
        q = qident(name)
        if col.get("references"):
            ref_table, ref_column = col["references"]
            alias = f"ref_{len(ctes)}"
            ctes.append(
                f"{alias} AS (SELECT array_agg({qident(ref_column)}) AS ids FROM "
                f"{_qualified(schema, qident(ref_table))})"
            )
            value = f"(SELECT ids[1 + (g % cardinality(ids))] FROM {alias})"
        elif "int" in ctype or "serial" in ctype:
            value = "g" if col.get("unique") else "(g % 1000)"
        elif "numeric" in ctype or "decimal" in ctype or "double" in ctype or "real" in ctype:
            value = "((g % 1000) + 0.5)"
        elif "bool" in ctype:
            value = "(g % 2 = 0)"
        elif "timestamp" in ctype or ctype == "date":
            value = f"(now() - g * interval '1 minute')::{ctype}"
        elif ctype == "uuid":
            value = "gen_random_uuid()"
        elif "json" in ctype:
            value = f"'{{}}'::{ctype}"
        elif _SEED_TEXT.search(ctype):
            if "email" in name:
                value = f"'{token}-' || g || '@example.com'"
            else:
                value = f"'{name}-{token}-' || g"
        else:
            raise MigrationError(f"I cannot generate values of type {ctype} ({table}.{name})")
        names.append(q)
        values.append(value)
    if not names:
        raise MigrationError(f"every column of {table} has a default: nothing to generate")
    t = _qualified(schema, qident(table))
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    sql = (
        f"INSERT INTO {t} ({', '.join(names)}) {with_}SELECT {', '.join(values)} "
        f"FROM generate_series(1, {count}) AS g"
    )
    sample = f"SELECT * FROM {t} ORDER BY ctid DESC LIMIT 5"
    return Migration(
        "seed", f"seed {table} with {count} rows", [Step(sql, table)], [table], sample_sql=sample
    )


_BUILDERS = {
    "add_column": _add_column,
    "drop_column": _drop_column,
    "rename_column": _rename_column,
    "rename_table": _rename_table,
    "change_type": _change_type,
    "create_table": _create_table,
    "add_index": _add_index,
    "drop_index": _drop_index,
    "add_foreign_key": _add_foreign_key,
    "add_check": _add_check,
    "add_unique": _add_unique,
    "raw_sql": _raw,
    "restore_column": _restore_column,
    "seed": _seed,
}
MIGRATION_OPS = frozenset(_BUILDERS)
