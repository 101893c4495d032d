"""What PostgreSQL's catalog says about tables: the schema read, its fingerprint, its diff.

Every function takes an open psycopg `AsyncConnection`; the caller owns the transaction
(reads run in a read-only one, the rehearsal inside its own, to be rolled back).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any

from psycopg import AsyncConnection

__all__ = ["biggest_tables", "describe", "fingerprint", "render", "schema_diff"]

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %(oid)s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %(oid)s ORDER BY c.relname
"""
_CONSTRAINTS = """
SELECT conname, contype, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE conrelid = %(oid)s ORDER BY conname
"""
_TABLE = """
SELECT c.oid, c.reltuples::bigint, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = %(table)s AND c.relkind IN ('r', 'p')
"""
_KINDS = {"p": "primary key", "f": "foreign key", "u": "unique", "c": "check", "x": "exclusion"}


async def describe(conn: AsyncConnection, schema: str, table: str) -> dict[str, Any] | None:
    """Columns, indexes, constraints, row estimate and size of `schema.table`; None if absent."""
    async with conn.cursor() as cur:
        await cur.execute(_TABLE, {"schema": schema, "table": table})
        row = await cur.fetchone()
        if row is None:
            return None
        oid, estimate, size = row
        if estimate < 0 and size < 64 * 1024 * 1024:  # never analyzed: small enough to count
            await cur.execute(f"SELECT count(*) FROM {_quoted(schema)}.{_quoted(table)}")
            counted = await cur.fetchone()
            estimate = counted[0] if counted else 0
        await cur.execute(_COLUMNS, {"oid": oid})
        columns = [
            {"name": n, "type": t, "nullable": bool(null), "default": d}
            for n, t, null, d in await cur.fetchall()
        ]
        await cur.execute(_INDEXES, {"oid": oid})
        indexes = [{"name": n, "definition": d, "valid": v} for n, d, v in await cur.fetchall()]
        await cur.execute(_CONSTRAINTS, {"oid": oid})
        constraints = [
            {"name": n, "kind": _KINDS.get(k, k), "definition": d, "validated": v}
            for n, k, d, v in await cur.fetchall()
        ]
    return {
        "schema": schema,
        "table": table,
        "columns": columns,
        "indexes": indexes,
        "constraints": constraints,
        "rows_estimate": max(int(estimate), 0),
        "size_bytes": int(size),
    }


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fingerprint(described: dict[str, dict[str, Any] | None]) -> str:
    """sha256 of the tables' structure (not their size): what a plan was made against."""
    material = {
        name: None if d is None else {k: d[k] for k in ("columns", "indexes", "constraints")}
        for name, d in sorted(described.items())
    }
    blob = json.dumps(material, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def render(described: dict[str, Any] | None, name: str = "") -> list[str]:
    """The table as text lines (what the schema diff compares)."""
    if described is None:
        return [f"(no table {name})"]
    lines = [f"TABLE {described['schema']}.{described['table']}"]
    for c in described["columns"]:
        null = "" if c["nullable"] else " NOT NULL"
        default = f" DEFAULT {c['default']}" if c["default"] is not None else ""
        lines.append(f"  {c['name']} {c['type']}{null}{default}")
    for i in described["indexes"]:
        lines.append(f"  {i['definition']}" + ("" if i["valid"] else "  -- INVALID"))
    for k in described["constraints"]:
        valid = "" if k["validated"] else "  -- NOT VALID"
        lines.append(f"  CONSTRAINT {k['name']} {k['definition']}{valid}")
    return lines


def schema_diff(
    before: dict[str, dict[str, Any] | None], after: dict[str, dict[str, Any] | None]
) -> str:
    out: list[str] = []
    for name in sorted(set(before) | set(after)):
        a, b = render(before.get(name), name), render(after.get(name), name)
        out += list(difflib.unified_diff(a, b, f"{name} (now)", f"{name} (after)", lineterm=""))
    return "\n".join(out) or "(no schema change)"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


async def biggest_tables(conn: AsyncConnection, schema: str, limit: int = 10) -> list[list[Any]]:
    async with conn.cursor() as cur:
        await cur.execute(
            """
            SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid),
                   pg_relation_size(c.oid), pg_indexes_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
            ORDER BY pg_total_relation_size(c.oid) DESC LIMIT %s
            """,
            (schema, limit),
        )
        return [
            [n, max(int(r), 0), human_size(t), human_size(h), human_size(i)]
            for n, r, t, h, i in await cur.fetchall()
        ]
