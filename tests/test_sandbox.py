"""run_command and the file tools attacked as a model would, with a deliberately permissive allowlist.

Each attack is either refused by the argument checks or contained by the operating-system
sandbox; the tests assert what matters: the outside directory is unchanged, its secret never
comes back, no process outlives its command. The ``raw`` tests run the same attacks straight in
the sandbox with no argument checks at all, so the OS layer is shown to hold on its own.
"""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from cupola.errors import CupolaError, InvalidParameter, NotFound
from cupola.tools.builtins import (
    CommandTimeout,
    SandboxError,
    Workspace,
    command_tools,
    list_directory,
    read_text,
    workspace_tools,
    write_text,
)

PERMISSIVE = ["cp", "tar", "sed", "awk", "git", "sort", "find", "cat", "ls", "seq", "head"]
SECRET = "TOPSECRET-7f3a9c"


class Box:
    def __init__(self, tmp_path: Path) -> None:
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        (self.outside / "secret.txt").write_text(SECRET + "\n")
        self.root = tmp_path / "ws"
        self.root.mkdir()
        (self.root / "in.txt").write_text("b\na\n")
        self.ws = Workspace(self.root)
        self.files = {t.name: t for t in workspace_tools(self.ws)}

    def tool(self, allow=PERMISSIVE, **kw):
        (tool,) = command_tools(self.ws, allow, **kw)
        return tool

    async def attempt(self, command: str, *args: str, allow=PERMISSIVE, **kw) -> str:
        """The command's output, or the refusal: an attack must be refused or contained."""
        try:
            return await self.tool(allow, **kw)(json.dumps({"command": command, "args": list(args)}))
        except SandboxError as exc:
            return f"refused: {exc}"

    def assert_untouched(self, output: str = "") -> None:
        assert sorted(os.listdir(self.outside)) == ["secret.txt"]
        assert (self.outside / "secret.txt").read_text() == SECRET + "\n"
        assert SECRET not in output


@pytest.fixture
def box(tmp_path) -> Box:
    return Box(tmp_path)


def make_tar(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def reg(name: str, data: bytes = b"x") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


# -- the reproductions of the issue ----------------------------------------------------------

async def test_bundled_short_flags_cannot_write_or_read_outside(box):
    out = await box.attempt("cp", f"-vt{box.outside}", "in.txt")
    out += await box.attempt("sort", f"-mo{box.outside}/x", "in.txt")
    out += await box.attempt("tar", f"-cvC{box.outside}", "-f", "-", "secret.txt")
    box.assert_untouched(out)
    assert out.count("refused") == 3


async def test_abbreviated_long_options_refused(box):
    make_tar(box.root / "a.tar", [reg("f")])
    out = await box.attempt("tar", "-xf", "a.tar", f"--to-comm=touch {box.outside}/pwned")
    out += await box.attempt("tar", "-cf", "b.tar", "--checkpoint=1", f"--checkpoint-act=exec=touch {box.outside}/p2",
                             "in.txt")
    box.assert_untouched(out)
    assert "option --to-comm is not allowed for tar" in out


async def test_git_config_env_refused(box):
    subprocess.run(["git", "init", "-q", str(box.root)], check=True)
    with open(box.root / ".git" / "config", "a") as config:
        config.write("[user]\n\tname = a\n\temail = a@b\n")
    hook = box.root / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {box.outside}/pwned\n")
    hook.chmod(0o755)
    out = await box.attempt("git", "--config-env=core.hooksPath=HOME", "commit", "--allow-empty", "-m", "x")
    box.assert_untouched(out)
    assert "option --config-env is not allowed for git" in out


@pytest.mark.parametrize("script", ["1r {secret}", "w {outside}/pwned", "1e touch {outside}/pwned",
                                    "1e cat {secret}", "s/a/b/w {outside}/pwned"])
async def test_sed_scripts_cannot_reach_outside(box, script):
    script = script.format(secret=box.outside / "secret.txt", outside=box.outside)
    box.assert_untouched(await box.attempt("sed", script, "in.txt"))


@pytest.mark.parametrize("program", ['BEGIN{{system("touch {outside}/pwned")}}',
                                     'BEGIN{{while ((getline l < "{outside}/secret.txt") > 0) print l}}',
                                     'BEGIN{{print "x" > "{outside}/pwned"}}',
                                     'BEGIN{{system("cat {outside}/secret.txt")}}'])
async def test_awk_programs_cannot_reach_outside(box, program):
    box.assert_untouched(await box.attempt("awk", program.format(outside=box.outside)))


async def test_paths_read_from_list_files_stay_inside(box):
    (box.root / "list0").write_bytes(f"{box.outside}/secret.txt\0".encode())
    (box.root / "list").write_text(f"{box.outside}/secret.txt\n")
    out = await box.attempt("sort", "--files0-from=list0")
    out += await box.attempt("tar", "-cf", "-", "-T", "list")
    box.assert_untouched(out)


async def test_written_gitconfig_alias_does_not_run(box):
    subprocess.run(["git", "init", "-q", str(box.root)], check=True)
    (box.root / ".gitconfig").write_text(f"[alias]\n\tpwn = !touch {box.outside}/pwned\n")
    with open(box.root / ".git" / "config", "a") as config:
        config.write(f"[alias]\n\tst = !touch {box.outside}/pwned2\n")
    out = await box.attempt("git", "pwn") + await box.attempt("git", "st")
    box.assert_untouched(out)


async def test_extracted_links_do_not_reach_outside(box):
    hard = tarfile.TarInfo("leak")
    hard.type, hard.linkname = tarfile.LNKTYPE, str(box.outside / "secret.txt")
    soft = tarfile.TarInfo("soft")
    soft.type, soft.linkname = tarfile.SYMTYPE, str(box.outside / "secret.txt")
    make_tar(box.root / "evil.tar", [hard, soft])
    out = await box.attempt("tar", "-xPf", "evil.tar") + await box.attempt("tar", "-xf", "evil.tar")
    for name in ("leak", "soft"):
        try:
            out += await box.files["read_file"](json.dumps({"path": name}))
        except CupolaError as exc:
            out += str(exc)
    box.assert_untouched(out)


async def test_hardlink_with_a_link_outside_is_not_read(box):
    os.link(box.outside / "secret.txt", box.root / "leak")
    with pytest.raises(SandboxError, match="hard links"):
        await box.files["read_file"](json.dumps({"path": "leak"}))
    os.link(box.root / "in.txt", box.root / "in2.txt")  # every link inside: fine
    assert await box.files["read_file"](json.dumps({"path": "in2.txt"})) == "b\na\n"


async def test_paths_beyond_the_resolver_limits_are_refused(box):
    deep = "d/" * 2100 + "x.txt"
    loop = box.root / "loop"
    loop.symlink_to("loop")
    for path in (deep, "n" * 300, "loop/x", "missing/../../outside/secret.txt"):
        for tool, arguments in (("read_file", {"path": path}), ("write_file", {"path": path, "content": "x"})):
            with pytest.raises(SandboxError, match="cannot be resolved safely|leaves the workspace") as info:
                await box.files[tool](json.dumps(arguments))
            assert str(box.root) not in str(info.value)
        try:
            out = await box.attempt("cat", path)
        except InvalidParameter as exc:  # the tool's schema bounds an argument to 2000 characters
            out = f"refused: {exc}"
        assert "refused" in out


async def test_env_and_interpreters_are_not_allowed_by_default(box):
    for program in ("env", "xargs", "python3", "bash", "sh", "perl", "nice", "timeout"):
        with pytest.raises(InvalidParameter, match="runs other programs or code"):
            box.tool([program])
    out = await box.attempt("env", "sh", "-c", f"touch {box.outside}/pwned; cat {box.outside}/secret.txt",
                            allow={"env": {"runs_code": True}})
    box.assert_untouched(out)


def test_fifo_socket_and_device_are_not_read(box):
    import socket

    os.mkfifo(box.root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(box.root / "sock"))
    results: dict[str, str] = {}

    def read(name: str) -> None:
        try:
            results[name] = read_text(box.ws, name)
        except CupolaError as exc:
            results[name] = f"error: {exc}"

    for name in ("fifo", "sock"):
        worker = threading.Thread(target=read, args=(name,), daemon=True)
        worker.start()
        worker.join(15)
        if worker.is_alive():  # the old behaviour: blocked on the FIFO; unblock it and fail
            os.close(os.open(box.root / "fifo", os.O_WRONLY | os.O_NONBLOCK))
            pytest.fail(f"read_file blocked on {name}")
    sock.close()
    assert results == {"fifo": "error: 'fifo' is a FIFO; only regular files can be read",
                       "sock": "error: 'sock' is a socket; only regular files can be read"}
    with pytest.raises(InvalidParameter, match="is a FIFO; only regular files can be written"):
        write_text(box.ws, "fifo", "x")
    assert "other -  fifo (a FIFO)" in list_directory(box.ws)
    if os.geteuid() == 0:  # only root can make a device node (here: a second /dev/zero)
        import stat

        os.mknod(box.root / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        with pytest.raises(InvalidParameter, match="'zero' is a device; only regular files can be read"):
            read_text(box.ws, "zero")


def _alive(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def _wait_gone(marker: str) -> list[int]:
    for _ in range(50):  # the kernel tears the namespace down right after; allow it a moment
        if not _alive(marker):
            return []
        time.sleep(0.1)
    survivors = _alive(marker)
    for pid in survivors:
        os.kill(pid, 9)
    return survivors


async def test_no_descendant_outlives_its_command(box):
    allow = {"setsid": {"runs_code": True}, "sh": {"runs_code": True}}
    await box.attempt("setsid", "-f", "sleep", "7777.25", allow=allow)
    assert _wait_gone("7777.25") == []
    with pytest.raises(CommandTimeout, match="with everything it started"):
        await box.tool(allow, timeout=1)(json.dumps(
            {"command": "sh", "args": ["-c", "setsid sleep 7778.5 >/dev/null 2>&1 & sleep 30"]}))
    assert _wait_gone("7778.5") == []


async def test_output_is_capped_while_reading(box):
    run = box.tool(max_output=1000)
    tracemalloc.start()
    try:
        out = await run(json.dumps({"command": "seq", "args": ["3000000"]}))  # about 21 MB of output
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000
    assert out.startswith("exit code: 0\nstdout:\n1\n2\n3\n")
    assert "more bytes not shown (limit 1000)" in out


async def test_os_errors_never_name_host_paths(box):
    (box.root / "f.txt").write_text("x")
    attempts = [("read_file", {"path": "n" * 300}), ("write_file", {"path": "f.txt/x", "content": "x"}),
                ("read_file", {"path": "f.txt/x"}), ("list_files", {"path": "f.txt/x"}),
                ("write_file", {"path": "d/" * 2100, "content": "x"})]
    for tool, arguments in attempts:
        with pytest.raises(CupolaError) as info:
            await box.files[tool](json.dumps(arguments))
        assert str(box.root.parent) not in str(info.value), (tool, str(info.value))


# -- more programs a user might allow ----------------------------------------------------------

class _Marker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"HELLO-FROM-HOST")

    def log_message(self, *args):
        pass


@pytest.fixture
def host_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Marker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


async def test_network_is_off_unless_allowed(box, host_server):
    allow = {"curl": {"options": ["-s", "-S", "--max-time="]}}
    off = await box.attempt("curl", "-sS", "--max-time", "10", host_server, allow=allow)
    assert "HELLO-FROM-HOST" not in off and not off.startswith("exit code: 0")
    on = await box.attempt("curl", "-sS", "--max-time", "10", host_server, allow=allow, network=True)
    assert "HELLO-FROM-HOST" in on


async def test_zip_does_not_follow_a_symlink_out(box):
    (box.root / "link").symlink_to(box.outside / "secret.txt")
    out = await box.attempt("zip", "-r", "-q", "out.zip", ".", allow={"zip": {"options": ["-r", "-q"]}})
    inside = ""
    if (box.root / "out.zip").exists():
        with zipfile.ZipFile(box.root / "out.zip") as archive:
            inside = "".join(archive.read(n).decode(errors="replace") for n in archive.namelist())
    box.assert_untouched(out + inside)


async def test_python_and_xargs_when_the_user_allows_them(box, host_server):
    code = (f"import urllib.request, os\n"
            f"for f in ('{box.outside}/pwned', os.path.expanduser('~/../pwned')):\n"
            f"    try: open(f, 'w')\n    except OSError as e: print('no', e.errno)\n"
            f"try: print(open('{box.outside}/secret.txt').read())\nexcept OSError as e: print('no', e.errno)\n"
            f"try: print(urllib.request.urlopen('{host_server}', timeout=5).read())\n"
            f"except OSError as e: print('no net')\n"
            f"print(os.listdir(os.environ['HOME']), os.getcwd())\n")
    out = await box.attempt("python3", "-c", code, allow={"python3": {"runs_code": True}})
    assert "no net" in out and f"[] {box.root}" in out
    (box.root / "list").write_text(f"{box.outside}/secret.txt\n")
    out += await box.attempt("xargs", "-a", "list", "cat", allow={"xargs": {"runs_code": True}})
    out += await box.attempt("find", ".", "-name", "list", "-exec", "cat", f"{box.outside}/secret.txt", ";")
    box.assert_untouched(out)


async def test_resource_limits(box):
    from cupola.tools.sandbox import Limits

    allow = {"python3": {"runs_code": True}}
    limits = Limits(cpu_seconds=1, memory_bytes=256 << 20, file_bytes=1 << 20, tmp_bytes=1 << 20)
    big = await box.attempt("python3", "-c", "b = bytearray(512 << 20)", allow=allow, limits=limits)
    assert "MemoryError" in big
    cpu = await box.attempt("python3", "-c", "while True: pass", allow=allow, limits=limits)
    assert not cpu.startswith("exit code: 0")  # SIGXCPU, long before the 20 s timeout
    (box.root / "big").write_bytes(b"x" * (2 << 20))
    await box.attempt("cp", "big", "big2", limits=limits)
    assert (box.root / "big2").stat().st_size <= 1 << 20
    tmp = await box.attempt("python3", "-c", "open('/tmp/tmp/f', 'wb').write(b'x' * (2 << 20))", allow=allow,
                            limits=limits)
    assert "No space left" in tmp or "File too large" in tmp


@pytest.mark.skipif(os.geteuid() == 0, reason="the kernel exempts root's processes from RLIMIT_NPROC")
async def test_process_limit(box):
    from cupola.tools.sandbox import Limits

    out = await box.attempt("python3", "-c", "import os\nfor _ in range(50): os.fork() or os._exit(0)",
                            allow={"python3": {"runs_code": True}}, limits=Limits(processes=8))
    assert "Resource temporarily unavailable" in out or "BlockingIOError" in out


# -- the operating-system layer on its own (no argument checks) ---------------------------------

RAW_ATTACKS = [
    ["cp", "-vt{outside}", "in.txt"],
    ["sort", "-mo{outside}/x", "in.txt"],
    ["tar", "-cvC{outside}", "-f", "-", "secret.txt"],
    ["tar", "-cf", "b.tar", "--checkpoint=1", "--checkpoint-action=exec=touch {outside}/pwned", "in.txt"],
    ["sed", "1r {outside}/secret.txt", "in.txt"],
    ["sed", "-n", "w {outside}/pwned", "in.txt"],
    ["find", ".", "-exec", "cp", "{outside}/secret.txt", ".", ";"],
    ["find", ".", "-fprint", "{outside}/pwned"],
    ["git", "-c", "alias.x=!cat {outside}/secret.txt; touch {outside}/pwned", "x"],
    ["awk", 'BEGIN{{system("cat {outside}/secret.txt; touch {outside}/pwned")}}'],
    ["cat", "{outside}/secret.txt"],
    ["ln", "{outside}/secret.txt", "hard"],
    ["sh", "-c", "ls /root /home /run/docker.sock; cat /etc/shadow {outside}/secret.txt; touch {outside}/pwned"],
]


@pytest.mark.parametrize("attack", RAW_ATTACKS, ids=lambda a: " ".join(a[:2]))
def test_sandbox_holds_without_argument_checks(box, attack):
    import shutil

    from cupola.tools.sandbox import Sandbox

    argv = [shutil.which(attack[0], path="/usr/bin:/bin"), *(a.format(outside=box.outside) for a in attack[1:])]
    done = Sandbox(box.root).run(argv, timeout=20, max_output=100_000)
    box.assert_untouched(done.stdout + done.stderr)
    assert not (box.root / "hard").exists()


def test_landlock_layer_alone(box):
    """The launcher's Landlock rules deny what they do not list, even with no namespaces around them."""
    from cupola.tools.sandbox import launcher

    if launcher.abi_version() < 1:
        pytest.skip("this kernel has no Landlock")
    options = ["--landlock-required", "--deny-tcp", "--rw", str(box.root), "--ro", "/usr", "--ro", "/etc"]
    done = subprocess.run(["/usr/bin/python3", "-I", "-S", launcher.__file__, *options, "--", "/bin/sh", "-c",
                           f"cat {box.outside}/secret.txt; touch {box.outside}/pwned; echo ok > in.txt; cat in.txt"],
                          cwd=box.root, capture_output=True, text=True, timeout=60)
    box.assert_untouched(done.stdout)
    assert "Permission denied" in done.stderr and done.stdout == "ok\n"


# -- no sandbox: refuse unless the user opts out -------------------------------------------------

async def test_refuses_without_a_sandbox_unless_opted_out(box, monkeypatch):
    from cupola.tools.sandbox import Availability, SandboxUnavailable, runner

    monkeypatch.setattr(runner, "availability", lambda: Availability(False, "bubblewrap is not installed"))
    with pytest.raises(SandboxUnavailable, match="refuses to run commands without .* bubblewrap is not installed"):
        box.tool(["ls"])
    out = await box.attempt("ls", allow=["ls"], sandbox=False)
    assert out.startswith("exit code: 0") and "in.txt" in out
    env = await box.attempt("cat", "/proc/self/environ", allow=["cat"], sandbox=False)
    assert "refused" in env  # argument checks still apply
    with pytest.raises(InvalidParameter, match="only allowed inside the sandbox"):
        box.tool({"python3": {"runs_code": True}}, sandbox=False)


async def test_program_lookup_is_on_the_system_path(box, tmp_path, monkeypatch):
    with pytest.raises(NotFound, match="not installed"):
        await box.attempt("no-such-program-cupola", allow=["no-such-program-cupola"])
    private = tmp_path / "bin"  # on the server's PATH, but not a system folder the sandbox shows
    private.mkdir()
    (private / "cupola-tool").write_text("#!/bin/sh\necho hi\n")
    (private / "cupola-tool").chmod(0o755)
    monkeypatch.setenv("PATH", f"{private}:{os.environ['PATH']}")
    with pytest.raises(NotFound, match="not installed"):
        await box.attempt("cupola-tool", allow=["cupola-tool"])
    assert "stdout:\nhi\n" in await box.attempt("cupola-tool", allow=["cupola-tool"], sandbox=False)


# -- agent YAML options ----------------------------------------------------------------------

def _agent(tmp_path: Path, tools: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(f"name: filer\nworkspace: ./ws\ntools:\n{tools}\n")
    return path


def test_yaml_run_command_options(tmp_path):
    from cupola.agents.loader import load_agent

    agent = load_agent(_agent(tmp_path, "  - run_command: {allow: {ls: null, zip: {options: [-r]}}, timeout: 5,"
                              " network: true, memory_mb: 512, read_only: [.]}\n  - read_file: {max_bytes: 10}"))
    run, read = agent.function_tools
    assert "Allowed programs: ls, zip" in run.description and "The network is available" in run.description
    assert run.metadata["sandbox"].startswith("bubblewrap")
    (tmp_path / "ws" / "big.txt").write_text("x" * 11)
    with pytest.raises(InvalidParameter, match="larger than the read limit of 10 bytes"):
        asyncio.run(read(json.dumps({"path": "big.txt"})))


@pytest.mark.parametrize("tools, message", [
    ("  - run_command: {allow: [env]}", "run_command: env runs other programs or code"),
    ("  - run_command: {allow: {find: [-exec]}}", "forbidden flags are not supported"),
    ("  - run_command: {allow: [ls], timeout: 0}", "invalid value for timeout"),
    ("  - run_command: {allow: [ls], sandbox: maybe}", "invalid value for sandbox"),
    ("  - run_command: {allow: [ls], shell: true}", "shell"),
    ("  - run_command: {allow: {python3: {runs_code: true}}, sandbox: false}", "only allowed inside the sandbox"),
    ("  - read_file: {max_bytes: -1}", "invalid value for max_bytes"),
])
def test_yaml_run_command_bad_options(tmp_path, tools, message):
    from cupola.agents.loader import load_agent

    with pytest.raises(InvalidParameter, match=message) as info:
        load_agent(_agent(tmp_path, tools))
    assert "agent.yaml" in str(info.value)


@pytest.mark.real
async def test_agent_runs_a_sandboxed_command_with_the_real_model(models_home, tmp_path):
    """A YAML agent on the embedded model: its forced call runs `ls` in the sandbox (first turn only)."""
    from cupola.agents import Runner
    from cupola.agents.loader import load_agent
    from cupola.client import LocalClient
    from cupola.config import Settings
    from cupola.runtime.runtime import Runtime

    from conftest import new_home

    path = tmp_path / "filer.yaml"
    path.write_text("name: filer\ninstructions: List the files in the workspace with run_command.\n"
                    "workspace: ./ws\ntools:\n  - run_command: {allow: [ls]}\n"
                    "settings: {temperature: 0.2, max_tokens: 160, tool_choice: required}\nmax_turns: 2\n")
    agent = load_agent(path)
    (tmp_path / "ws" / "hello-sandbox.txt").write_text("hi")
    runtime = Runtime(Settings(home=new_home(tmp_path / "home", models_home)))
    events = []
    try:
        async for event in Runner(LocalClient(runtime)).stream(agent, "Which files are there?"):
            events.append(event)
            if event["type"] == "tool_result":
                break
    finally:
        await runtime.close()
    call = next(e for e in events if e["type"] == "tool_call")
    arguments = json.loads(call["arguments"])  # the bounded schema makes the call close within max_tokens
    assert call["name"] == "run_command" and arguments["command"] == "ls"
    done = events[-1]
    # the model picks the arguments: whatever it picked ran in the sandbox or was refused by the checks
    assert done["output"].startswith("exit code: ") or "outside the workspace" in done["output"] \
        or "is not allowed for ls" in done["output"], done
    if not arguments.get("args") or arguments["args"] == ["."]:
        assert "hello-sandbox.txt" in done["output"]
