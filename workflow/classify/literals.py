"""Literal prefilters for the rules classifier's regular expressions.

Most signal, service-name and metric patterns cannot match a typical text: the literals
every match must contain (`required_literals`) are found once per text with one scan
(`trie_regex`), and a pattern none of whose literals occur is not run.
"""

from __future__ import annotations

import re
from typing import Any


def _required_literals(pattern: str) -> tuple[str, ...] | None:
    """Substrings at least one of which occurs in every match of `pattern`, or None.

    Derived from the parsed regex: a run of >= 2 consecutive literal characters in a
    sequence is required; an alternation requires one of its branches' literals; a group
    or a repeat with min >= 1 requires its body's. Zero-width assertions don't break a
    run. Used to skip `search` calls that can't match (most of them, on a typical text).
    """
    from re import _constants as c
    from re import _parser

    def seq_literals(items) -> set[str] | None:
        required: list[set[str]] = []
        run: list[str] = []

        def flush() -> None:
            if len(run) >= 2:
                required.append({"".join(run)})
            run.clear()

        for op, av in items:
            if op is c.LITERAL:
                run.append(chr(av))
                continue
            if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
                continue
            flush()
            inner: set[str] | None = None
            if op is c.SUBPATTERN:
                inner = seq_literals(av[-1])
            elif op is c.BRANCH:
                branches = [seq_literals(b) for b in av[1]]
                if all(branches):
                    inner = set().union(*branches)  # type: ignore[arg-type]
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
                inner = seq_literals(av[2])
            if inner:
                required.append(inner)
        flush()
        if not required:
            return None
        return min(required, key=lambda lits: (len(lits), -min(map(len, lits))))

    try:
        lits = seq_literals(_parser.parse(pattern))
    except Exception:  # pragma: no cover - a parser change: just don't prefilter
        return None
    return tuple(sorted(lits)) if lits else None


def _trie_regex(words: set[str]) -> re.Pattern[str]:
    """A regex matching, at a position, the longest of `words` that starts there."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            body = f"(?:{body})?"
        return body

    return re.compile(f"(?=({build(trie)}))")
