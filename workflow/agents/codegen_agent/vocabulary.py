"""How codegen requests (clients, SDKs, models, stubs, API changes) are recognised."""

from workflow.agents.codegen_agent.reading import CONTEXT_KEYS, read_codegen_request
from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("codegen", 4, r"\bcode[\s-]?gen(?:eration)?\b"),
    (
        "codegen",
        4,
        r"\bgen(?:erat\w*)?\b[^.]{0,40}?\b(?:client|sdk|stubs?|bindings|models?|types|dtos?"
        r"|handlers?|crud|code|wrappers?|interfaces?|structs?|classes|serializers?|endpoints?"
        r"|routes)\b",
    ),
    ("codegen", 1.5, r"\bgenerat\w*\b"),
    (
        "codegen",
        2,
        r"\bopenapi\b|\bswagger\b|\bprotobuf\b|\.proto\b|\bgraphql\b|\bthrift\b|\bavro\b",
    ),
    ("codegen", 1.5, r"\bsdk\b|\bclient\s+library\b|\bstubs?\b|\bgrpc\b|\bdtos?\b"),
    ("codegen", 4, r"\bpydantic\b|\bdataclass(?:es)?\b"),
    (
        "codegen",
        5,
        r"\b(?:python|typescript|ts|go|golang|java|kotlin|rust|js|javascript)\s+(?:api\s+)?"
        r"(?:client|sdk|bindings)\b|\b(?:client|sdk)\s+for\s+(?:the\s+)?[\w-]+(?:'s)?\s+api\b",
    ),
    # URLs reach the signals masked as "@url"
    ("codegen", 5, r"@url\b[^.?]{0,40}\bbreaking\b|\bbreaking\b[^.?]{0,40}@url\b"),
    ("codegen", 5, r"\bmodels?\s+(?:from|for|of)\b[^.?]{0,40}\bschema\b"),
    (
        "codegen",
        6,
        r"\b(?:spec|api|openapi|swagger|schema|contract)\b[^.?]{0,30}\bbreaking\b"
        r"|\bbreaking\b[^.?]{0,30}\b(?:spec|api|openapi|swagger)\b"
        r"|\bsince\s+the\s+(?:last|previous)\s+(?:client|sdk|spec|version)\b"
        r"|\bwhat\s+changed\s+in\s+the\s+[\w-]+\s+(?:api|spec|openapi)\b",
    ),
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
        r"^(?:codegen|gen(?:erate)?\s+(?:me\s+)?(?:an?\s+|the\s+)?(?:\w+\s+)?"
        r"(?:client|sdk|stubs?|models?|types|code))\b",
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
        "codegen": "generate code from an OpenAPI document: API clients, pydantic models; "
        "compare two versions of a service's API (breaking changes)",
    },
    context_keys=CONTEXT_KEYS,
    reader=read_codegen_request,
)
