"""Generated docs must match the code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_up_to_date(tmp_path):
    out = tmp_path / "cli.md"
    subprocess.run([sys.executable, "-m", "typer", "cupola.cli.main", "utils", "docs", "--name", "cupola",
                    "--output", str(out)], check=True, capture_output=True)
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text(), \
        "docs/cli.md is stale: regenerate with `typer cupola.cli.main utils docs --name cupola --output docs/cli.md`"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
    assert test_command in readme and test_command in ci
    head = readme.split("---")[0]
    assert "cupola serve" in head and test_command in head
