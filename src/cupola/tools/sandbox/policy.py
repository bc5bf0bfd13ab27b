"""The argument checks in front of the sandbox: allowed programs, their allowed options, paths.

Defence in depth: every call is checked here *and* runs in the operating-system sandbox. A call
passes when the program is allowlisted, every option is one its :class:`ProgramSpec` allows
(bundles letter by letter, long options spelled out exactly), and every positional argument and
option value stays inside the workspace when read as a path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from cupola.errors import InvalidParameter, NotFound, UsageError
from cupola.tools.sandbox.programs import SPECS, ProgramSpec, parse_options, runs_code


class SandboxError(UsageError):
    """A path, program or argument would leave the sandbox (or is not allowed in it)."""

    code = "sandbox_violation"


class _Workspace(Protocol):
    root: Any

    def inside(self, path: str) -> bool: ...


def program_specs(allow: Mapping[str, Any] | Iterable[str]) -> dict[str, ProgramSpec]:
    """Validate an allowlist: ``[ls, grep]`` or ``{ls: null, zip: {options: [-r, -q]},
    python3: {runs_code: true}}``; built-in option lists are used where none is given."""
    items = allow.items() if isinstance(allow, Mapping) else ((name, None) for name in allow)
    specs: dict[str, ProgramSpec] = {}
    for name, entry in items:
        name = str(name)
        if not name or "/" in name or "\\" in name or "\0" in name:
            raise InvalidParameter(f"allowed program {name!r}: give a bare program name such as 'ls'", param="allow")
        if entry is not None and not isinstance(entry, Mapping):
            raise InvalidParameter(
                f"allowed program {name!r}: expected options like {{options: [-l, --all]}}, got {entry!r}; lists "
                "of forbidden flags are not supported any more (options are allowlisted)", param="allow")
        entry = dict(entry or {})
        unknown = set(entry) - {"options", "runs_code"}
        if unknown:
            raise InvalidParameter(f"allowed program {name!r}: unknown key(s) {', '.join(sorted(unknown))}; "
                                   "known: options, runs_code", param="allow")
        code = bool(entry.get("runs_code", False))
        if runs_code(name) and not code:
            raise InvalidParameter(
                f"{name} runs other programs or code, so allowing it allows everything the sandbox allows; "
                f"if you mean it, allow it explicitly: {{{name}: {{runs_code: true}}}}", param="allow")
        if code:
            specs[name] = ProgramSpec(runs_code=True)
        elif "options" in entry:
            try:
                specs[name] = parse_options(entry["options"] or [])
            except (ValueError, TypeError) as exc:
                raise InvalidParameter(f"allowed program {name!r}: {exc}", param="allow") from exc
        else:
            specs[name] = SPECS.get(name, ProgramSpec())
    return specs


class CommandPolicy:
    """Which programs may run with which options, and where they are looked up."""

    def __init__(self, ws: _Workspace, allow: Mapping[str, Any] | Iterable[str], *, path: str) -> None:
        self.ws = ws
        self.specs = program_specs(allow)
        self.path = os.pathsep.join(d for d in path.split(os.pathsep) if os.path.isabs(d) and not ws.inside(d))

    @property
    def programs(self) -> list[str]:
        return sorted(self.specs)

    def argv(self, command: str, args: list[str]) -> list[str]:
        """``[absolute program, *args]`` for an allowed call; :class:`SandboxError` otherwise."""
        allowed = ", ".join(self.programs) or "none"
        if not command or "/" in command or "\\" in command or "\0" in command:
            raise SandboxError(f"command {command!r} refused: give a bare program name (allowed: {allowed})")
        if command not in self.specs:
            raise SandboxError(f"command {command!r} is not allowed; allowed commands: {allowed}")
        for arg in args:
            if "\0" in arg:
                raise SandboxError(f"argument {arg!r} contains a NUL byte")
        spec = self.specs[command]
        found = shutil.which(command, path=self.path)
        if found is None or self.ws.inside(found):
            raise NotFound(f"command {command!r} is allowed but not installed (not found on {self.path})")
        if spec.runs_code:
            return [found, *args]
        self._check(command, spec, args)
        before = list(spec.before)
        if command in ("awk", "gawk") and os.path.basename(os.path.realpath(found)).startswith("gawk"):
            before.append("--sandbox")  # gawk: no system(), no redirections, no getline from files
        return [found, *before, *args]

    def _path(self, command: str, arg: str) -> None:
        parts = [arg, arg.split("=", 1)[1]] if "=" in arg else [arg]
        for part in parts:
            if part and not self.ws.inside(part):
                raise SandboxError(f"argument {arg!r} of {command} points outside the workspace; use paths "
                                   "relative to the workspace root")

    def _refuse(self, command: str, option: str, spec: ProgramSpec, bundle: str | None = None) -> None:
        within = f" (in {bundle!r})" if bundle and bundle != option else ""
        raise SandboxError(f"option {option}{within} is not allowed for {command}; allowed options: "
                           f"{spec.describe()}")

    def _check(self, command: str, spec: ProgramSpec, args: list[str]) -> None:
        if spec.dash_first and args and not args[0].startswith("-"):
            raise SandboxError(f"give {command}'s options with a leading dash (e.g. -cf, not cf)")
        i, options_done, name = 0, False, command
        while i < len(args):
            arg = args[i]
            i += 1
            if options_done or arg == "-" or not arg.startswith("-"):
                if spec.subcommands is not None and not options_done:
                    if arg not in spec.subcommands:
                        raise SandboxError(f"{command} {arg!r} is not allowed; allowed: "
                                           f"{', '.join(sorted(spec.subcommands))}")
                    name, spec = f"{command} {arg}", spec.subcommands[arg]
                    continue
                self._path(name, arg)
                continue
            if arg == "--":
                options_done = True
                continue
            values = 0
            if arg in spec.words:
                values = spec.words[arg]
            elif arg.startswith("--"):
                option, eq, value = arg.partition("=")
                if option in spec.long and not eq:
                    pass
                elif option in spec.long_optional:
                    self._path(name, value)
                elif option in spec.long_valued:
                    values = 0 if eq else 1
                    self._path(name, value)
                else:
                    self._refuse(name, option, spec)
            elif spec.digits and arg[1:].isdigit():
                pass
            elif spec.words and not (spec.flags or spec.valued or spec.optional):
                self._refuse(name, arg, spec)  # find-style: -name, never a bundle of letters
            else:
                values = self._bundle(name, spec, arg)
            for _ in range(values):
                if i >= len(args):
                    raise SandboxError(f"option {arg} of {name} needs a value")
                self._path(name, args[i])
                i += 1

    def _bundle(self, name: str, spec: ProgramSpec, arg: str) -> int:
        """Check ``-abc`` letter by letter; returns 1 when the last letter takes the next argument."""
        for j, letter in enumerate(arg[1:], start=1):
            if letter in spec.flags:
                continue
            if letter in spec.valued or letter in spec.optional:
                rest = arg[j + 1:]
                if rest:
                    self._path(name, rest)
                    return 0
                return 1 if letter in spec.valued else 0
            self._refuse(name, f"-{letter}", spec, arg)
        return 0
