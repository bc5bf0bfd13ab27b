"""Run one program in an operating-system sandbox: bubblewrap namespaces, then Landlock and limits.

What a command runs in (``Sandbox.run``):

* **bubblewrap** (``bwrap``) makes new user, mount, PID, IPC, UTS, cgroup and (unless the tool
  allows the network) network namespaces. The mount namespace holds only the system directories
  read-only (``/usr``, ``/bin``, ``/lib*``, ``/sbin``, a few files of ``/etc``), a fresh ``/proc``
  and minimal ``/dev``, a small private tmpfs for ``/tmp`` with an empty ``HOME`` and ``TMPDIR``,
  and the workspace read-write at its own path. Nothing else of the host exists in there: no
  home directories, no ``/run`` (so no Docker or D-Bus socket), no other workspace. All
  capabilities are dropped, nested user namespaces are disabled, the environment is replaced.
  The program gets a new session; the PID namespace's first process is bubblewrap's reaper, and
  when the program exits or the reaper is killed the kernel kills every process left in the
  namespace, so no descendant (``setsid``, double fork) survives its command.
* **Landlock** (:mod:`cupola.tools.sandbox.launcher`, applied inside the namespaces just before
  ``execv``): read-write on the workspace and ``/tmp``, read and execute on the system
  directories, nothing else; TCP bind/connect denied when the network is off; no signals to or
  abstract sockets of processes outside. A second, independent layer: a mistake in one does not
  open the box.
* **Resource limits** (``setrlimit`` before ``execv``): CPU seconds, address space, file size,
  processes, open files; and the tmpfs size.

The caller reads stdout and stderr at the same time into buffers that stop growing at
``max_output`` bytes (the rest is counted and thrown away while reading), and kills the whole
process group (and so the namespace) at the deadline.

Why both: Landlock alone cannot hide pathname Unix sockets (``curl --unix-socket
/run/docker.sock``) or UDP, cannot give a private ``/tmp`` or kill a ``setsid`` descendant, and it
forbids the mounts a namespace needs, so it must come last; bubblewrap alone is one layer. With
``enabled=False`` (an explicit opt-out) a command runs without namespaces: limits, a scrubbed
environment and a private ``HOME``/``TMPDIR`` still apply, but files, network and processes that
escape the process group are not contained.
"""

from __future__ import annotations

import atexit
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cupola.errors import RuntimeFailure, UsageError
from cupola.tools.sandbox import launcher

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
             "/etc/localtime", "/etc/nsswitch.conf", "/etc/mime.types", "/etc/magic")
NETWORK_ETC_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/gai.conf", "/etc/ssl", "/etc/ca-certificates",
                     "/etc/pki")
DEVICES_RW = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/shm")
HOME, TMPDIR = "/tmp/home", "/tmp/tmp"
_READ = 65536


class SandboxUnavailable(UsageError):
    """No operating-system sandbox can be made here, and the user did not opt out."""

    code = "sandbox_unavailable"


class SandboxFailure(RuntimeFailure):
    """The sandbox could not be set up for a command (bubblewrap or the launcher failed)."""

    code = "sandbox_failed"


@dataclass(frozen=True)
class Limits:
    """Per-command resource limits (``setrlimit``; ``tmp_bytes`` caps the private ``/tmp``)."""

    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    file_bytes: int = 64 << 20
    processes: int = 64
    open_files: int = 256
    tmp_bytes: int = 64 << 20

    def rlimits(self, *, processes: bool = True) -> dict[str, int]:
        out = {"RLIMIT_CPU": self.cpu_seconds, "RLIMIT_AS": self.memory_bytes, "RLIMIT_FSIZE": self.file_bytes,
               "RLIMIT_NOFILE": self.open_files, "RLIMIT_CORE": 0}
        if processes:
            out["RLIMIT_NPROC"] = self.processes
        return out


@dataclass(frozen=True)
class Availability:
    """Whether commands can be sandboxed here, and if not why (``reason``) and how to fix it."""

    ok: bool
    reason: str = ""
    bwrap: str | None = None
    landlock_abi: int = 0

    def describe(self) -> str:
        if not self.ok:
            return f"no sandbox: {self.reason}"
        landlock = f"Landlock ABI {self.landlock_abi}" if self.landlock_abi else "no Landlock (kernel too old)"
        return f"bubblewrap ({self.bwrap}) + {landlock}"


@dataclass
class CommandResult:
    returncode: int
    stdout: str
    stderr: str
    stdout_dropped: int = 0
    stderr_dropped: int = 0
    timed_out: bool = False


@dataclass
class _Capped:
    """Bytes kept up to ``limit``; what comes after is only counted."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = max(self.limit - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _launcher_python() -> str:
    """An interpreter visible inside the sandbox for the launcher (a system one when there is one)."""
    own = os.path.realpath(sys.executable)
    if own.startswith(tuple(d + "/" for d in SYSTEM_DIRS)):
        return own
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return own  # its installation prefix is bound read-only (see Sandbox.command)


@functools.lru_cache(maxsize=1)
def _launcher_source() -> str:
    return Path(launcher.__file__).read_text()


@functools.lru_cache(maxsize=1)
def _identity_files() -> tuple[str, str]:
    """``passwd`` and ``group`` files naming only the sandbox user (so ``whoami`` and git work)."""
    folder = Path(tempfile.mkdtemp(prefix="cupola-sandbox-"))
    atexit.register(shutil.rmtree, folder, True)
    uid, gid = os.getuid(), os.getgid()
    passwd, group = folder / "passwd", folder / "group"
    passwd.write_text(f"sandbox:x:{uid}:{gid}:sandbox:{HOME}:/usr/sbin/nologin\n")
    group.write_text(f"sandbox:x:{gid}:\n")
    return str(passwd), str(group)


@functools.lru_cache(maxsize=1)
def availability() -> Availability:
    """Probe once per process: bubblewrap present and able to make its namespaces, Landlock's ABI."""
    if not sys.platform.startswith("linux"):
        return Availability(False, f"commands can only be sandboxed on Linux (this is {sys.platform})")
    abi = launcher.abi_version()
    bwrap = shutil.which("bwrap", path=SYSTEM_PATH)
    if bwrap is None:
        return Availability(False, "bubblewrap is not installed (Debian/Ubuntu: `apt-get install bubblewrap`, "
                                   "Fedora: `dnf install bubblewrap`)", None, abi)
    probe = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
             "--ro-bind", "/usr", "/usr", *_symlinks(), "--", shutil.which("true", path=SYSTEM_PATH) or "/bin/true"]
    try:
        done = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Availability(False, f"bubblewrap cannot run: {exc}", bwrap, abi)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        return Availability(False, f"bubblewrap cannot create namespaces here ({why}); unprivileged user "
                                   "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, "
                                   "or an AppArmor profile for bwrap on Ubuntu)", bwrap, abi)
    return Availability(True, "", bwrap, abi)


def _symlinks() -> list[str]:
    out: list[str] = []
    for path in SYSTEM_DIRS[1:]:
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += ["--ro-bind", path, path]
    return out


class Sandbox:
    """Runs programs confined to one workspace directory (see the module docstring)."""

    def __init__(self, workspace: Path | str, *, network: bool = False, limits: Limits | None = None,
                 read_only: tuple[str, ...] = (), enabled: bool = True) -> None:
        self.workspace = os.path.realpath(workspace)
        self.network, self.limits, self.enabled = network, limits or Limits(), enabled
        self.read_only = tuple(os.path.realpath(p) for p in read_only)
        self.status = availability() if enabled else Availability(False, "turned off by the user")
        if enabled and not self.status.ok:
            raise SandboxUnavailable(
                f"run_command refuses to run commands without an operating-system sandbox: "
                f"{self.status.reason}", hint="install bubblewrap, or opt out explicitly with "
                "`sandbox: false` in the run_command options (commands then run unconfined)")

    @property
    def path(self) -> str:
        """Where programs are looked up (only system directories, which the sandbox shows)."""
        return SYSTEM_PATH

    def environment(self) -> dict[str, str]:
        return {"PATH": SYSTEM_PATH, "HOME": HOME, "TMPDIR": TMPDIR, "LANG": "C.UTF-8", "USER": "sandbox",
                "LOGNAME": "sandbox", "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}

    def command(self, argv: list[str]) -> list[str]:
        """The full command line that runs ``argv`` (absolute program first) in the sandbox."""
        python = _launcher_python()
        launch = [python, "-I", "-S", "-c", _launcher_source()]
        for name, value in self.limits.rlimits(processes=self.enabled).items():
            launch += ["--rlimit", f"{name}={value}"]
        if not self.enabled:
            return [*launch, "--", *argv]
        launch += ["--landlock", *(["--deny-tcp"] if not self.network else [])]
        for path in (self.workspace, "/tmp", *DEVICES_RW):
            launch += ["--rw", path]
        for path in (*SYSTEM_DIRS, "/etc", "/proc", "/dev", *self.read_only):
            launch += ["--ro", path]
        out = [self.status.bwrap or "bwrap", "--unshare-all", *(["--share-net"] if self.network else []),
               "--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--die-with-parent", "--new-session",
               "--clearenv"]
        for name, value in self.environment().items():
            out += ["--setenv", name, value]
        out += ["--ro-bind", "/usr", "/usr", *_symlinks()]
        for path in (*ETC_FILES, *(NETWORK_ETC_FILES if self.network else ())):
            out += ["--ro-bind-try", os.path.realpath(path), path]
        passwd, group = _identity_files()
        out += ["--ro-bind", passwd, "/etc/passwd", "--ro-bind", group, "/etc/group"]
        prefix = os.path.realpath(sys.base_prefix)
        if not python.startswith(tuple(d + "/" for d in SYSTEM_DIRS)):
            out += ["--ro-bind", prefix, prefix]
        for path in self.read_only:
            out += ["--ro-bind", path, path]
        out += ["--proc", "/proc", "--dev", "/dev", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp",
                "--dir", HOME, "--dir", TMPDIR, "--bind", self.workspace, self.workspace, "--chdir", self.workspace,
                "--", *launch, "--", *argv]
        return out

    def run(self, argv: list[str], *, timeout: float, max_output: int) -> CommandResult:
        """Run ``argv``; output beyond ``max_output`` bytes per stream is dropped while reading."""
        env, home = self.environment(), None
        if not self.enabled:  # no tmpfs: a private, empty HOME and TMPDIR on the host
            home = tempfile.mkdtemp(prefix="cupola-command-")
            os.mkdir(f"{home}/home")
            os.mkdir(f"{home}/tmp")
            env.update(HOME=f"{home}/home", TMPDIR=f"{home}/tmp")
        try:
            result = _run(self.command(argv), cwd=self.workspace, env=env, timeout=timeout, max_output=max_output)
        finally:
            if home:
                shutil.rmtree(home, ignore_errors=True)
        _raise_setup_failure(result)
        return result


def _raise_setup_failure(result: CommandResult) -> None:
    first = result.stderr.lstrip().splitlines()[0] if result.stderr.strip() else ""
    if result.returncode == launcher.SETUP_FAILED and first.startswith(launcher.PREFIX):
        raise SandboxFailure(f"the sandbox could not start the command: {first[len(launcher.PREFIX):].strip()}")
    if result.returncode == 1 and first.startswith("bwrap: "):
        raise SandboxFailure(f"the sandbox could not be set up: {first[len('bwrap: '):]}")


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(command: list[str], *, cwd: str, env: dict[str, str], timeout: float, max_output: int) -> CommandResult:
    """Spawn in a new session, read both pipes into capped buffers, kill the group at the deadline."""
    out, err = _Capped(max_output), _Capped(max_output)
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    timed_out = False
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, env=env, start_new_session=True, close_fds=True)
    assert proc.stdout is not None and proc.stderr is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        try:
            while sel.get_map():
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if exited_at is not None and now - exited_at > 0.5:
                    break  # the program is gone; whatever still holds its pipes is not waited for
                for key, _ in sel.select(min(deadline - now, 0.25)):
                    chunk = os.read(key.fd, _READ)
                    if chunk:
                        key.data.add(chunk)
                    else:
                        sel.unregister(key.fileobj)
                if exited_at is None and proc.poll() is not None:
                    exited_at = time.monotonic()
                    _kill(proc)  # descendants left in its process group
            if not timed_out:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    timed_out = True
        finally:
            _kill(proc)
            proc.stdout.close()
            proc.stderr.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL always ends it
                pass
    return CommandResult(proc.returncode if proc.returncode is not None else -9, out.text(), err.text(),
                         out.dropped, err.dropped, timed_out)
