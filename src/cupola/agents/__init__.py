"""Agents: instructions, a model and tools, run in a loop with sessions and human approval."""

from cupola.agents.agent import Agent
from cupola.agents.runner import MaxTurnsExceeded, OutputValidationError, Runner, RunResult
from cupola.agents.sessions import SessionStore
from cupola.tools.functions import FunctionTool, function_tool, tool

__all__ = ["Agent", "Runner", "RunResult", "SessionStore", "MaxTurnsExceeded", "OutputValidationError",
           "FunctionTool", "function_tool", "tool"]
