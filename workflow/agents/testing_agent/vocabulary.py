"""How test requests (write, run, fix tests; coverage) are recognised."""

from workflow.agents.spec import Vocabulary
from workflow.agents.testing_agent.reading import CONTEXT_KEYS, read_test_request

__all__ = ["VOCABULARY"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    (
        "test",
        4,
        r"\b(?:unit|integration|e2e|end[\s-]to[\s-]end|smoke|load|regression|contract|acceptance"
        r"|performance|perf|stress|ui|api|component)\s+(?:tests?|suites?|specs?|testing)\b",
    ),
    ("test", 3, r"\btests\b"),
    ("test", 2, r"\btest\b|\btesting\b"),
    ("test", 4, r"\btest\s+(?:suite|coverage|cases?|plan|run|results?)\b"),
    ("test", 3, r"\bcoverage\b"),
    ("test", 1.5, r"\bsuite\b|\bfixtures?\b|\bmocks?\b"),
    (
        "test",
        3,
        r"\bpytest\b|\bjest\b|\bmocha\b|\bjunit\b|\bgo\s+test\b|\bcypress\b|\bplaywright\b"
        r"|\bselenium\b|\bk6\b|\blocust\b|\bgatling\b",
    ),
    ("test", 2.5, r"\bflak(?:y|iness)\b"),
    ("test", 6, r"\bscaffold\w*\s+(?:\w+\s+)?tests?\b|\btests?\s+scaffold"),
    ("test", 5, r"\bschemathesis\b|\bfuzz(?:ing|er)?\b[^.?]{0,30}\bapi\b"),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (
    ("test", r"^(?:run\s+(?:the\s+)?(?:[\w-]+\s+)?(?:tests?|suite|specs?)|test)\b"),
)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    task_actions={
        "test": ("test", "generate", "create", "update", "status"),
    },
    default_action={"test": "test"},
    help={
        "test": "run API tests (schemathesis) against a live service, read its test "
        "coverage report, write or run tests",
    },
    context_keys=CONTEXT_KEYS,
    reader=read_test_request,
)
