"""How scaffold requests (new services, projects, repositories) are recognised."""

from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("scaffold", 4.5, r"\bscaffold\w*\b|\bbootstrap\w*\b|\bcookiecutter\b"),
    ("scaffold", 2, r"\bboilerplate\b|\bskeleton\b|\bstarter\b|\btemplates?\b"),
    (
        "scaffold",
        3,
        r"\b(?:new|create|start|init(?:ialize)?|set\s*up|setup|make|spin\s+up)\b[^.]{0,30}?"
        r"\b(?:(?:micro)?service|project|repo|repository|app|application|library|lib|monorepo)\b",
    ),
    (
        "scaffold",
        1.5,
        r"\b(?:fastapi|flask|django|express|spring(?:\s*boot)?|nestjs|next\.?js|golang|go|rust"
        r"|node(?:\.?js)?|typescript|python|java|kotlin)\s+(?:service|app|project|api|repo|microservice)\b",
    ),
)

# The imperative a request starts with (after politeness): first match wins.
LEADING: tuple[tuple[str, str], ...] = (("scaffold", r"^(?:scaffold|bootstrap)\b"),)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    leading=LEADING,
    task_actions={
        "scaffold": ("create",),
    },
    default_action={"scaffold": "create"},
    help={
        "scaffold": "create a new service/project/repository from a template",
    },
)
