"""Several servers on one home: one entry each, discovery that checks process and port, SIGTERM as
clean as SIGINT, stale entries ignored and removed, and the CLI choosing sensibly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cupola.cli.main import app as cli_app
from cupola.errors import UsageError
from cupola.server import registry

from conftest import LiveServer, fake_store


def cli(home, *args):
    return CliRunner().invoke(cli_app, list(args), env={"CUPOLA_HOME": str(home)})


def test_choose_prefers_the_default_port_then_the_only_one():
    a = {"url": "http://127.0.0.1:8765", "port": 8765}
    b = {"url": "http://127.0.0.1:9000", "port": 9000}
    c = {"url": "http://127.0.0.1:9001", "port": 9001}
    assert registry.choose([], 8765) is None
    assert registry.choose([b], 8765) is b
    assert registry.choose([b, a], 8765) is a
    with pytest.raises(UsageError, match="9000.*9001") as info:
        registry.choose([b, c], 8765)
    assert "--url" in info.value.hint


def test_stale_entries_are_ignored_and_removed(tmp_path):
    home = tmp_path / "home"
    entries = home / "servers"
    entries.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        free_port = closed.getsockname()[1]
    (entries / f"{dead.pid}.json").write_text(json.dumps({"url": "u", "host": "127.0.0.1", "port": 1, "pid": dead.pid}))
    (entries / "1.json").write_text(json.dumps({"url": "u", "host": "127.0.0.1", "port": free_port, "pid": 1}))
    (entries / "x.json").write_text("{half a")  # being written: left alone
    (home / "server.json").write_text(json.dumps({"url": "u", "host": "127.0.0.1", "port": 1, "pid": dead.pid}))
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        (entries / f"{os.getpid()}.json").write_text(json.dumps(
            {"url": f"http://127.0.0.1:{port}", "host": "127.0.0.1", "port": port, "pid": os.getpid()}))
        found = registry.live(home)
    assert [s["pid"] for s in found] == [os.getpid()]
    assert sorted(p.name for p in entries.iterdir()) == sorted([f"{os.getpid()}.json", "x.json"])
    assert not (home / "server.json").exists()


def test_two_servers_on_one_home(tmp_path):
    home = tmp_path / "home"
    fake_store(home)  # the default models look pulled: nothing to download, nothing preloaded
    first = LiveServer(home, "--no-preload")
    second = LiveServer(home, "--no-preload")
    try:
        entries = {p.name for p in (home / "servers").iterdir()}
        assert entries == {f"{first.proc.pid}.json", f"{second.proc.pid}.json"}
        assert oct((home / "servers" / f"{first.proc.pid}.json").stat().st_mode & 0o777) == "0o600"
        assert json.loads((home / "server.json").read_text())["pid"] == second.proc.pid  # older clients
        assert "token" not in json.loads((home / "server.json").read_text())
        several = cli(home, "models", "ps")
        assert several.exit_code == 2 and first.url in several.output and second.url in several.output
        assert "--url" in several.output
        assert cli(home, "models", "ps", "--url", first.url).exit_code == 0
        # the server on the configured port is the one chosen
        port = first.url.rsplit(":", 1)[1]
        chosen = CliRunner().invoke(cli_app, ["models", "unload", "minilm-l6"],
                                    env={"CUPOLA_HOME": str(home), "CUPOLA_PORT": port})
        assert chosen.exit_code == 0, chosen.output

        second.proc.send_signal(signal.SIGTERM)  # as clean as Ctrl-C
        assert second.proc.wait(30) == 0
        assert {p.name for p in (home / "servers").iterdir()} == {f"{first.proc.pid}.json"}
        assert json.loads((home / "server.json").read_text())["pid"] == first.proc.pid
        assert cli(home, "models", "ps").exit_code == 0  # the only one left

        first.proc.kill()  # no cleanup at all
        first.proc.wait()
        gone = cli(home, "models", "ps")
        assert gone.exit_code == 1 and "no Cupola server is running" in gone.output
        assert list((home / "servers").iterdir()) == [] and not (home / "server.json").exists()
    finally:
        first.stop()
        second.stop()
