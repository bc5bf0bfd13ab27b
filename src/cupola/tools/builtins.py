"""Built-in, sandboxed tools for Cupola agents: files in a workspace, allowlisted commands, a calculator.

Sandbox guarantees (standard library only):

* **Paths.** Every path a model gives is relative to the :class:`Workspace` root. Absolute paths,
  NUL bytes and empty file names are refused. The path is resolved with ``os.path.realpath``
  (``..`` and every symlink, in any component, followed) and must land inside the real root;
  otherwise :class:`SandboxError` is raised. A symlink may point elsewhere *inside* the root.
* **Reads** refuse directories, binary files (a NUL byte in the first 8 KiB) and files larger
  than ``max_read_bytes``; the final component is opened with ``O_NOFOLLOW``.
* **Writes** refuse content larger than ``max_write_bytes``, never write through a symlink or
  into a parent that resolves outside, and are atomic: a temporary file in the same directory
  is written, flushed and ``os.replace``-d onto the target, so a crash never leaves half a file.
* **Listings** never follow a symlink out of the root (such entries are marked, not followed).
* **Commands** run only programs named in an allowlist (bare names, looked up on an absolute-only
  PATH, never inside the workspace), with ``shell=False``, ``cwd`` the root, ``stdin`` closed, a
  minimal environment, a timeout and capped output. Every argument (and the value after ``=``
  or after a short flag) must resolve inside the root, and per-program forbidden flags are refused.
* **Calculator** evaluates arithmetic by walking the ``ast``; no ``eval``, no names or attributes
  beyond a fixed set of math functions, and no exponent or result large enough to hang a worker.

Not defended: a concurrent process swapping directories for symlinks between check and use, and
what an allowlisted program does on its own (allow only programs you trust with the workspace).
"""

from __future__ import annotations

import ast
import math
import operator
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PureWindowsPath
from typing import Annotated, Any

from cupola.errors import InvalidParameter, NotFound, RuntimeFailure, UsageError
from cupola.tools.functions import FunctionTool, function_tool

_SNIFF = 8192


class SandboxError(UsageError):
    """A path, program or argument would leave the sandbox (or is not allowed in it)."""

    code = "sandbox_violation"


class CommandTimeout(RuntimeFailure):
    """An allowlisted command ran past its time limit and was killed."""

    status = 504
    code = "command_timeout"


class Workspace:
    """A directory that file and command tools are confined to."""

    def __init__(self, root: Path | str, *, max_read_bytes: int = 1_000_000,
                 max_write_bytes: int = 1_000_000, max_list: int = 1000) -> None:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise NotFound(f"workspace root {root} is not an existing directory")
        self.root = real
        self.max_read_bytes, self.max_write_bytes, self.max_list = max_read_bytes, max_write_bytes, max_list

    def inside(self, path: str | Path) -> bool:
        """Whether ``path`` (relative to the root, or absolute) resolves inside the root."""
        return Path(os.path.realpath(self.root / path)).is_relative_to(self.root)

    def resolve(self, path: str, *, file: bool = False) -> Path:
        """The real path for a model-supplied relative path; :class:`SandboxError` if it escapes.

        With ``file=True`` the path must name something below the root, not the root itself.
        """
        if "\0" in path:
            raise SandboxError(f"path {path!r} contains a NUL byte; give a plain relative path")
        if path.startswith(("/", "\\", "~")) or PureWindowsPath(path).is_absolute():
            raise SandboxError(f"absolute path {path!r} refused: paths are relative to the workspace "
                               "root, e.g. 'notes/todo.txt'")
        if file and not path.strip():
            raise SandboxError("empty path: give the file's path relative to the workspace root")
        real = Path(os.path.realpath(self.root / path))
        if not real.is_relative_to(self.root):
            raise SandboxError(f"path {path!r} leaves the workspace (through '..' or a symlink); "
                               "only files inside the workspace root can be used")
        if file and real == self.root:
            raise SandboxError(f"path {path!r} is the workspace root itself; give a file's path")
        return real

    def relative(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix() or "."


# -- file tools -----------------------------------------------------------------------------

def _entry_line(ws: Workspace, entry: os.DirEntry[str]) -> str:
    if entry.is_symlink() and not ws.inside(entry.path):
        return f"link  -  {entry.name} (points outside the workspace, not followed)"
    if entry.is_symlink() and not os.path.exists(entry.path):
        return f"link  -  {entry.name} (broken symlink)"
    if entry.is_dir():
        return f"dir   -  {entry.name}/"
    return f"file  {entry.stat().st_size}  {entry.name}"


def list_directory(ws: Workspace, path: str = ".") -> str:
    real = ws.resolve(path or ".")
    if not real.exists():
        raise NotFound(f"{path!r} does not exist in the workspace; list '.' to see what is there")
    if not real.is_dir():
        raise InvalidParameter(f"{path!r} is a file, not a directory; use read_file to read it",
                               param="path")
    with os.scandir(real) as it:
        entries = sorted(it, key=lambda e: e.name)
    shown = [_entry_line(ws, e) for e in entries[:ws.max_list]]
    head = f"{ws.relative(real)}: {len(entries)} entries (type size name)"
    left = len(entries) - len(shown)
    tail = [f"... {left} more entries left out (limit {ws.max_list}); list a subdirectory"] if left else []
    return "\n".join([head, *shown, *tail])


def read_text(ws: Workspace, path: str) -> str:
    real = ws.resolve(path, file=True)
    if not real.exists():
        raise NotFound(f"{path!r} does not exist in the workspace; use list_files to see what is there")
    if real.is_dir():
        raise InvalidParameter(f"{path!r} is a directory; use list_files to see its contents",
                               param="path")
    size = real.stat().st_size
    if size > ws.max_read_bytes:
        raise InvalidParameter(f"{path!r} is {size} bytes, larger than the read limit of "
                               f"{ws.max_read_bytes} bytes; it cannot be read whole", param="path")
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        data = f.read(ws.max_read_bytes + 1)
    if len(data) > ws.max_read_bytes:
        raise InvalidParameter(f"{path!r} grew past the read limit of {ws.max_read_bytes} bytes",
                               param="path")
    if b"\0" in data[:_SNIFF]:
        raise InvalidParameter(f"{path!r} looks binary (NUL bytes); only text files can be read",
                               param="path")
    return data.decode("utf-8", errors="replace")


def write_text(ws: Workspace, path: str, content: str) -> str:
    data = content.encode("utf-8")
    if len(data) > ws.max_write_bytes:
        raise InvalidParameter(f"content is {len(data)} bytes, larger than the write limit of "
                               f"{ws.max_write_bytes} bytes; write a smaller file", param="content")
    real = ws.resolve(path, file=True)
    if real.is_dir():
        raise InvalidParameter(f"{path!r} is a directory; give a file path", param="path")
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InvalidParameter(f"cannot create the folders for {path!r}: a file is in the way",
                               param="path") from exc
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return f"wrote {len(data)} bytes to {ws.relative(real)}"


def workspace_tools(ws: Workspace, *, approve_writes: bool = False) -> list[FunctionTool]:
    """``list_files``, ``read_file`` and ``write_file`` confined to ``ws``."""

    def list_files(path: Annotated[str, "Directory relative to the workspace root"] = ".") -> str:
        """List a workspace directory: one line per entry with its type (dir/file), size and name."""
        return list_directory(ws, path)

    def read_file(path: Annotated[str, "File path relative to the workspace root"]) -> str:
        """Read a UTF-8 text file from the workspace."""
        return read_text(ws, path)

    def write_file(path: Annotated[str, "File path relative to the workspace root"],
                   content: Annotated[str, "The complete new text of the file"]) -> str:
        """Create or replace a text file in the workspace (parent folders are created)."""
        return write_text(ws, path, content)

    return [function_tool(list_files), function_tool(read_file),
            function_tool(write_file, needs_approval=approve_writes)]


# -- commands -------------------------------------------------------------------------------

class CommandPolicy:
    """Which programs may run, which of their flags are forbidden, and how arguments are checked."""

    def __init__(self, ws: Workspace, allow: Mapping[str, Iterable[str] | None] | Iterable[str],
                 *, path: str | None = None) -> None:
        items = allow.items() if isinstance(allow, Mapping) else ((name, None) for name in allow)
        self.ws = ws
        self.forbidden = {name: frozenset(flags or ()) for name, flags in items}
        dirs = (path if path is not None else os.environ.get("PATH", os.defpath)).split(os.pathsep)
        self.path = os.pathsep.join(d for d in dirs if os.path.isabs(d) and not ws.inside(d))

    def argv(self, command: str, args: list[str]) -> list[str]:
        """``[absolute program, *args]`` for an allowed call; :class:`SandboxError` otherwise."""
        allowed = ", ".join(sorted(self.forbidden)) or "none"
        if not command or "/" in command or "\\" in command or "\0" in command:
            raise SandboxError(f"command {command!r} refused: give a bare program name (allowed: {allowed})")
        if command not in self.forbidden:
            raise SandboxError(f"command {command!r} is not allowed; allowed commands: {allowed}")
        for arg in args:
            self._check_arg(command, arg)
        found = shutil.which(command, path=self.path)
        if found is None or self.ws.inside(found):
            raise NotFound(f"command {command!r} is allowed but not installed (not found on PATH)")
        return [found, *args]

    def _check_arg(self, command: str, arg: str) -> None:
        forbidden = self.forbidden[command]
        if "\0" in arg:
            raise SandboxError(f"argument {arg!r} contains a NUL byte")
        flag = arg[:2] if not arg.startswith("--") and arg[:2] in forbidden else arg.split("=", 1)[0]
        if flag in forbidden:  # -flag, --flag=value, or a short flag with its value attached (-cVALUE)
            raise SandboxError(f"flag {flag!r} is not allowed for {command}; forbidden: "
                               f"{', '.join(sorted(forbidden))}")
        if not all(self.ws.inside(candidate) for candidate in _path_candidates(arg)):
            raise SandboxError(f"argument {arg!r} points outside the workspace; use paths "
                               "relative to the workspace root")


def _path_candidates(arg: str) -> list[str]:
    """The parts of an argument a program might treat as a path: it, its ``=`` value, a short flag's value."""
    parts = [arg]
    if "=" in arg:
        parts.append(arg.split("=", 1)[1])
    if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
        parts.append(arg[2:])
    return [p for p in parts if p]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output cut: {len(text) - limit} more characters not shown (limit {limit})]"


def run_allowed(policy: CommandPolicy, command: str, args: list[str], *, timeout: float,
                max_output: int) -> str:
    argv = policy.argv(command, args)
    env = {"PATH": policy.path, "LANG": "C.UTF-8", "HOME": str(policy.ws.root)}
    # Its own session (process group), so a timeout kills everything the program started.
    with subprocess.Popen(argv, shell=False, cwd=policy.ws.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise CommandTimeout(f"{command} did not finish within the {timeout:g} s time limit and was "
                                 "stopped; try a smaller job") from exc
    done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    out = done.stdout.decode("utf-8", errors="replace")
    err = done.stderr.decode("utf-8", errors="replace")
    return f"exit code: {done.returncode}\nstdout:\n{_cut(out, max_output)}\nstderr:\n{_cut(err, max_output)}"


def command_tools(ws: Workspace, allow: Mapping[str, Iterable[str] | None] | Iterable[str],
                  timeout: float = 20, max_output: int = 20_000) -> list[FunctionTool]:
    """A ``run_command`` tool running allowlisted programs in ``ws`` (``allow`` may map a program
    to its forbidden flags, e.g. ``{"find": ["-exec", "-delete"], "ls": []}``)."""
    policy = CommandPolicy(ws, allow)

    def run_command(command: Annotated[str, "Bare program name from the allowed list"],
                    args: Annotated[list[str], "Arguments, one per item (no shell: quotes, pipes "
                                               "and $() are passed literally)"] = []) -> str:  # noqa: B006
        """Run an allowed program in the workspace and return its exit code, stdout and stderr."""
        return run_allowed(policy, command, args, timeout=timeout, max_output=max_output)

    described = (f"{run_command.__doc__} Allowed programs: {', '.join(sorted(policy.forbidden))}. "
                 "Paths in arguments must stay inside the workspace.")
    return [function_tool(run_command, description=described)]


# -- calculator -----------------------------------------------------------------------------

class CalculatorError(InvalidParameter):
    """An expression the calculator refuses or cannot evaluate."""


def _round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and abs(ndigits) > 100:
        raise CalculatorError("round(): ndigits must be between -100 and 100")
    return round(number, ndigits)


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "log": math.log, "log10": math.log10, "exp": math.exp, "sin": math.sin,
    "cos": math.cos, "tan": math.tan, "abs": abs, "round": _round, "min": min, "max": max}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPONENT = 1000
_MAX_BITS = 10_000  # ~3000 decimal digits
_MAX_LENGTH = 1000


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > _MAX_EXPONENT:
        raise CalculatorError(f"exponent {exponent} is too large (limit {_MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent * base.bit_length() > _MAX_BITS:
        raise CalculatorError("the power would be an absurdly large number; refused")
    return base ** exponent


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        return _power(left, right) if isinstance(node.op, ast.Pow) else _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in _FUNCTIONS:
            known = ", ".join(sorted(_FUNCTIONS))
            raise CalculatorError(f"unknown function {node.func.id!r}; known: {known}")
        return _FUNCTIONS[node.func.id](*(_eval(a) for a in node.args))
    if isinstance(node, ast.Name):
        raise CalculatorError(f"unknown name {node.id!r}; known: "
                              f"{', '.join(sorted([*_FUNCTIONS, *_CONSTANTS]))}")
    if isinstance(node, ast.Call) and node.keywords:
        raise CalculatorError("keyword arguments are not allowed; pass arguments by position")
    raise CalculatorError(f"{type(node).__name__} is not allowed; use numbers, + - * / // % **, "
                          f"parentheses and {', '.join(sorted([*_FUNCTIONS, *_CONSTANTS]))}")


def calculate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely (no ``eval``); :class:`CalculatorError` if refused."""
    if len(expression) > _MAX_LENGTH:
        raise CalculatorError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        result = _eval(ast.parse(expression.strip(), mode="eval"))
    except SyntaxError as exc:
        raise CalculatorError(f"{expression!r} is not a valid arithmetic expression") from exc
    except ZeroDivisionError as exc:
        raise CalculatorError("division by zero") from exc
    except RecursionError as exc:
        raise CalculatorError("expression is nested too deeply") from exc
    except (OverflowError, ValueError, TypeError) as exc:
        raise CalculatorError(f"cannot evaluate {expression!r}: {exc}") from exc
    if not isinstance(result, (int, float)) or isinstance(result, bool):
        raise CalculatorError(f"{expression!r} does not give a real number")
    if isinstance(result, int) and result.bit_length() > _MAX_BITS:
        raise CalculatorError("the result is an absurdly large number; refused")
    return result


def calculator(expression: Annotated[str, "Arithmetic, e.g. '2 * (3 + 4) ** 2' or 'sqrt(2) * pi'"]) -> str:
    """Evaluate an arithmetic expression: numbers, + - * / // % **, parentheses, sqrt, log, log10,
    exp, sin, cos, tan, abs, round, min, max, pi and e."""
    return str(calculate(expression))


def calculator_tool() -> FunctionTool:
    """The :func:`calculator` as a tool."""
    return function_tool(calculator)
