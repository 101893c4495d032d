"""How codegen requests (clients, SDKs, models, stubs) are recognised."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("codegen", 4, r"\bcode[\s-]?gen(?:eration)?\b"),
    (
        "codegen",
        4,
        r"\bgenerat\w*\b[^.]{0,40}?\b(?:client|sdk|stubs?|bindings|models?|types|dtos?|handlers?"
        r"|crud|code|wrappers?|interfaces?|structs?|classes|serializers?|endpoints?|routes)\b",
    ),
    ("codegen", 1.5, r"\bgenerat\w*\b"),
    (
        "codegen",
        2,
        r"\bopenapi\b|\bswagger\b|\bprotobuf\b|\.proto\b|\bgraphql\b|\bthrift\b|\bavro\b",
    ),
    ("codegen", 1.5, r"\bsdk\b|\bclient\s+library\b|\bstubs?\b|\bgrpc\b|\bdtos?\b"),
    (
        "codegen",
        3,
        r"\bwrite\s+(?:me\s+)?(?:an?\s+)?(?:\w+\s+)?(?:function|script|class|helper|module|endpoint"
        r"|handler|wrapper|cli|client|sdk|library)\b",
    ),
    ("codegen", 2, r"\brefactor\b|\bimplement\b"),
    (
        "codegen",
        3,
        r"\b(?:write|generate|create)\b[^.]{0,20}?\b(?:dockerfile|helm\s+chart|manifests?|kustomization"
        r"|terraform\s+module|makefile)\b",
    ),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (
    (
        "codegen",
        r"^(?:codegen|generate\s+(?:an?\s+|the\s+)?(?:\w+\s+)?(?:client|sdk|stubs?|models?|types|code))\b",
    ),
)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    task_actions={
        "codegen": ("generate", "create", "update"),
    },
    default_action={"codegen": "generate"},
    help={
        "codegen": "generate code: API clients, SDKs, models, stubs from OpenAPI/proto",
    },
)
