"""Agents' commands in an operating-system sandbox (see :mod:`cupola.tools.sandbox.runner`), behind
argument checks that allowlist programs and their options (:mod:`cupola.tools.sandbox.policy`)."""

from cupola.tools.sandbox.policy import CommandPolicy, SandboxError, program_specs
from cupola.tools.sandbox.programs import SPECS, ProgramSpec, runs_code
from cupola.tools.sandbox.runner import (
    Availability,
    CommandResult,
    Limits,
    Sandbox,
    SandboxFailure,
    SandboxUnavailable,
    availability,
)

__all__ = ["SPECS", "Availability", "CommandPolicy", "CommandResult", "Limits", "ProgramSpec", "Sandbox",
           "SandboxError", "SandboxFailure", "SandboxUnavailable", "availability", "program_specs", "runs_code"]
