"""Plan and apply through the agent's own node handlers and applier, on a real database."""

from __future__ import annotations

from typing import Any

import psycopg

from workflow.agents.database_agent.applier import apply_postgres
from workflow.agents.database_agent.node import _migrate
from workflow.agents.database_agent.reader import read_request
from workflow.agents.database_agent.reads import answer_read as _query
from workflow.agents.spec import Applied
from workflow.deps import WorkflowDeps
from workflow.plan import Plan

CATALOG_SNAPSHOT = """
SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
ORDER BY 1, 2, 3
"""
CONSTRAINTS_SNAPSHOT = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2
"""


def snapshot(url: str) -> list[Any]:
    """Every relation, column, default and constraint outside the system schemas."""
    with psycopg.connect(url) as conn:
        return (
            conn.execute(CATALOG_SNAPSHOT).fetchall()
            + conn.execute(CONSTRAINTS_SNAPSHOT).fetchall()
        )


def context_of(text: str, environment: str = "production") -> dict[str, Any]:
    ctx = read_request("migration", text, {})
    ctx["environment"] = environment
    return ctx


async def plan_for(deps: WorkflowDeps, text: str, environment: str = "production") -> Any:
    state = {"messages": []}
    return await _migrate(deps, context_of(text, environment), state)


async def query(deps: WorkflowDeps, text: str, environment: str = "production") -> Any:
    return await _query(deps, context_of(text, environment), {})


async def apply(deps: WorkflowDeps, plan: dict[str, Any]) -> Applied:
    return await apply_postgres(Plan.model_validate(plan), deps)
