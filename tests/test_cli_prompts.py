"""`cupola run`: the prompt from standard input (-), prompts that start with dashes, and models that
cannot be pulled offline saying how to get them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cupola.cli.main import app
from cupola.cli.prompt import dash_safe
from cupola.errors import OfflineError
from cupola.models.store import ModelStore

from test_http_api import assert_openai_error, make_client

FRONT_MATTER = "---\ntitle: notes\n---\nSay hello."
TAKES_VALUE = {"--system": True, "-s": True, "--max-tokens": True, "-n": True, "--local": False, "--url": True}


def test_dash_prompts_are_moved_behind_the_double_dash():
    assert dash_safe(["m", "hi"], TAKES_VALUE) == ["m", "hi"]
    assert dash_safe(["m", FRONT_MATTER, "-n", "8", "--local"], TAKES_VALUE) == \
        ["-n", "8", "--local", "--", "m", FRONT_MATTER]
    assert dash_safe(["m", "-s", "--- a system prompt", "hi"], TAKES_VALUE) == ["m", "-s", "--- a system prompt", "hi"]
    assert dash_safe(["m", "--", "-x"], TAKES_VALUE) == ["m", "--", "-x"]
    assert dash_safe(["m", "-"], TAKES_VALUE) == ["m", "-"]


def test_run_parses_dash_prompts_and_reads_stdin():
    runner = CliRunner()
    unreachable = ["--url", "http://127.0.0.1:9"]  # parsing is what is tested: the request then fails cleanly
    for args in (["run", "m", FRONT_MATTER, *unreachable], ["run", "m", *unreachable, "--", "-x"],
                 ["run", "m", FRONT_MATTER, "-n", "4", *unreachable]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "cannot reach the server at http://127.0.0.1:9" in result.output, args
    result = runner.invoke(app, ["run", "m", "-", *unreachable], input=FRONT_MATTER)
    assert result.exit_code == 1 and "cannot reach the server" in result.output
    empty = runner.invoke(app, ["run", "m", "-"], input="  \n")
    assert empty.exit_code == 2 and "empty" in empty.output
    assert "No such option" in runner.invoke(app, ["run", "m", "--verbose"]).output  # typos still caught


def test_an_unpulled_hub_model_offline_says_how_to_get_it(settings, tmp_path):
    store = ModelStore(tmp_path / "models", offline=True)
    with pytest.raises(OfflineError) as info:
        store.pull("qwen2.5-0.5b")
    assert "cupola models pull qwen2.5-0.5b" in info.value.message
    assert "cupola models import PATH --alias NAME" in info.value.message
    with make_client(settings, offline=True) as client:
        err = assert_openai_error(client.post("/v1/chat/completions", json={
            "model": "qwen2.5-0.5b", "messages": [{"role": "user", "content": "hi"}]}), 502)
        assert err["code"] == "offline" and "cupola models pull qwen2.5-0.5b" in err["message"]


@pytest.mark.real
def test_run_answers_a_front_matter_prompt_piped_in(home_with_models):
    result = CliRunner().invoke(app, ["run", "smollm2-135m", "-", "--local", "-n", "8"], input=FRONT_MATTER)
    assert result.exit_code == 0 and result.output.strip(), result.output
