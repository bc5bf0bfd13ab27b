"""The last step before an agent's command runs: resource limits, Landlock, then ``execv``.

This file is standard-library only and self-contained: :mod:`cupola.tools.sandbox.runner` runs its
source as ``python -I -S -c SOURCE OPTIONS -- PROGRAM ARGS...`` *inside* the bubblewrap
namespaces, so the interpreter starts without site-packages and nothing of Cupola is imported
there (it imports only what it needs: start-up time is most of the sandbox's cost). ``OPTIONS``::

    --rlimit RLIMIT_CPU=20 ...      resource limits (soft = hard)
    --landlock                      apply Landlock (best effort); --landlock-required: or fail
    --rw PATH ... --ro PATH ...     what Landlock allows (read-write; read and execute)
    --deny-tcp                      no TCP bind or connect (Landlock ABI 4+)

Landlock (Linux 5.13+, unprivileged) is applied to this process and every descendant:
read, write and make anything but device nodes under ``rw``; read and execute under ``ro``; nothing anywhere else.
With ABI 4+ ``deny_tcp`` forbids every TCP bind and connect; with ABI 6+ the process can neither
signal nor reach the abstract Unix sockets of processes outside its domain. A Landlock ABI the
kernel does not know is simply not asked for (best effort) unless ``required`` is true.

Failures before ``execv`` exit with status 125 and one line on stderr starting ``cupola-sandbox:``.
"""

from __future__ import annotations

import os
import struct
import sys
TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost start-up time
if TYPE_CHECKING:  # ctypes is imported where needed: the opt-out path never loads it
    import ctypes

PREFIX = "cupola-sandbox:"
SETUP_FAILED = 125

# <linux/landlock.h>; the syscall numbers are the same on every architecture (asm-generic table).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_ACCESS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # valid on a non-directory
READ_EXECUTE = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR


def _fail(message: str) -> None:
    sys.stderr.write(f"{PREFIX} {message}\n")
    sys.stderr.flush()
    os._exit(SETUP_FAILED)


def _libc() -> ctypes.CDLL:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version(libc: ctypes.CDLL | None = None) -> int:
    """The kernel's Landlock ABI (0 when Landlock is missing or disabled)."""
    import ctypes

    try:
        libc = libc or _libc()
        version = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def handled_fs(abi: int) -> int:
    return next((mask for level, mask in sorted(_FS_BY_ABI.items(), reverse=True) if abi >= level), 0)


def _check(libc: ctypes.CDLL, result: int, what: str) -> int:
    import ctypes

    if result < 0:
        err = ctypes.get_errno()
        _fail(f"landlock {what} failed: {os.strerror(err)}")
    return result


def restrict(rw: list[str], ro: list[str], *, deny_tcp: bool, required: bool) -> int:
    """Confine this process (and its future children) with Landlock; returns the ABI used (0: none)."""
    import ctypes

    libc = _libc()
    abi = abi_version(libc)
    if abi < 1:
        if required:
            _fail("Landlock is not available in this kernel (needs Linux 5.13+ with landlock in the LSM list)")
        return 0
    fs = handled_fs(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if deny_tcp and abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(libc, libc.syscall(_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)),
                     "create_ruleset")
    no_devices = fs & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK)  # read-write, but never a device node
    for paths, access in ((rw, no_devices), (ro, READ_EXECUTE)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not present on this system: nothing to allow
            try:
                allowed = access & fs if os.path.isdir(path) else access & fs & FILE_ACCESS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", allowed, fd), 12)
                _check(libc, libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                          rule, ctypes.c_uint32(0)), f"add_rule({path})")
            finally:
                os.close(fd)
    _check(libc, libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(libc, libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict_self")
    os.close(ruleset)
    return abi


def main(argv: list[str]) -> None:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        _fail("usage: launcher [OPTIONS] -- PROGRAM [ARGS...]")
    end = argv.index("--")
    options, program = argv[:end], argv[end + 1:]
    rlimits: list[tuple[str, int]] = []
    rw: list[str] = []
    ro: list[str] = []
    landlock = required = deny_tcp = False
    i = 0
    while i < len(options):
        option = options[i]
        if option in ("--rlimit", "--rw", "--ro") and i + 1 < len(options):
            value, i = options[i + 1], i + 2
            if option == "--rlimit":
                name, _, number = value.partition("=")
                rlimits.append((name, int(number)))
            else:
                (rw if option == "--rw" else ro).append(value)
            continue
        if option not in ("--landlock", "--landlock-required", "--deny-tcp"):
            _fail(f"unknown option {option}")
        landlock = landlock or option.startswith("--landlock")
        required = required or option == "--landlock-required"
        deny_tcp = deny_tcp or option == "--deny-tcp"
        i += 1
    if rlimits:
        import resource

        for name, value in rlimits:
            try:
                resource.setrlimit(getattr(resource, name), (value, value))
            except (ValueError, OSError, AttributeError) as exc:
                _fail(f"cannot set {name}={value}: {exc}")
    if landlock:
        restrict(rw, ro, deny_tcp=deny_tcp, required=required)
    try:
        os.execv(program[0], program)
    except OSError as exc:
        _fail(f"cannot run {os.path.basename(program[0])}: {exc.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
