"""How pipeline requests (CI/CD pipelines) are recognised."""

from workflow.agents.harness_expert.reading import CONTEXT_KEYS, read_pipeline_request
from workflow.agents.spec import Vocabulary

__all__ = ["VOCABULARY"]

SIGNALS: tuple[tuple[str, float, str], ...] = (
    ("pipeline", 3.5, r"\bpipelines?\b"),
    ("pipeline", 4.0, r"\bci\s*/\s*cd\b|\bcicd\b"),
    ("pipeline", 2.5, r"\bci\b|\bcd\b"),
    ("pipeline", 2.5, r"\bharness\b"),
    (
        "pipeline",
        3,
        r"\bgithub\s+actions?\b|\bgitlab[\s-]ci\b|\bjenkins(?:file)?\b|\bcircleci\b|\bbuildkite\b"
        r"|\btekton\b|\bargo\s*workflows?\b|\bworkflow\s+file\b",
    ),
    ("pipeline", 1, r"\bstages?\b|\bbuilds?\b|\bworkflows?\b"),
    ("pipeline", 1.5, r"\btrigger\w*\b|\bre-?run\b|\bkick\s+off\b"),
)

VOCABULARY = Vocabulary(
    signals=SIGNALS,
    task_actions={
        "pipeline": ("create", "update", "delete", "trigger", "stop", "status", "investigate"),
    },
    default_action={"pipeline": "create"},
    help={
        "pipeline": "create, change or run a CI/CD (Harness) pipeline",
    },
    context_keys=CONTEXT_KEYS,
    reader=read_pipeline_request,
)
