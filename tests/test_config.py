"""Settings: precedence, provenance, validation."""

import pytest

from cupola.config import Settings, parse_duration
from cupola.errors import UsageError


def test_defaults_are_safe(tmp_path):
    loaded = Settings.load(environ={"CUPOLA_HOME": str(tmp_path)})
    s = loaded.settings
    assert s.host == "127.0.0.1"
    assert s.home == tmp_path
    assert s.keep_alive_seconds == 300
    assert loaded.sources["host"] == "default"
    assert loaded.sources["home"] == "env CUPOLA_HOME"


def test_file_then_env_then_flags(tmp_path):
    (tmp_path / "config.toml").write_text('port = 9100\nparallel = 2\nkeep_alive = "10m"\n')
    env = {"CUPOLA_HOME": str(tmp_path), "CUPOLA_PARALLEL": "6"}
    loaded = Settings.load({"keep_alive": "30s"}, environ=env)
    s = loaded.settings
    assert (s.port, s.parallel, s.keep_alive_seconds) == (9100, 6, 30)
    assert loaded.sources["port"].startswith("file ")
    assert loaded.sources["parallel"] == "env CUPOLA_PARALLEL"
    assert loaded.sources["keep_alive"] == "command line"


def test_config_path_override_and_api_key_hidden(tmp_path):
    cfg = tmp_path / "other.toml"
    cfg.write_text('api_key = "secret"\n')
    loaded = Settings.load(environ={"CUPOLA_HOME": str(tmp_path), "CUPOLA_CONFIG": str(cfg)})
    assert loaded.settings.api_key == "secret"
    assert ("api_key", "***", f"file {cfg}") in loaded.rows()


@pytest.mark.parametrize("env, name", [({"CUPOLA_PORT": "http"}, "port"),
                                        ({"CUPOLA_PARALLEL": "-1"}, "parallel"),
                                        ({"CUPOLA_KEEP_ALIVE": "soon"}, "keep_alive")])
def test_bad_values_name_the_setting_and_its_source(tmp_path, env, name):
    with pytest.raises(UsageError) as info:
        Settings.load(environ={"CUPOLA_HOME": str(tmp_path), **env})
    assert name in info.value.message and "env CUPOLA_" in info.value.message


def test_unknown_key_and_bad_toml_in_file(tmp_path):
    (tmp_path / "config.toml").write_text("prot = 1\n")
    with pytest.raises(UsageError, match="unknown setting 'prot'"):
        Settings.load(environ={"CUPOLA_HOME": str(tmp_path)})
    (tmp_path / "config.toml").write_text("port = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        Settings.load(environ={"CUPOLA_HOME": str(tmp_path)})


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("30s", 30), ("1h", 3600), ("250ms", 0.25),
                                           ("0", 0), (0, 0), ("-1", None), (-1, None), (12, 12)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_duration():
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("five minutes")
