"""The bot's process-local counters, rendered for /metrics in the Prometheus text format.

The event loop's lag (`bot.looplag.LoopLag`) is rendered next to them by the server.
"""

from __future__ import annotations

from collections import defaultdict

__all__ = ["Metrics"]


class Metrics:
    """A few process-local counters, rendered in the Prometheus text format."""

    HELP = {
        "devops_bot_slack_requests_total": "HTTP requests received on the Slack endpoint.",
        "devops_bot_slack_retries_ignored_total": "Slack event retries acked and ignored.",
        "devops_bot_runs_started_total": "Graph runs started from Slack.",
        "devops_bot_approval_decisions_total": "Approval requests closed from Slack, by outcome.",
        "devops_bot_votes_refused_total": "Approval clicks refused (policy, stale, late).",
        "devops_bot_clicks_foreign_total": "Clicks from a message or modal not of their request.",
    }

    def __init__(self) -> None:
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        series = self._values[name]
        series[key] = series.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name, help_text in self.HELP.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            series = self._values.get(name) or {(): 0.0}
            for labels, value in sorted(series.items()):
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value:g}" if labels else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
