"""PNG charts of metric results for Slack (matplotlib on the Agg backend, no display).

matplotlib is the `charts` extra (`pip install 'devops-bot[charts]'`): without it
`render_chart` raises `ChartsUnavailable`, and the numbers are given without a picture.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from workflow.tools.prometheus import MetricResult

__all__ = ["CHARTS_EXTRA", "ChartsUnavailable", "render_chart"]

CHARTS_EXTRA = "pip install 'devops-bot[charts]'"


class ChartsUnavailable(RuntimeError):
    """matplotlib is not installed (the `charts` extra)."""


def _matplotlib() -> tuple[Any, Any]:
    """(matplotlib.dates, matplotlib.figure.Figure), imported on first use."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartsUnavailable(
            f"charts are not installed here (the `charts` extra: {CHARTS_EXTRA})"
        ) from None
    return mdates, Figure


MAX_LEGEND_ENTRIES = 10


def _label(labels: dict[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not shown:
        return labels.get("__name__", "value")
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))


def render_chart(result: MetricResult, *, title: str, width: float = 8, height: float = 4) -> bytes:
    """A PNG of `result`: time (UTC) on x, one line per series; says so when there is no data."""
    mdates, Figure = _matplotlib()
    # A Figure without pyplot: no global state, safe from threads.
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    drawn = 0
    for series in result.series:
        if not series.points:
            continue
        times = [datetime.fromtimestamp(ts, tz=UTC) for ts, _ in series.points]
        values = [value for _, value in series.points]
        ax.plot(times, values, linewidth=1.5, label=_label(series.labels))
        drawn += 1
    if drawn == 0:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
        if 1 < drawn <= MAX_LEGEND_ENTRIES:
            ax.legend(loc="best", fontsize="small")
    ax.set_title(title)
    ax.set_xlabel("time (UTC)")
    if result.unit:
        ax.set_ylabel(result.unit)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
