"""Built-in tools for Cupola agents: files in a workspace, allowlisted commands, a calculator.

* **Paths.** Every path a model gives is relative to the :class:`Workspace` root. Absolute paths,
  NUL bytes and empty file names are refused. The path is resolved one component at a time
  (``..`` and every symlink followed, at most 40 links, 4096 bytes, 255 per name) and must land
  inside the real root; a path that cannot be fully resolved (too long, a loop, an I/O error) is
  refused rather than guessed at. A symlink may point elsewhere *inside* the root.
* **Reads** accept regular files only: the file is checked with ``lstat``, opened with
  ``O_NOFOLLOW | O_NONBLOCK`` and checked again with ``fstat``, so a FIFO, socket or device is
  refused instead of blocking. A file with several hard links is read only when every link is
  inside the workspace. Directories, binary files (a NUL byte in the first 8 KiB) and files larger
  than ``max_read_bytes`` (256 KiB by default) are refused.
* **Writes** refuse content larger than ``max_write_bytes`` (256 KiB), never write through a
  symlink or into a parent that resolves outside, never replace anything but a regular file, and
  are atomic: a temporary file in the same directory is written, flushed and ``os.replace``-d onto
  the target (which also cuts a hard link instead of writing through it).
* **Errors** name paths relative to the workspace; the host's absolute paths never reach the model.
* **Listings** never follow a symlink out of the root (such entries are marked, not followed).
* **Commands** (``run_command``) run in an operating-system sandbox, see
  :mod:`cupola.tools.sandbox`: bubblewrap namespaces, Landlock, resource limits, no network by
  default, a private ``HOME``/``TMPDIR``, and the whole process tree killed at the end. In front
  of it, argument checks allow only listed programs and, per program, listed options.
* **Calculator** evaluates arithmetic by walking the ``ast``; no ``eval``, no names or attributes
  beyond a fixed set of math functions, and no exponent or result large enough to hang a worker.
"""

from __future__ import annotations

import ast
import re
import math
import operator
import os
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import Field

from cupola.errors import CupolaError, InvalidParameter, NotFound, RuntimeFailure
from cupola.runtime.tool_grammar import FROM_USER
from cupola.tools.functions import FunctionTool, function_tool
from cupola.tools.sandbox import CommandPolicy, Limits, Sandbox, SandboxError

__all__ = ["CalculatorError", "CommandTimeout", "SandboxError", "Workspace", "calculate", "calculator",
           "calculator_tool", "command_tools", "list_directory", "read_text", "workspace_tools", "write_text"]

_SNIFF = 8192
DEFAULT_MAX_BYTES = 256 * 1024
_MAX_LINKS, _PATH_MAX, _NAME_MAX = 40, 4096, 255
_MAX_LINK_SCAN = 20_000
_MAX_ARGS, _MAX_ARG = 16, 2000  # bounded, so a small model's call always closes within max_tokens

WRITTEN = {FROM_USER: False}  # values the model writes, not copies of the user's words (see tool_grammar)


class CommandTimeout(RuntimeFailure):
    """An allowlisted command ran past its time limit and was killed (with everything it started)."""

    status = 504
    code = "command_timeout"


class _Unresolvable(Exception):
    pass


def _check_length(path: str) -> None:
    if len(os.fsencode(path)) > _PATH_MAX:
        raise _Unresolvable(f"it is longer than {_PATH_MAX} bytes")


class Workspace:
    """A directory that file and command tools are confined to."""

    def __init__(self, root: Path | str, *, max_read_bytes: int = DEFAULT_MAX_BYTES,
                 max_write_bytes: int = DEFAULT_MAX_BYTES, max_list: int = 1000) -> None:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise NotFound(f"workspace root {root} is not an existing directory")
        self.root = real
        self.max_read_bytes, self.max_write_bytes, self.max_list = max_read_bytes, max_write_bytes, max_list

    def _walk(self, path: str) -> tuple[str, bool]:
        """``(real path, exists)`` for ``path`` (relative to the root, or absolute), resolved one
        component at a time; :class:`_Unresolvable` when that cannot be done exactly."""
        _check_length(path)
        current = "/" if path.startswith("/") else str(self.root)
        parts, links = deque(path.split("/")), 0
        while parts:
            name = parts.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                current = os.path.dirname(current)
                continue
            if len(os.fsencode(name)) > _NAME_MAX:
                raise _Unresolvable(f"a name in it is longer than {_NAME_MAX} bytes")
            candidate = os.path.join(current, name)
            _check_length(candidate)
            try:
                info = os.lstat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                rest = [p for p in parts if p not in ("", ".")]
                if ".." in rest:
                    raise _Unresolvable("'..' follows a name that does not exist") from None
                if any(len(os.fsencode(p)) > _NAME_MAX for p in rest):
                    raise _Unresolvable(f"a name in it is longer than {_NAME_MAX} bytes") from None
                full = os.path.join(candidate, *rest)
                _check_length(full)
                return full, False
            except OSError as exc:
                raise _Unresolvable(exc.strerror or "it cannot be looked up") from None
            if stat.S_ISLNK(info.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise _Unresolvable(f"it goes through more than {_MAX_LINKS} symbolic links")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    current = "/"
                parts.extendleft(reversed(target.split("/")))
                continue
            current = candidate
        return current, True

    def inside(self, path: str | Path) -> bool:
        """Whether ``path`` (relative to the root, or absolute) resolves exactly, inside the root."""
        try:
            real, _ = self._walk(os.fspath(path))
        except _Unresolvable:
            return False
        return Path(real).is_relative_to(self.root)

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
        try:
            real, _ = self._walk(path)
        except _Unresolvable as exc:
            raise SandboxError(f"path {_short(path)} cannot be resolved safely: {exc}") from None
        if not Path(real).is_relative_to(self.root):
            raise SandboxError(f"path {path!r} leaves the workspace (through '..' or a symlink); "
                               "only files inside the workspace root can be used")
        if file and Path(real) == self.root:
            raise SandboxError(f"path {path!r} is the workspace root itself; give a file's path")
        return Path(real)

    def relative(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix() or "."

    def links_inside(self, info: os.stat_result) -> bool:
        """Whether every hard link of the file ``info`` describes is inside the workspace."""
        found, seen = 0, 0
        for folder, dirs, files in os.walk(self.root):
            for name in (*dirs, *files):
                seen += 1
                if seen > _MAX_LINK_SCAN:
                    return False
                try:
                    other = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue
                if (other.st_ino, other.st_dev) == (info.st_ino, info.st_dev):
                    found += 1
        return found >= info.st_nlink


def _short(path: str) -> str:
    return repr(path if len(path) <= 80 else path[:60] + "...")


def _os_error(action: str, path: str, exc: OSError) -> CupolaError:
    """An OS error as a Cupola error that names the workspace-relative path only."""
    reason = exc.strerror or (str(exc.args[0]) if exc.args and exc.filename is None else type(exc).__name__)
    if isinstance(exc, PermissionError):
        return InvalidParameter(f"cannot {action} {_short(path)}: {reason}", param="path")
    return RuntimeFailure(f"cannot {action} {_short(path)}: {reason}")


def _kind(mode: int) -> str:
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")


# -- file tools -----------------------------------------------------------------------------

def _entry_line(ws: Workspace, entry: os.DirEntry[str]) -> str:
    if entry.is_symlink() and not ws.inside(entry.path):
        return f"link  -  {entry.name} (points outside the workspace, not followed)"
    if entry.is_symlink() and not os.path.exists(entry.path):
        return f"link  -  {entry.name} (broken symlink)"
    if entry.is_dir():
        return f"dir   -  {entry.name}/"
    if not entry.is_file():
        return f"other -  {entry.name} ({_kind(entry.stat().st_mode)})"
    return f"file  {entry.stat().st_size}  {entry.name}"


def list_directory(ws: Workspace, path: str = ".") -> str:
    real = ws.resolve(path or ".")
    try:
        if not real.exists():
            raise NotFound(f"{path!r} does not exist in the workspace; list '.' to see what is there")
        if not real.is_dir():
            raise InvalidParameter(f"{path!r} is a file, not a directory; use read_file to read it",
                                   param="path")
        with os.scandir(real) as it:
            entries = sorted(it, key=lambda e: e.name)
        shown = [_entry_line(ws, e) for e in entries[:ws.max_list]]
    except OSError as exc:
        raise _os_error("list", path, exc) from None
    head = f"{ws.relative(real)}: {len(entries)} entries (type size name)"
    left = len(entries) - len(shown)
    tail = [f"... {left} more entries left out (limit {ws.max_list}); list a subdirectory"] if left else []
    return "\n".join([head, *shown, *tail])


def read_text(ws: Workspace, path: str) -> str:
    real = ws.resolve(path, file=True)
    try:
        try:
            before = os.lstat(real)
        except FileNotFoundError:
            raise NotFound(f"{path!r} does not exist in the workspace; use list_files to see what is there") from None
        if stat.S_ISDIR(before.st_mode):
            raise InvalidParameter(f"{path!r} is a directory; use list_files to see its contents", param="path")
        if not stat.S_ISREG(before.st_mode):
            raise InvalidParameter(f"{path!r} is {_kind(before.st_mode)}; only regular files can be read",
                                   param="path")
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or (info.st_ino, info.st_dev) != (before.st_ino, before.st_dev):
                raise SandboxError(f"{path!r} changed while it was opened; try again")
            if info.st_nlink > 1 and not ws.links_inside(info):
                raise SandboxError(f"{path!r} has {info.st_nlink} hard links and not all of them are inside the "
                                   "workspace; it is not read (copy the file to read it)")
            if info.st_size > ws.max_read_bytes:
                raise InvalidParameter(f"{path!r} is {info.st_size} bytes, larger than the read limit of "
                                       f"{ws.max_read_bytes} bytes; it cannot be read whole", param="path")
            data = f.read(ws.max_read_bytes + 1)
    except OSError as exc:
        raise _os_error("read", path, exc) from None
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
    try:
        try:
            mode = os.lstat(real).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise InvalidParameter(f"{path!r} is a directory; give a file path", param="path")
        if mode is not None and not stat.S_ISREG(mode):
            raise InvalidParameter(f"{path!r} is {_kind(mode)}; only regular files can be written", param="path")
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidParameter(f"cannot create the folders for {path!r}: a file is in the way",
                                   param="path") from exc
        if not ws.inside(real.parent):  # a folder created above cannot have moved, but check again
            raise SandboxError(f"path {path!r} leaves the workspace")
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name[:100]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, real)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _os_error("write", path, exc) from None
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
                   content: Annotated[str, Field(description="The complete new text of the file",
                                                 json_schema_extra=WRITTEN)]) -> str:
        """Create or replace a text file in the workspace (parent folders are created)."""
        return write_text(ws, path, content)

    return [function_tool(list_files), function_tool(read_file),
            function_tool(write_file, needs_approval=approve_writes)]


# -- commands -------------------------------------------------------------------------------

def _cut(text: str, dropped: int, limit: int) -> str:
    return text + (f"\n[output cut: {dropped} more bytes not shown (limit {limit})]" if dropped else "")


def run_allowed(policy: CommandPolicy, sandbox: Sandbox, command: str, args: list[str], *, timeout: float,
                max_output: int) -> str:
    """Check ``command args`` against ``policy``, run it in ``sandbox``, and describe the result."""
    argv = policy.argv(command, args)
    done = sandbox.run(argv, timeout=timeout, max_output=max_output)
    if done.timed_out:
        raise CommandTimeout(f"{command} did not finish within the {timeout:g} s time limit and was stopped "
                             "with everything it started; try a smaller job")
    return (f"exit code: {done.returncode}\nstdout:\n{_cut(done.stdout, done.stdout_dropped, max_output)}\n"
            f"stderr:\n{_cut(done.stderr, done.stderr_dropped, max_output)}")


def command_tools(ws: Workspace, allow: Mapping[str, Any] | Iterable[str], timeout: float = 20,
                  max_output: int = 20_000, *, network: bool = False, limits: Limits | None = None,
                  read_only: Iterable[str] = (), sandbox: bool = True) -> list[FunctionTool]:
    """A ``run_command`` tool running allowlisted programs in ``ws`` inside the OS sandbox.

    ``allow`` lists programs (``["ls", "grep"]``: built-in option allowlists) or maps them to their
    allowed options (``{"zip": {"options": ["-r", "-q"]}}``); shells, interpreters and program
    runners need ``{"python3": {"runs_code": True}}``. ``network`` lets commands use the network,
    ``limits`` sets resource limits, ``read_only`` shows more host folders read-only. Raises
    :class:`~cupola.tools.sandbox.SandboxUnavailable` where no sandbox can be made, unless
    ``sandbox=False`` (an explicit opt-out: commands then run unconfined, interpreters refused).
    """
    box = Sandbox(ws.root, network=network, limits=limits, read_only=tuple(read_only), enabled=sandbox)
    policy = CommandPolicy(ws, allow, path=box.path if sandbox else os.environ.get("PATH", os.defpath))
    if not sandbox and any(spec.runs_code for spec in policy.specs.values()):
        raise InvalidParameter("programs that run code (runs_code) are only allowed inside the sandbox; "
                               "remove `sandbox: false` or the program", param="allow")

    def run_command(command: Annotated[str, Field(description="Bare program name from the allowed list",
                                                  json_schema_extra=WRITTEN)],
                    args: Annotated[list[Annotated[str, Field(max_length=_MAX_ARG, json_schema_extra=WRITTEN)]],
                                    Field(max_length=_MAX_ARGS, description="Arguments, one per item (no shell: "
                                          "quotes, pipes and $() are passed literally)")] = []) -> str:  # noqa: B006
        """Run an allowed program in the workspace and return its exit code, stdout and stderr."""
        return run_allowed(policy, box, command, args, timeout=timeout, max_output=max_output)

    # The schema names the allowed programs, so a constrained decoder can only pick one of them.
    run_command.__annotations__["command"] = Annotated[Literal[tuple(policy.programs)],  # type: ignore[misc]
                                                       "Program to run, one of the allowed ones"]
    network_note = "The network is available." if network else "There is no network."
    described = (f"{run_command.__doc__} Allowed programs: {', '.join(policy.programs)}. "
                 f"Paths in arguments must stay inside the workspace. {network_note}")
    tool = function_tool(run_command, description=described)
    tool.metadata["sandbox"] = box.status.describe() if sandbox else "off (opted out)"
    return [tool]


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


_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*of\b", re.I)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%(?!\s*[\w(.])")


def _percentages(expression: str) -> str:
    """``15% of 240`` -> ``(15 / 100) * 240`` and a trailing ``15%`` -> ``(15 / 100)``, as people (and
    small models copying them) write; ``%`` between two operands stays the remainder."""
    return _PERCENT.sub(r"(\1 / 100)", _PERCENT_OF.sub(r"(\1 / 100) *", expression))


def calculate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely (no ``eval``); :class:`CalculatorError` if refused."""
    if len(expression) > _MAX_LENGTH:
        raise CalculatorError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        result = _eval(ast.parse(_percentages(expression.strip()), mode="eval"))
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
    exp, sin, cos, tan, abs, round, min, max, pi and e; percentages as in '15% of 240'."""
    return str(calculate(expression))


def calculator_tool() -> FunctionTool:
    """The :func:`calculator` as a tool."""
    return function_tool(calculator)
