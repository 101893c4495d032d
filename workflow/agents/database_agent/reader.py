"""What a database request asks for, read from its text (pure, no I/O): the `reader` of the
agent's vocabulary. Sets `db_op` (a read: describe, biggest, changes, slow; or a migration
kind of `migrations.MIGRATION_OPS`) and the keys that kind needs."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CONTEXT_KEYS", "code_block", "read_request"]

CONTEXT_KEYS = (
    "db_op",
    "database",
    "table",
    "column",
    "column_type",
    "nullable",
    "default",
    "index_columns",
    "index_name",
    "unique",
    "new_name",
    "ref_table",
    "ref_column",
    "check",
    "columns",
    "rows",
    "sql",
    "days",
)

_TYPE = (
    r"(?:double\s+precision|character\s+varying(?:\(\d+\))?|varchar(?:\(\d+\))?|char\(\d+\)"
    r"|numeric(?:\(\d+(?:,\s*\d+)?\))?|decimal(?:\(\d+(?:,\s*\d+)?\))?|timestamptz"
    r"|timestamp(?:\s+with(?:out)?\s+time\s+zone)?|text|bigint|integer|int[248]?|smallint"
    r"|boolean|bool|uuid|jsonb|json|date|time|real|float[48]?|bytea|inet|citext|interval)"
    r"(?:\[\])?"
)
_ENVS = r"(?:prod|production|staging|stage|stg|dev|development|qa|test)"
_NOT_TABLE = re.compile(rf"^(?:{_ENVS}|the|a|an|table|database|db|schema)$")
_W = r"[a-z_][\w$]*"
_CODE = re.compile(r"```(?:sql|postgres(?:ql)?)?\s*\n?(.*?)```", re.S | re.I)
_DEFAULT = re.compile(
    r"\bdefault(?:s)?\s+(?:to\s+|of\s+)?('(?:[^']|'')*'|\"[^\"]*\"|[\w.()-]+)", re.I
)


def _clean(name: str | None) -> str | None:
    return None if not name or _NOT_TABLE.match(name) else name


def _cols(text: str) -> list[str]:
    return [c.strip().strip('"') for c in re.split(r"\s*(?:,|\band\b)\s*", text) if c.strip()]


def _database(low: str) -> dict[str, Any]:
    m = re.search(
        rf"\b(?:in|on|of|from|for)\s+(?:the\s+)?({_W}(?:-[\w]+)*)(?:\s+(?:database|db))?"
        rf"(?:\s+{_ENVS}|\s+(?:database|db))\b",
        low,
    )
    if m and not _NOT_TABLE.match(m.group(1)):
        return {"database": m.group(1)}
    m = re.search(rf"\b(?:in|of|on)\s+(?:the\s+)?({_W}(?:-[\w]+)*)\s+(?:schema|are|is)\b", low)
    if m and not _NOT_TABLE.match(m.group(1)) and m.group(1) not in {"which", "what", "it"}:
        return {"database": m.group(1)}
    m = re.search(rf"\b({_W}(?:-[\w]+)*)\s+(?:database|db)\b", low)
    if m and not _NOT_TABLE.match(m.group(1)) and m.group(1) not in {"which", "what", "my"}:
        return {"database": m.group(1)}
    return {}


_DESCRIBE = (
    re.compile(
        rf"\b(?:show|describe|desc|what(?:'s|\s+is)|display|get|print)\s+(?:me\s+)?(?:the\s+)?"
        rf"(?:schema|columns|structure|definition|ddl)\s+(?:of|for)\s+(?:the\s+)?(?:table\s+)?"
        rf"(?P<table>{_W})"
    ),
    # "show me the invoices table", "show table invoices"
    re.compile(
        rf"\b(?:show|display)\s+(?:me\s+)?(?:the\s+)?"
        rf"(?:table\s+(?P<table>{_W})|(?P<named>{_W})\s+table)\b"
    ),
    re.compile(rf"\bdescribe\s+(?:the\s+)?(?:table\s+)?(?P<table>{_W})"),
)


def _reads(low: str) -> dict[str, Any]:
    for pattern in _DESCRIBE:
        m = pattern.search(low)
        table = m and (m.group("table") or m.groupdict().get("named"))
        if table:
            if _clean(table):
                return {"db_op": "describe", "table": table}
            break
    if re.search(
        r"\b(?:biggest|largest|heaviest)\s+tables?\b|\btables?\b.*\b(?:biggest|largest)"
        r"\b|\btable\s+sizes?\b",
        low,
    ):
        return {"db_op": "biggest"}
    if re.search(r"\bslow(?:est)?\s+(?:[\w-]+\s+)?quer(?:y|ies)\b|\bpg_stat_statements\b", low):
        return {"db_op": "slow"}
    if re.search(
        r"\bwhat\s+changed\b|\b(?:schema\s+)?changes\b|\bmigration\s+history\b"
        r"|\b(?:recent|last)\s+migrations\b|\bledger\b",
        low,
    ):
        days = 1.0 if "today" in low else 30.0 if "month" in low else 7.0
        return {"db_op": "changes", "days": days}
    return {}


def _add_column(low: str) -> dict[str, Any]:
    if not re.search(r"\b(?:add|new|need)\b", low) or re.search(
        r"\b(?:index|constraint|foreign|check)\b", low
    ):
        return {}
    out: dict[str, Any] = {}
    m = (
        re.search(rf"\bcolumn\s+({_W})\s+({_TYPE})\b", low)
        or re.search(rf"\b({_W})\s+({_TYPE})\s+columns?\b", low)
        or re.search(
            rf"\badd\s+(?:an?\s+)?(?:(?:new|nullable|required|optional)\s+)*({_W})\s+"
            rf"(?:as\s+)?(?:an?\s+)?({_TYPE})\b",
            low,
        )
        or re.search(rf"\b({_W})\s+\(({_TYPE})\)", low)
    )
    if not m:
        return {}
    out.update({"db_op": "add_column", "column": m.group(1), "column_type": m.group(2)})
    t = re.search(rf"\b(?:to|on|into)\s+(?:the\s+)?(?:table\s+)?({_W})", low[m.end() :])
    if t and _clean(t.group(1)):
        out["table"] = t.group(1)
    if re.search(r"\bnot\s+null\b|\bnon-?null(?:able)?\b|\brequired\b|\bmandatory\b", low):
        out["nullable"] = False
    elif re.search(r"\bnullable\b|\boptional\b|\bnull\b", low):
        out["nullable"] = True
    return out


def _migrations(low: str, text: str) -> dict[str, Any]:
    m = re.search(rf"\brestore\s+(?:the\s+)?(?:dropped\s+)?(?:column\s+)?({_W})\.({_W})", low)
    if m:
        return {"db_op": "restore_column", "table": m.group(1), "column": m.group(2)}
    m = re.search(rf"\bseed\s+(?:the\s+)?(?:[\w-]+\s+)?({_W})\s+table\b", low) or re.search(
        rf"\bseed\s+(?:the\s+)?(?:table\s+)?({_W})\b", low
    )
    if m and _clean(m.group(1)):
        return {"db_op": "seed", "table": m.group(1)}
    m = re.search(rf"\brename\s+(?:the\s+)?table\s+({_W})\s+to\s+({_W})", low)
    if m:
        return {"db_op": "rename_table", "table": m.group(1), "new_name": m.group(2)}
    m = re.search(rf"\brename\s+(?:the\s+)?(?:column\s+)?({_W})\.({_W})\s+to\s+({_W})", low)
    if m:
        return {
            "db_op": "rename_column",
            "table": m.group(1),
            "column": m.group(2),
            "new_name": m.group(3),
        }
    m = re.search(
        rf"\brename\s+(?:the\s+)?column\s+({_W})\s+(?:(?:on|in|of)\s+(?:the\s+)?"
        rf"({_W})\s+)?to\s+({_W})(?:\s+(?:on|in|of)\s+(?:the\s+)?({_W}))?",
        low,
    )
    if m:
        return {
            "db_op": "rename_column",
            "table": m.group(2) or m.group(4),
            "column": m.group(1),
            "new_name": m.group(3),
        }
    m = re.search(rf"\bdrop\s+(?:the\s+)?(?:unique\s+)?index\s+(?:concurrently\s+)?({_W})", low)
    if m:
        return {"db_op": "drop_index", "index_name": m.group(1)}
    m = (
        re.search(
            rf"\b(?:drop|remove|delete)\s+(?:the\s+)?({_W})\s+column\s+(?:from|on|of|in)\s+"
            rf"(?:the\s+)?({_W})",
            low,
        )
        or re.search(
            rf"\b(?:drop|remove|delete)\s+(?:the\s+)?column\s+({_W})\s+(?:from|on|of|in)\s+"
            rf"(?:the\s+)?({_W})",
            low,
        )
        or re.search(rf"\b(?:drop|remove)\s+(?:the\s+)?(?:column\s+)?({_W})\.({_W})", low)
    )
    if m:
        col, table = (m.group(1), m.group(2))
        if "." in m.group(0):
            table, col = m.group(1), m.group(2)
        return {"db_op": "drop_column", "table": table, "column": col}
    m = re.search(
        rf"\b(?:change|alter|convert|make|set)\s+(?:the\s+)?(?:type\s+of\s+)?"
        rf"(?:column\s+)?({_W})\.({_W})\s+(?:type\s+)?(?:to|into|as|a|an)\s+(?:an?\s+)?"
        rf"({_TYPE})\b",
        low,
    )
    if m:
        return {
            "db_op": "change_type",
            "table": m.group(1),
            "column": m.group(2),
            "column_type": m.group(3),
        }
    m = re.search(
        rf"\bforeign\s+key\s+(?:from\s+)?({_W})\.({_W})\s+(?:to|references?)\s+({_W})"
        rf"(?:\.({_W})|\s*\(({_W})\))?",
        low,
    ) or re.search(rf"\b({_W})\.({_W})\s+references?\s+({_W})(?:\.({_W})|\s*\(({_W})\))?", low)
    if m:
        return {
            "db_op": "add_foreign_key",
            "table": m.group(1),
            "column": m.group(2),
            "ref_table": m.group(3),
            "ref_column": m.group(4) or m.group(5) or "id",
        }
    m = re.search(
        rf"\bcheck\s*(?:constraint\s+)?\((.+)\)\s+(?:on|to)\s+(?:the\s+)?({_W})", text, re.I
    )
    if m:
        return {"db_op": "add_check", "check": m.group(1).strip(), "table": m.group(2).lower()}
    m = re.search(rf"\bunique\s+(?:constraint\s+)?on\s+({_W})\s*\(([\w\s,]+)\)", low) or re.search(
        rf"\bmake\s+({_W})\.({_W})\s+unique\b", low
    )
    if m:
        return {"db_op": "add_unique", "table": m.group(1), "index_columns": _cols(m.group(2))}
    m = (
        re.search(rf"\bindex\s+on\s+(?:the\s+)?({_W})\s*\(([\w\s,]+)\)", low)
        or re.search(rf"\bindex\s+on\s+({_W})\.({_W})", low)
        or re.search(rf"\bindex\s+({_W})\s+on\s+({_W}(?:\s*,\s*{_W}|\s+and\s+{_W})*)", low)
    )
    if m and _clean(m.group(1)):
        out = {"db_op": "add_index", "table": m.group(1), "index_columns": _cols(m.group(2))}
        if re.search(r"\bunique\s+index\b", low):
            out["unique"] = True
        return out
    m = re.search(
        rf"\b(?:index|indexes)\s+(?:on\s+)?({_W})\s+(?:on|to|of)\s+(?:the\s+)?({_W})", low
    )
    if m and re.search(r"\b(?:add|create)\b", low) and _clean(m.group(2)):
        return {"db_op": "add_index", "table": m.group(2), "index_columns": [m.group(1)]}
    m = re.search(rf"\bcreate\s+(?:a\s+)?(?:new\s+)?table\s+({_W})\s*\((.+)\)", text, re.I | re.S)
    if m:
        columns = []
        for part in re.split(r",(?![^(]*\))", m.group(2)):
            c = re.match(rf"\s*({_W})\s+({_TYPE})(.*)", part.strip(), re.I)
            if c:
                col: dict[str, Any] = {"name": c.group(1).lower(), "type": c.group(2).lower()}
                if re.search(r"\bnot\s+null\b", c.group(3), re.I):
                    col["nullable"] = False
                d = _DEFAULT.search(c.group(3))
                if d:
                    col["default"] = d.group(1)
                columns.append(col)
        return {"db_op": "create_table", "table": m.group(1).lower(), "columns": columns}
    return _add_column(low)


# SQL typed in a request (its code fence may be gone: the classifier reads cleaned text).
_SQL = re.compile(
    r"\b(?:alter\s+table|create\s+(?:unique\s+)?index|create\s+table|drop\s+(?:table|index)"
    r"|update\s+[\w.\"]+\s+set|delete\s+from|insert\s+into|comment\s+on|truncate)\b.*;",
    re.I | re.S,
)


def code_block(text: str) -> str | None:
    """The SQL of a request: its ``` code block, else statements ending in `;`."""
    code = _CODE.search(text)
    if code:
        return code.group(1).strip()
    sql = _SQL.search(text)
    return sql.group(0).strip() if sql else None


def read_request(task_type: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
    """The database keys of `text` (only those found)."""
    out: dict[str, Any] = {}
    code = code_block(text)
    low = re.sub(r"\s+", " ", _CODE.sub(" ", text).lower()).strip()
    if code:
        out.update({"db_op": "raw_sql", "sql": code})
        low = low[: low.find(code.lower()[:20])] if code.lower()[:20] in low else low
    else:
        out.update(_migrations(low, _CODE.sub(" ", text)) or _reads(low))
    if out.get("db_op") == "add_column":
        d = _DEFAULT.search(_CODE.sub(" ", text))
        if d:
            out["default"] = d.group(1).strip('"')
    if out.get("db_op") in {"add_column", "create_table", "seed"}:
        rows = re.search(r"\b(\d[\d,_]*)\s+rows\b", low)
        if rows:
            out["rows"] = int(re.sub(r"[,_]", "", rows.group(1)))
    out.update(_database(low))
    if "table" in out and out["table"] is None:
        del out["table"]
    return out
