"""The built-in sandboxed tools, called the way the agent runner calls them (JSON argument strings)."""

from __future__ import annotations

import json
import os

import pytest

from cupola.errors import InvalidParameter, NotFound, RuntimeFailure, UsageError
from cupola.tools import builtins
from cupola.tools.builtins import (
    CalculatorError,
    CommandTimeout,
    SandboxError,
    Workspace,
    calculate,
    calculator_tool,
    command_tools,
    workspace_tools,
)
from cupola.tools.functions import FunctionTool
from cupola.tools.sandbox import CommandPolicy


def args(**kw) -> str:
    return json.dumps(kw)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "hidden.txt").write_text("hidden")
    return Workspace(root, max_read_bytes=1000, max_write_bytes=1000, max_list=3)


@pytest.fixture
def tools(ws) -> dict[str, FunctionTool]:
    return {t.name: t for t in workspace_tools(ws)}


def run_tool(ws: Workspace, allow, **kw) -> FunctionTool:
    (tool,) = command_tools(ws, allow, **kw)
    return tool


# -- files inside the workspace -------------------------------------------------------------

async def test_write_read_list_inside(ws, tools):
    assert await tools["write_file"](args(path="notes/a.txt", content="héllo\n")) == \
        "wrote 7 bytes to notes/a.txt"
    assert await tools["read_file"](args(path="notes/a.txt")) == "héllo\n"
    assert await tools["read_file"](args(path="notes/../notes/a.txt")) == "héllo\n"
    listing = await tools["list_files"](args(path="notes"))
    assert "file  7  a.txt" in listing
    assert "dir   -  notes/" in await tools["list_files"]("{}")


async def test_tools_schema_and_approval(ws, tools):
    assert set(tools) == {"list_files", "read_file", "write_file"}
    assert tools["write_file"].needs_approval is False
    assert tools["read_file"].parameters["properties"]["path"]["description"]
    approved = {t.name: t for t in workspace_tools(ws, approve_writes=True)}
    assert approved["write_file"].needs_approval is True
    assert approved["read_file"].needs_approval is False


async def test_atomic_write_leaves_no_temp_files(ws, tools):
    for text in ("one", "two", "three"):
        await tools["write_file"](args(path="d/f.txt", content=text))
    assert os.listdir(ws.root / "d") == ["f.txt"]
    assert (ws.root / "d" / "f.txt").read_text() == "three"


async def test_failed_write_keeps_old_file_and_no_temp(ws, tools, monkeypatch):
    (ws.root / "f.txt").write_text("old")

    def crash(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(builtins.os, "replace", crash)
    with pytest.raises(RuntimeFailure, match="cannot write 'f.txt': disk on fire"):
        await tools["write_file"](args(path="f.txt", content="new"))
    assert os.listdir(ws.root) == ["f.txt"]
    assert (ws.root / "f.txt").read_text() == "old"


async def test_list_sorted_and_capped(ws, tools):
    for name in "edcba":
        (ws.root / f"{name}.txt").write_text(name)
    lines = (await tools["list_files"](args(path="."))).splitlines()
    assert lines[0] == ".: 5 entries (type size name)"
    assert [line.split()[-1] for line in lines[1:4]] == ["a.txt", "b.txt", "c.txt"]
    assert "2 more entries left out (limit 3)" in lines[4]


async def test_read_errors(ws, tools):
    (ws.root / "sub").mkdir()
    with pytest.raises(NotFound, match="does not exist"):
        await tools["read_file"](args(path="missing.txt"))
    with pytest.raises(InvalidParameter, match="is a directory"):
        await tools["read_file"](args(path="sub"))
    with pytest.raises(InvalidParameter, match="is a file"):
        (ws.root / "f.txt").write_text("x")
        await tools["list_files"](args(path="f.txt"))


# -- escapes --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", "/etc/passwd",
                                  "../ws/../outside.txt", "~/x"])
async def test_escaping_paths_refused(ws, tools, path, tmp_path):
    with pytest.raises(SandboxError, match="leaves the workspace|absolute path|cannot be resolved"):
        await tools["read_file"](args(path=path))
    with pytest.raises(SandboxError, match="leaves the workspace|absolute path|cannot be resolved"):
        await tools["write_file"](args(path=path, content="pwned"))
    assert (tmp_path / "outside.txt").read_text() == "secret"
    assert isinstance(SandboxError("x"), UsageError)


async def test_listing_outside_refused(tools):
    for path in ("..", "/", "../outdir"):
        with pytest.raises(SandboxError):
            await tools["list_files"](args(path=path))


async def test_nul_and_empty_paths_refused(tools):
    with pytest.raises(SandboxError, match="NUL byte"):
        await tools["read_file"](args(path="a\u0000.txt"))
    with pytest.raises(SandboxError, match="NUL byte"):
        await tools["write_file"](args(path="a\u0000.txt", content="x"))
    for path in ("", " ", "."):
        with pytest.raises(SandboxError, match="empty path|workspace root itself"):
            await tools["write_file"](args(path=path, content="x"))
    with pytest.raises(SandboxError, match="empty path"):
        await tools["read_file"](args(path=""))


async def test_symlink_to_file_outside(ws, tools, tmp_path):
    (ws.root / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(SandboxError, match="leaves the workspace"):
        await tools["read_file"](args(path="link.txt"))
    with pytest.raises(SandboxError, match="leaves the workspace"):
        await tools["write_file"](args(path="link.txt", content="pwned"))
    assert (tmp_path / "outside.txt").read_text() == "secret"
    assert "points outside the workspace, not followed" in await tools["list_files"]("{}")


async def test_dangling_symlink_outside_not_created(ws, tools, tmp_path):
    (ws.root / "new.txt").symlink_to(tmp_path / "created.txt")
    with pytest.raises(SandboxError):
        await tools["write_file"](args(path="new.txt", content="pwned"))
    assert not (tmp_path / "created.txt").exists()


async def test_symlinked_directory_outside(ws, tools, tmp_path):
    (ws.root / "out").symlink_to(tmp_path / "outdir", target_is_directory=True)
    with pytest.raises(SandboxError):
        await tools["list_files"](args(path="out"))
    with pytest.raises(SandboxError):
        await tools["read_file"](args(path="out/hidden.txt"))
    with pytest.raises(SandboxError):
        await tools["write_file"](args(path="out/new.txt", content="pwned"))
    with pytest.raises(SandboxError):
        await tools["write_file"](args(path="out/deeper/new.txt", content="pwned"))
    assert sorted(os.listdir(tmp_path / "outdir")) == ["hidden.txt"]


async def test_symlinks_inside_are_followed(ws, tools):
    (ws.root / "real").mkdir()
    (ws.root / "real" / "f.txt").write_text("inside")
    (ws.root / "alias").symlink_to(ws.root / "real", target_is_directory=True)
    (ws.root / "flink").symlink_to("real/f.txt")
    assert await tools["read_file"](args(path="alias/f.txt")) == "inside"
    await tools["write_file"](args(path="flink", content="changed"))
    assert (ws.root / "flink").is_symlink()
    assert (ws.root / "real" / "f.txt").read_text() == "changed"


async def test_size_limits_and_binary(ws, tools):
    (ws.root / "big.txt").write_text("x" * 1001)
    with pytest.raises(InvalidParameter, match="1001 bytes, larger than the read limit of 1000"):
        await tools["read_file"](args(path="big.txt"))
    with pytest.raises(InvalidParameter, match="1001 bytes, larger than the write limit of 1000"):
        await tools["write_file"](args(path="w.txt", content="y" * 1001))
    assert not (ws.root / "w.txt").exists()
    (ws.root / "bin.dat").write_bytes(b"\x7fELF\x00\x01")
    with pytest.raises(InvalidParameter, match="looks binary"):
        await tools["read_file"](args(path="bin.dat"))
    (ws.root / "latin.txt").write_bytes(b"caf\xe9")
    assert await tools["read_file"](args(path="latin.txt")) == "caf\ufffd"


def test_default_size_limit_is_256_kib(tmp_path):
    assert Workspace(tmp_path).max_read_bytes == Workspace(tmp_path).max_write_bytes == 256 * 1024


def test_workspace_root_must_exist(tmp_path):
    with pytest.raises(NotFound, match="not an existing directory"):
        Workspace(tmp_path / "nope")


# -- commands -------------------------------------------------------------------------------

async def test_allowed_command_runs(ws):
    (ws.root / "hello.txt").write_text("hi")
    run = run_tool(ws, ["ls", "echo"])
    out = await run(args(command="ls", args=["-la"]))
    assert out.startswith("exit code: 0\nstdout:\n") and "hello.txt" in out
    assert "hello world" in await run(args(command="echo", args=["hello", "world"]))
    failed = await run(args(command="ls", args=["missing"]))
    assert failed.startswith("exit code: 2") and "missing" in failed.split("stderr:")[1]
    assert "Allowed programs: echo, ls" in run.description


async def test_minimal_environment_and_private_home(ws, monkeypatch):
    monkeypatch.setenv("CUPOLA_TEST_SECRET", "leak")
    out = await run_tool(ws, {"env": {"runs_code": True}})(args(command="env"))
    names = {line.split("=")[0] for line in out.split("stdout:\n")[1].split("\nstderr:")[0].splitlines()}
    assert names == {"PATH", "LANG", "HOME", "TMPDIR", "USER", "LOGNAME", "GIT_CONFIG_NOSYSTEM",
                     "GIT_TERMINAL_PROMPT", "PWD"}
    assert "HOME=/tmp/home\n" in out and "TMPDIR=/tmp/tmp\n" in out and str(ws.root) not in out.split("PWD=")[0]
    listing = await run_tool(ws, {"env": {"runs_code": True}})(args(command="env", args=["ls", "-A", "/tmp/home",
                                                                                     "/tmp/tmp"]))
    assert listing.startswith("exit code: 0\nstdout:\n/tmp/home:\n\n/tmp/tmp:\n\nstderr")


@pytest.mark.parametrize("program", ["rm", "bash", "sh", "LS"])
async def test_disallowed_program_refused(ws, program):
    run = run_tool(ws, ["ls", "echo"])
    assert run.parameters["properties"]["command"]["enum"] == ["echo", "ls"]  # the schema already says so
    with pytest.raises(UsageError, match="command: Input should be 'echo' or 'ls'"):
        await run(args(command=program, args=["-c", "id"]))
    with pytest.raises(SandboxError, match="is not allowed; allowed commands: echo, ls"):
        CommandPolicy(ws, ["ls", "echo"], path="/usr/bin:/bin").argv(program, ["-c", "id"])


@pytest.mark.parametrize("program", ["/bin/ls", "./ls", "../ls", "bin/ls", ""])
async def test_program_given_as_path_refused(ws, program):
    with pytest.raises(UsageError, match="command: Input should be 'ls'"):
        await run_tool(ws, ["ls"])(args(command=program))
    with pytest.raises(SandboxError, match="give a bare program name"):
        CommandPolicy(ws, ["ls"], path="/usr/bin:/bin").argv(program, [])


async def test_program_not_installed(ws):
    with pytest.raises(NotFound, match="not installed"):
        await run_tool(ws, ["no-such-program-cupola"])(args(command="no-such-program-cupola"))


async def test_shell_metacharacters_passed_literally(ws, tmp_path):
    nasty = "$(whoami); rm -rf / && touch pwned | cat `id` > x"
    out = await run_tool(ws, ["echo"])(args(command="echo", args=[nasty]))
    assert f"stdout:\n{nasty}\n" in out
    assert os.listdir(ws.root) == []


@pytest.mark.parametrize("arg", ["/etc", "../..", "..", "sub/../../outside.txt", "--ignore=/etc/passwd",
                                 "-I/etc", "-lI/etc", "if=/etc/passwd", "--sort=../x"])
async def test_argument_outside_refused(ws, arg):
    with pytest.raises(SandboxError, match="points outside the workspace"):
        await run_tool(ws, ["ls"])(args(command="ls", args=[arg]))


async def test_argument_through_symlink_refused(ws, tmp_path):
    (ws.root / "out").symlink_to(tmp_path / "outdir", target_is_directory=True)
    with pytest.raises(SandboxError, match="points outside the workspace"):
        await run_tool(ws, ["ls"])(args(command="ls", args=["out"]))
    inside = await run_tool(ws, ["ls"])(args(command="ls", args=[str(ws.root), "./"]))
    assert inside.startswith("exit code: 0")


@pytest.mark.parametrize("command, argv, message", [
    ("find", [".", "-exec", "touch", "pwned", ";"], "option -exec is not allowed for find"),
    ("find", [".", "-delete"], "option -delete is not allowed for find"),
    ("find", [".", "-fprint", "x"], "option -fprint is not allowed for find"),
    ("git", ["--exec-path=x", "status"], "option --exec-path is not allowed for git"),
    ("git", ["-ccore.pager=sh", "log"], "option -c .* is not allowed for git"),
    ("git", ["-c", "core.pager=sh", "log"], "option -c is not allowed for git"),
    ("git", ["config", "alias.x", "!sh"], "git 'config' is not allowed"),
    ("git", ["log", "--output=x"], "option --output is not allowed for git log"),
    ("git", ["diff", "--ext-diff"], "option --ext-diff is not allowed for git diff"),
    ("tar", ["--to-command=sh", "-xf", "a.tar"], "option --to-command is not allowed for tar"),
    ("tar", ["-xf", "a.tar", "--to-c=sh"], "option --to-c is not allowed"),
    ("tar", ["-cI", "sh", "-f", "a.tar"], "option -I .* is not allowed for tar"),
    ("tar", ["cvf", "a.tar", "."], "leading dash"),
    ("sort", ["--compress-program=sh", "x"], "option --compress-program is not allowed"),
    ("sort", ["--files0-from=list"], "option --files0-from is not allowed"),
    ("sed", ["--follow-symlinks", "p"], "option --follow-symlinks is not allowed"),
    ("awk", ["-W", "exec", "x"], "option -W is not allowed for awk"),
    ("cp", ["-vZt", "d", "x"], "option -Z .* is not allowed for cp"),
    ("ls", ["--sor=time"], "option --sor is not allowed for ls"),
])
async def test_options_are_allowlisted(ws, command, argv, message):
    run = run_tool(ws, ["find", "git", "tar", "sort", "sed", "awk", "cp", "ls"])
    with pytest.raises(SandboxError, match=message):
        await run(args(command=command, args=argv))
    assert not (ws.root / "pwned").exists()


async def test_allowed_options_run(ws):
    (ws.root / "b.txt").write_text("2\n1\n")
    run = run_tool(ws, ["find", "sort", "sed", "ls", "head", "git"])
    assert (await run(args(command="find", args=[".", "-type", "f", "-name", "*.txt"]))).startswith("exit code: 0")
    assert "1\n2\n" in await run(args(command="sort", args=["-n", "-o", "c.txt", "b.txt"])) + (ws.root / "c.txt").read_text()
    assert "stdout:\n2\n" in await run(args(command="head", args=["-1", "b.txt"]))
    assert "stdout:\nX\n1\n" in await run(args(command="sed", args=["-e", "s/2/X/", "b.txt"]))
    await run(args(command="sed", args=["-i.bak", "s/2/Y/", "b.txt"]))
    assert (ws.root / "b.txt").read_text() == "Y\n1\n" and (ws.root / "b.txt.bak").exists()
    assert "b.txt" in await run(args(command="ls", args=["-la", "--sort=size", "--", "."]))
    assert (await run(args(command="git", args=["init", "-q"]))).startswith("exit code: 0")
    assert "b.txt" in await run(args(command="git", args=["status", "--short"]))


def test_allowlist_forms(ws):
    with pytest.raises(InvalidParameter, match="forbidden flags are not supported"):
        command_tools(ws, {"find": ["-exec"]})
    with pytest.raises(InvalidParameter, match="unknown key"):
        command_tools(ws, {"zip": {"option": ["-r"]}})
    with pytest.raises(InvalidParameter, match="not understood"):
        command_tools(ws, {"zip": {"options": ["r"]}})
    (tool,) = command_tools(ws, {"echo": None, "zip": {"options": ["-r", "-q", "--level=", "-b="]}})
    assert "Allowed programs: echo, zip" in tool.description and "There is no network" in tool.description


async def test_user_options_for_a_program_without_built_in_list(ws):
    run = run_tool(ws, {"wc": {"options": ["-l"]}, "rev": None})
    assert "stdout:\n0\n" in await run(args(command="wc", args=["-l"]))
    with pytest.raises(SandboxError, match=r"option -c \(in '-lc'\) is not allowed for wc; allowed options: -l"):
        await run(args(command="wc", args=["-lc"]))
    with pytest.raises(SandboxError, match="allowed options: none"):
        await run(args(command="rev", args=["--help"]))


async def test_timeout_enforced(ws):
    run = run_tool(ws, ["sleep"], timeout=1)
    with pytest.raises(CommandTimeout, match="within the 1 s time limit"):
        await run(args(command="sleep", args=["5"]))


async def test_output_cut(ws):
    out = await run_tool(ws, ["echo"], max_output=10)(args(command="echo", args=["x" * 50]))
    assert "stdout:\nxxxxxxxxxx\n[output cut: 41 more bytes not shown (limit 10)]" in out


async def test_bad_arguments_rejected(ws):
    run = run_tool(ws, ["echo"])
    with pytest.raises(UsageError, match="args"):
        await run(args(command="echo", args="not a list"))
    with pytest.raises(SandboxError, match="NUL byte"):
        await run(args(command="echo", args=["a\u0000b"]))


# -- calculator -----------------------------------------------------------------------------

@pytest.mark.parametrize("expression, expected", [
    ("1 + 2 * 3", "7"), ("(1 + 2) * 3", "9"), ("7 // 2", "3"), ("7 % 4", "3"), ("2 ** 10", "1024"),
    ("-3 + +1", "-2"), ("10 / 4", "2.5"), ("sqrt(16)", "4.0"), ("max(1, 5, 3) - min(4, 2)", "3"),
    ("round(pi, 2)", "3.14"), ("abs(-2.5)", "2.5"), ("log10(1000)", "3.0"), ("log(e)", "1.0"),
    ("round(sin(0) + cos(0) + tan(0) + exp(0))", "2"),
])
async def test_calculator_results(expression, expected):
    assert await calculator_tool()(args(expression=expression)) == expected


@pytest.mark.parametrize("expression, message", [
    ("__import__('os')", "unknown function '__import__'"),
    ("pi()", "unknown function 'pi'"),
    ("(1).__class__", "Attribute is not allowed"),
    ("x + 1", "unknown name 'x'"),
    ("9**9**9", "exponent 387420489 is too large"),
    ("2 ** 100000", "too large"),
    ("(10**900) ** 900", "absurdly large"),
    ("round(1, -10**9)", "ndigits"),
    ("1 / 0", "division by zero"),
    ("'a' * 3", "Constant is not allowed"),
    ("[1, 2]", "List is not allowed"),
    ("sqrt(x=4)", "keyword arguments are not allowed"),
    ("(lambda: 1)()", "Call is not allowed"),
    ("1 +", "not a valid arithmetic expression"),
    ("sqrt(-1)", "cannot evaluate"),
    ("lambda: 1", "Lambda is not allowed"),
])
async def test_calculator_refuses(expression, message):
    with pytest.raises(CalculatorError, match=message):
        await calculator_tool()(args(expression=expression))


def test_calculate_returns_numbers():
    assert calculate("2 ** 0.5 * 2 ** 0.5") == pytest.approx(2)
    assert isinstance(calculate("3 * 4"), int)
