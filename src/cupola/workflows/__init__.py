"""Workflows: compose agents and functions (sequential, concurrent, loops, hand-offs, approvals)."""

from cupola.workflows.engine import Workflow, WorkflowRunner, run_to_end
from cupola.workflows.nodes import AgentStep, Approval, Concurrent, FunctionStep, Loop, Route, Sequential
from cupola.workflows.store import WorkflowStore

__all__ = ["Workflow", "WorkflowRunner", "WorkflowStore", "run_to_end", "AgentStep", "FunctionStep",
           "Sequential", "Concurrent", "Loop", "Route", "Approval"]
