"""Workflows defined in Python files: ``cupola workflow run FILE`` and ``cupola serve --workflows DIR``.

A workflow file defines ``workflow``: a :class:`Workflow`, or a function taking a
:class:`~cupola.agents.loader.ToolContext` (for knowledge-base tools) and returning one.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from cupola.agents.loader import ToolContext
from cupola.errors import InvalidParameter, NotFound, UsageError
from cupola.workflows.engine import Workflow
from cupola.workflows.nodes import AgentStep, Approval, Concurrent, Loop, Node, Route, Sequential


def load_workflow(path: Path, context: ToolContext | None = None) -> Workflow:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    name = f"cupola_workflow_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidParameter(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise InvalidParameter(f"{path}: {type(exc).__name__}: {exc}") from exc
    found: Any = getattr(module, "workflow", None)
    if callable(found) and not isinstance(found, Workflow):
        found = found(context or ToolContext())
    if not isinstance(found, Workflow):
        raise InvalidParameter(f"{path} must define `workflow`: a Workflow, or a function taking a ToolContext "
                               "and returning one")
    return found


class WorkflowRegistry:
    def __init__(self, workflows: dict[str, Workflow]) -> None:
        self.workflows = workflows

    @classmethod
    def load(cls, folder: Path, context: ToolContext | None = None) -> "WorkflowRegistry":
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError(f"workflows folder {folder} does not exist")
        found: dict[str, Workflow] = {}
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            wf = load_workflow(path, context)
            if wf.name in found:
                raise InvalidParameter(f"{path}: workflow {wf.name!r} is defined twice in {folder}")
            found[wf.name] = wf
        return cls(found)

    def get(self, name: str) -> Workflow:
        if name not in self.workflows:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise NotFound(f"no workflow named {name!r} (served workflows: {known})", param="workflow",
                           hint="serve a folder of workflow files with `cupola serve --workflows DIR`")
        return self.workflows[name]

    def describe(self) -> list[dict[str, Any]]:
        """Each workflow's name, description, top-level steps and whole node tree (``graph``)."""
        return [{"name": w.name, "description": w.description, "steps": [s.name for s in w.steps],
                 "graph": node_tree(w.root, w.name)} for w in self.workflows.values()]


def node_tree(node: Node, path: str) -> dict[str, Any]:
    """A node and its children as data, for drawing: ``kind``, ``name``, ``path`` (the step path run
    events carry; a loop's children have ``{i}`` where the iteration number goes) and, by kind,
    ``children`` (sequential), ``branches`` (concurrent), ``body`` / ``critic`` / ``max_iterations``
    (loop), ``router`` / ``routes`` / ``default`` (route), ``agent`` / ``model`` / ``tools`` (agent),
    ``prompt`` (approval, when it is a fixed text)."""
    out: dict[str, Any] = {"kind": node.kind, "name": node.name, "path": path}
    if isinstance(node, Sequential):
        out["children"] = [node_tree(s, f"{path}/{s.name}") for s in node.steps]
    elif isinstance(node, Concurrent):
        out["branches"] = [node_tree(b, f"{path}/{b.name}") for b in node.branches]
    elif isinstance(node, Loop):
        out["body"] = node_tree(node.body, f"{path}/{{i}}/{node.body.name}")
        out["critic"] = node_tree(node.critic, f"{path}/{{i}}/{node.critic.name}")
        out["max_iterations"] = node.max_iterations
    elif isinstance(node, Route):
        out["router"] = node_tree(node.router, f"{path}/{node.router.name}")
        out["routes"] = {key: node_tree(n, f"{path}/{n.name}") for key, n in node.routes.items()}
        out["default"] = node.default
    elif isinstance(node, AgentStep):
        out.update(agent=node.agent.name, model=node.agent.model, tools=[t.name for t in node.agent.function_tools])
    elif isinstance(node, Approval):
        out["prompt"] = node.prompt if isinstance(node.prompt, str) else None
    return out
