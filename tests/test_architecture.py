"""Guard rails of the layout, read from the source (AST), not from a running process.

- `workflow` never imports `bot` or a Slack library.
- An agent package imports another agent package only through its public face: the package
  itself (`SPEC`, `NAME`) or a module it lists in `AgentSpec.public`.
- `bot` modules form no import cycle at run time (imports under `if TYPE_CHECKING:` never run;
  a module importing its own parent packages is Python's import order, not a cycle).
- Adding an agent is one folder plus one registry line: a toy agent added that way to a copy
  of `workflow` is picked up by the graph, routing, classifier, plans, apply and the tools.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from workflow.agents.registry import AGENT_PACKAGES, REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` but those under `if TYPE_CHECKING:` (type hints only)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every module `path` imports at run time (at any level, lazy ones included), resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    known = set(modules)
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        own_parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for target in _imports(path, known):
            # importing a.b.c runs a/__init__ and a/b/__init__ too (but a module's own parent
            # packages are already being imported when it runs: no edge back to them)
            parts = target.split(".")
            targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            targets.add(target)
        edges[name] = {t for t in targets if t in known and t != name and t not in own_parents}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_workflow_imports_no_bot_and_no_slack():
    modules = _modules("workflow")
    bad = []
    for name, path in modules.items():
        for target in _imports(path, set(modules)):
            top = target.split(".")[0]
            if top == "bot" or top.startswith("slack_") or top == "slack":
                bad.append(f"{name} imports {target}")
    assert not bad, "workflow must not depend on the Slack surface:\n" + "\n".join(bad)


def test_agent_packages_use_only_each_others_public_modules():
    modules = _modules("workflow")
    public = {
        spec.name: {f"workflow.agents.{spec.name}.{m}" for m in spec.public} for spec in REGISTRY
    }
    bad = []
    for name, path in modules.items():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] != "agents" or parts[2] not in AGENT_PACKAGES:
            continue
        own = parts[2]
        for target in _imports(path, set(modules)):
            t = target.split(".")
            if len(t) < 3 or t[:2] != ["workflow", "agents"] or t[2] not in AGENT_PACKAGES:
                continue
            other = t[2]
            if other == own or len(t) == 3 or target in public[other]:
                continue
            bad.append(f"{name} imports {target} (not public in {other}'s SPEC.public)")
    assert not bad, "\n".join(bad)


def test_bot_has_no_import_cycle():
    cycles = _cycles(_graph("bot"))
    assert not cycles, "import cycles among bot modules: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_the_cycle_check_sees_app_and_listeners_importing_each_other():
    """The cycle this test was written against: listeners importing BotRuntime from the app
    builder, which imports the listeners."""
    edges = {"bot.app": {"bot.listeners"}, "bot.listeners": {"bot.app"}, "bot.runtime": set()}
    assert _cycles(edges) == [["bot.app", "bot.listeners"]]


def test_type_checking_imports_are_not_run_time_edges():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bot.app\n")
    assert not any(isinstance(n, ast.Import) for n in _runtime_nodes(tree))


def test_the_cycle_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# --------------------------------------------------------------- one folder, one line

TOY_INIT = '''
"""toy_agent: frobnicates widgets (a test's agent)."""

from workflow.agents.spec import OPS, AgentSpec, TaskRoute, Vocabulary, lazy

SPEC = AgentSpec(
    name="toy_agent",
    supervisor=OPS,
    routes=(TaskRoute("toy", "Widget frobnication", row=18),),
    capability="widget frobnication",
    vocabulary=Vocabulary(
        signals=(("toy", 4, r"\\bfrobnicat\\w*\\b|\\bwidgets?\\b"),),
        leading=(("toy", r"^frobnicate\\b"),),
        verbs=(("frobnicate", r"\\bfrobnicate\\b"),),
        task_actions={"toy": ("frobnicate", "status")},
        default_action={"toy": "status"},
        help={"toy": "frobnicate widgets"},
    ),
    actions=("frobnicate", "status"),
    writes=frozenset({"frobnicate"}),
    backends={"toybox": "widgets are not available: TOYBOX_URL is not set"},
    appliers={"toybox": lazy("workflow.agents.toy_agent.node:apply_toybox")},
    node=lazy("workflow.agents.toy_agent.node:toy_agent"),
    tools=lazy("workflow.agents.toy_agent.node:TOOLS"),
)
'''

TOY_NODE = """
from workflow.agents.base import agent_update, make_result
from workflow.agents.spec import Applied
from workflow.deps import deps_of


async def toy_agent(state, config, runtime):
    deps = deps_of(runtime)
    action = state["context"].get("action")
    result = make_result("toy_agent", "completed", f"toy {action}", deps=deps)
    return await agent_update(result, deps=deps, config=config, state=state, plan=None)


async def apply_toybox(plan, deps):
    return Applied({"frobnicated": plan.name}, where=" in the toy box")


async def widget_count(deps, colour: str = "blue") -> int:
    'How many widgets of a colour there are.'
    return len(colour)


TOOLS = (widget_count,)
"""

TOY_CHECK = """
import asyncio

from langgraph.checkpoint.memory import InMemorySaver

from workflow.apply import _apply
from workflow.classify import classify_text
from workflow.deps import WorkflowDeps
from workflow.graph import create_devops_workflow
from workflow.plan import WRITE_ACTIONS, Plan
from workflow.routing import OPS, SUPERVISOR_AGENTS, route_for
from workflow.state import initial_state
from workflow.tools.langchain import TOOL_NAMES, operations_tools

assert "toy_agent" in SUPERVISOR_AGENTS[OPS], SUPERVISOR_AGENTS
assert route_for("toy").agent == "toy_agent"
request = classify_text("frobnicate the widgets of checkout in staging")
assert request.task_type == "toy", request
assert request.context["action"] == "frobnicate", request
assert classify_text("widgets of checkout").context["action"] == "status"
assert "frobnicate" in WRITE_ACTIONS
assert TOOL_NAMES[-1] == "widget_count", TOOL_NAMES
deps = WorkflowDeps.embedded()
assert deps.why_missing("toybox") == "widgets are not available: TOYBOX_URL is not set"


async def main():
    graph = create_devops_workflow(InMemorySaver())
    assert "toy_agent" in graph.get_graph().nodes
    config = {"configurable": {"thread_id": "toy"}}
    state = initial_state("toy", {"action": "status", "service": "x"}, "toy")
    final = await graph.ainvoke(state, config, context=deps)
    assert final["subagent_results"]["toy_agent"]["summary"] == "toy status", final
    plan = Plan(action="frobnicate", kind="Widget", name="w1", backend="toybox",
                environment="dev", target="widget/w1").with_hash()
    approval = {"status": "approved", "plan_hash": plan.plan_hash, "votes": []}
    outcome = await _apply({"plan": plan.model_dump(), "approval": approval}, deps)
    assert outcome["summary"] == "applied frobnicate of widget/w1 in the toy box", outcome
    assert outcome["result"] == {"frobnicated": "w1"}
    tool = operations_tools(deps)[-1]
    assert tool.name == "widget_count" and set(tool.args) == {"colour"}, tool.args
    assert await tool.ainvoke({"colour": "red"}) == 3


asyncio.run(main())
print("toy agent picked up")
"""


def test_adding_an_agent_is_one_folder_and_one_registry_line(tmp_path):
    copy = tmp_path / "workflow"
    shutil.copytree(ROOT / "workflow", copy, ignore=shutil.ignore_patterns("__pycache__"))
    toy = copy / "agents" / "toy_agent"
    toy.mkdir()
    (toy / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (toy / "node.py").write_text(textwrap.dedent(TOY_NODE))
    registry = copy / "agents" / "registry.py"
    text = registry.read_text()
    line = '    "incident_agent",\n'
    assert text.count(line) == 1
    registry.write_text(text.replace(line, line + '    "toy_agent",\n'))

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", TOY_CHECK],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "toy agent picked up" in proc.stdout
