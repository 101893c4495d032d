"""The `devops-bot` command line: its commands and options."""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]

_OUT_HELP = "write the run's files (a plan's, a result's) and charts into DIR"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="devops-bot",
        description="ChatOps for DevOps: classify a request, run it through the supervisor "
        "graph, and approve or reject what it wants to change.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("classify", help="print the task type, route and context of TEXT")
    c.add_argument("text", nargs="+")

    r = sub.add_parser("run", help="run TEXT through the graph in a new thread")
    r.add_argument("text", nargs="+")
    r.add_argument("--as", dest="user", default=None, help="who is asking (default: $USER)")
    r.add_argument("--sandbox", action="store_true", help="use the built-in sandbox cluster")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--thread", default=None, help="thread id (default: a new one)")
    r.add_argument("--out", metavar="DIR", default=None, help=_OUT_HELP)
    r.add_argument(
        "--spec",
        metavar="FILE",
        default=None,
        help="an OpenAPI document (JSON or YAML) for an API request, used instead of the catalog's",
    )

    a = sub.add_parser("approve", help="approve the pending request of THREAD")
    a.add_argument("thread")
    a.add_argument("--as", dest="user", required=True)
    a.add_argument(
        "--group",
        dest="groups",
        action="append",
        default=[],
        help="a user group you belong to (repeatable)",
    )
    a.add_argument("--sandbox", action="store_true", help=argparse.SUPPRESS)
    a.add_argument("--json", action="store_true")
    a.add_argument("--out", metavar="DIR", default=None, help=_OUT_HELP)

    j = sub.add_parser("reject", help="reject the pending request of THREAD")
    j.add_argument("thread")
    j.add_argument("--as", dest="user", required=True)
    j.add_argument("--reason", required=True)
    j.add_argument("--group", dest="groups", action="append", default=[])
    j.add_argument("--sandbox", action="store_true", help=argparse.SUPPRESS)
    j.add_argument("--json", action="store_true")
    j.add_argument("--out", metavar="DIR", default=None, help=_OUT_HELP)

    m = sub.add_parser(
        "remediate",
        help="run remediation STEP (r1, r2, ...) that THREAD's incident investigation offered",
    )
    m.add_argument("thread")
    m.add_argument("step", help="the step id shown by the investigation, e.g. r1")
    m.add_argument("--as", dest="user", default=None, help="who is asking (default: $USER)")
    m.add_argument("--json", action="store_true")
    m.add_argument("--out", metavar="DIR", default=None, help=_OUT_HELP)

    i = sub.add_parser("incident", help="incident records: 'summary THREAD' drafts a postmortem")
    i.add_argument("action", choices=["summary"])
    i.add_argument("thread")

    s = sub.add_parser("status", help="show where THREAD stands")
    s.add_argument("thread")
    s.add_argument("--json", action="store_true")
    s.add_argument("--out", metavar="DIR", default=None, help=_OUT_HELP)

    n = sub.add_parser("pending", help="list paused approvals")
    n.add_argument("--json", action="store_true")

    t = sub.add_parser(
        "audit",
        help="print the audit trail: requests, votes, decisions, applies, rollouts, failures",
    )
    t.add_argument("--thread", default=None, help="only this thread")
    t.add_argument(
        "--since", default=None, help="a duration (30m, 2h, 7d) or an ISO time (2026-11-25T10:00Z)"
    )
    t.add_argument("--limit", type=int, default=1000, help="newest N entries (default 1000)")
    t.add_argument("--json", action="store_true", help="one JSON object per line")

    d = sub.add_parser(
        "demo",
        help="sandbox walk-through: a production deploy pauses, self-approval is refused, "
        "a second user approves, it is applied",
    )
    d.add_argument("--image", default=None, help="default: the next patch release of api-server")

    sub.add_parser("graph", help="print the graph as Mermaid")
    sub.add_parser("examples", help="run the seed's three scenarios and check their routing")

    b = sub.add_parser("sandbox", help="inspect, reset or serve the sandbox cluster")
    b.add_argument(
        "action",
        choices=["show", "reset", "serve"],
        help="serve: run its Kubernetes API in this process until interrupted",
    )
    b.add_argument("--port", type=int, default=0, help="serve: port (default: a free one)")
    b.add_argument(
        "--kubeconfig", default=None, help="serve: write a kubeconfig for it to this file"
    )

    v = sub.add_parser("serve", help="serve Slack: --http (/slack/events) or --socket")
    mode = v.add_mutually_exclusive_group(required=True)
    mode.add_argument("--http", action="store_true", help="HTTP mode (Events API, production)")
    mode.add_argument("--socket", action="store_true", help="Socket Mode (needs SLACK_APP_TOKEN)")
    v.add_argument("--port", type=int, default=None, help="HTTP port (default: $PORT or 3000)")
    v.add_argument("--host", default="0.0.0.0", help="HTTP bind address")
    return p
