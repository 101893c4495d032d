"""Numbers typed with other Unicode digits (superscripts, circled, full-width, other scripts).

`str.isdigit()` accepts "³" and "①" but `int()` does not, so they used to crash the
classifier. They are now read as the ASCII digits they stand for (see `clean_text`);
numerals that are not digits (CJK 三, fractions, Roman numerals) are left alone.
"""

from __future__ import annotations

import ast
import sys
import unicodedata
from pathlib import Path

import pytest

from workflow.classify import classify_text
from workflow.classify.rules import (
    ascii_digits,
    clean_text,
    duration_minutes,
    normalise_incident_id,
    normalise_time_range,
)


@pytest.mark.parametrize(
    ("text", "replicas"),
    [
        ("kubectl scale deployment/a --replicas=³ -n uat", 3),
        ("scale web --replicas ¹ -n dev", 1),
        ("scale web replicas=①", 1),
        ("scale web --replicas=\uff13 -n dev", 3),
        ("scale web to \uff13 replicas", 3),
        ("scale web --replicas=\uff13\uff10", 30),
        ("scale web to ٣ replicas", 3),  # Arabic-Indic
        ("scale web --replicas=\U0001d7d1", 3),  # mathematical bold
        ("scale web to ⑩ replicas", 10),
        ("scale web to ² pods", 2),
    ],
)
def test_unicode_digits_are_read_as_ascii_digits(text, replicas):
    result = classify_text(text)
    assert result.task_type == "kubernetes"
    assert result.context["replicas"] == replicas
    assert result.context["action"] == "scale"


def test_mentions_and_durations_with_unicode_digits():
    assert classify_text("<@UBOT> scale web to \uff14 replicas -n dev").context["replicas"] == 4
    assert normalise_time_range("last ³ hours") == "3h"
    assert normalise_time_range("\uff12h") == "2h"
    assert duration_minutes("²h") == 120
    assert normalise_incident_id("INC-①②③") == "INC-123"
    assert normalise_incident_id("inc ٤٥٦") == "INC-456"


def test_numerals_that_are_not_digits_are_left_alone():
    assert ascii_digits("三 ½ Ⅻ \u3007 abc") == "三 ½ Ⅻ \u3007 abc"
    assert ascii_digits("v\uff11.\uff12.\uff13 ⁴² ⒈ ⑴") == "v1.2.3 42 1 1"
    assert clean_text("scale web to ³")[0] == "scale web to 3"
    result = classify_text("scale web to 三 replicas")
    assert "replicas" not in result.context


def _numeric_chars() -> list[str]:
    return [
        c
        for c in map(chr, range(0x80, sys.maxunicode + 1))
        if c.isnumeric() and unicodedata.category(c) != "Cs"
    ]


def test_no_numeric_character_crashes_the_classifier():
    chars = _numeric_chars()
    assert len(chars) > 1000
    templates = (
        "kubectl scale deployment/a --replicas={c} -n uat",
        "scale web to {c}{c} replicas",
        "logs web last {c}h",
        "errors for web in the last {c} minutes",
        "incident {c}{c}{c}",
        "silence HighLatency for {c}h",
        "rollback web to v{c}.{c}",
    )
    for c in chars:
        for template in templates:
            classify_text(template.format(c=c))  # must not raise


def test_classifier_never_calls_isdigit_on_text():
    """`isdigit()` accepts characters `int()` refuses; the classifier uses `isdecimal()`,
    ASCII-only checks, or `ascii_digits` first."""
    package = Path(__file__).resolve().parents[1] / "workflow" / "classify"
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ("isdigit", "isnumeric")
        ]
        assert calls == [], f"{path.name}: isdigit/isnumeric at lines {calls}"
