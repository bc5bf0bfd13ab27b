"""Access: API keys with scopes (one route table), the local token, CORS, and `cupola keys`."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cupola.cli.main import app as cli_app
from cupola.errors import UsageError
from cupola.keys import KeyStore
from cupola.runtime.runtime import Runtime
from cupola.server import auth
from cupola.server.app import create_app
from cupola.server.serve import check_exposure

from conftest import FakeFactory, fake_store
from test_http_api import CHAT, assert_openai_error


def make(settings, **kw):
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())
    return TestClient(create_app(settings, runtime, **kw))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def failures(client, reason):
    text = client.get("/metrics", headers=bearer(client.admin)).text
    found = re.search(rf'cupola_auth_failures_total{{reason="{reason}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_every_route_is_in_the_scope_table(settings):
    app = create_app(settings)
    for path, methods in app.openapi()["paths"].items():
        for method in methods:
            assert auth.listed(method.upper(), path), f"{method.upper()} {path} is not in cupola.server.auth.ROUTES"
    assert auth.scope_for("POST", "/v1/chat/completions") == "inference"
    assert auth.scope_for("HEAD", "/health") == "public"
    assert auth.scope_for("DELETE", "/api/kb/notes/documents/a/b.md") == "admin"
    assert auth.scope_for("POST", "/api/something/new") == "admin"  # unlisted: admin
    assert auth.scope_for("GET", "/v1/models/../../api/ps") == "admin"  # one segment only


def test_without_keys_a_loopback_server_is_open(settings):
    with make(settings) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.get("/api/ps").status_code == 200
        assert client.post("/v1/chat/completions", json=CHAT, headers=bearer("anything")).status_code == 200


def test_scopes_once_keys_exist(settings):
    keys = KeyStore(settings.db_path("keys"))
    _, inference = keys.create("app")
    _, admin = keys.create("ops", "admin")
    with make(settings) as client:
        client.admin = admin
        assert client.get("/health").status_code == 200  # public
        assert client.get("/docs").status_code == 200
        err = assert_openai_error(client.post("/v1/chat/completions", json=CHAT), 401, contains="Authorization")
        assert err["type"] == "authentication_error"
        assert client.post("/v1/chat/completions", json=CHAT).headers["www-authenticate"] == "Bearer"
        tampered = inference[:-1] + ("1" if inference[-1] == "0" else "0")
        assert_openai_error(client.post("/v1/chat/completions", json=CHAT, headers=bearer(tampered)), 401)
        assert_openai_error(client.get("/v1/models", headers=bearer("cupola_key_" + "0" * 24 + "_" + "0" * 48)), 401)
        # inference: models answer, knowledge is searched; admin routes are refused with 403
        assert client.post("/v1/chat/completions", json=CHAT, headers=bearer(inference)).status_code == 200
        assert client.post("/v1/chat/completions", json=CHAT, headers={"api-key": inference}).status_code == 200
        assert client.post("/v1/embeddings", json={"model": "minilm-l6", "input": "x"},
                           headers=bearer(inference)).status_code == 200
        assert client.post("/api/kb", json={"name": "n"}, headers=bearer(admin)).status_code == 201
        assert client.post("/api/kb/n/search", json={"query": "x"}, headers=bearer(inference)).status_code == 200
        for method, path in (("POST", "/api/kb"), ("DELETE", "/api/kb/n"), ("POST", "/api/models/pull"),
                             ("POST", "/api/models/smollm2-135m/load"), ("GET", "/metrics"), ("GET", "/api/requests")):
            err = assert_openai_error(client.request(method, path, json={"name": "m", "model": "minilm-l6"},
                                                     headers=bearer(inference)), 403)
            assert err["type"] == "permission_error" and "admin" in err["message"]
        assert client.post("/api/models/smollm2-135m/load", headers=bearer(admin)).status_code == 200
        assert failures(client, "missing") == 2 and failures(client, "invalid") == 2 and failures(client, "scope") == 6
        # revoked in another process (the CLI): refused at once
        other = KeyStore(settings.db_path("keys"))
        other.revoke("app")
        other.close()
        assert_openai_error(client.post("/v1/chat/completions", json=CHAT, headers=bearer(inference)), 401)
    keys.close()


def test_api_key_setting_and_local_token_are_admin(settings):
    with make(settings.model_copy(update={"api_key": "s3cret"}), local_token="cupola-local-t0ken") as client:
        assert_openai_error(client.get("/api/ps"), 401)
        assert client.get("/api/ps", headers=bearer("s3cret")).status_code == 200
        assert client.get("/metrics", headers=bearer("cupola-local-t0ken")).status_code == 200
        assert_openai_error(client.get("/api/ps", headers=bearer("s3cre")), 401)
    with make(settings, local_token="cupola-local-t0ken") as client:  # the token alone requires nothing
        assert client.get("/api/ps").status_code == 200


def test_off_loopback_a_key_is_always_required(settings):
    exposed = settings.model_copy(update={"host": "0.0.0.0"})
    with make(exposed) as client:  # even if every key was revoked while it runs
        assert_openai_error(client.get("/v1/models"), 401)
        assert client.get("/health").status_code == 200
    with pytest.raises(UsageError, match="without an API key") as info:
        check_exposure(exposed)
    assert "cupola keys create" in info.value.hint
    keys = KeyStore(settings.db_path("keys"))
    keys.create("remote")
    keys.close()
    check_exposure(exposed)  # a key exists: it may listen


def test_cors_is_closed_by_default_and_opens_to_configured_origins(settings):
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    with make(settings) as client:
        resp = client.post("/v1/chat/completions", json=CHAT, headers={"Origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in resp.headers
        assert "access-control-allow-origin" not in client.options("/v1/chat/completions", headers=preflight).headers
    KeyStore(settings.db_path("keys")).create("web")
    with make(settings.model_copy(update={"cors_origins": "http://localhost:3000, http://app.test"})) as client:
        resp = client.options("/v1/chat/completions", headers=preflight)  # answered before the key check
        assert resp.status_code == 200 and resp.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "authorization" in resp.headers["access-control-allow-headers"].lower()
        refused = client.post("/v1/chat/completions", json=CHAT, headers={"Origin": "http://app.test"})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "http://app.test"
        other = client.options("/v1/chat/completions", headers={**preflight, "Origin": "http://evil.test"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_keys_cli_shows_a_key_once_and_stores_only_its_hash(settings):
    runner = CliRunner()
    created = runner.invoke(cli_app, ["keys", "create", "ci bot", "--scope", "admin"])
    assert created.exit_code == 0, created.output
    token = re.search(r"cupola_key_[0-9a-f]{24}_[0-9a-f]{48}", created.output).group(0)
    assert token not in settings.db_path("keys").read_bytes().decode("latin-1")
    listed = runner.invoke(cli_app, ["keys", "list"]).output
    assert "ci bot" in listed and "admin" in listed and token not in listed
    assert runner.invoke(cli_app, ["keys", "create", "ci bot"]).exit_code == 2  # an active key has that name
    bad = runner.invoke(cli_app, ["keys", "create", "x", "--scope", "root"])
    assert bad.exit_code == 2 and "inference, admin" in bad.output
    assert runner.invoke(cli_app, ["keys", "revoke", "ci bot"]).exit_code == 0
    assert "no API keys" in runner.invoke(cli_app, ["keys", "list"]).output
    assert "ci bot" in runner.invoke(cli_app, ["keys", "list", "--all"]).output
    assert runner.invoke(cli_app, ["keys", "revoke", "ci bot"]).exit_code == 2
    store = KeyStore(settings.db_path("keys"))
    assert store.scope_of(token) is None and not store.any_active()
    store.close()


@pytest.mark.real
def test_a_live_server_with_keys_the_openai_client_and_the_cli(models_home, tmp_path):
    openai = pytest.importorskip("openai")
    from conftest import LiveServer, new_home

    home = new_home(tmp_path / "home", models_home)
    keys = KeyStore(home / "keys.db")
    _, inference = keys.create("app")
    keys.close()
    server = LiveServer(home, "--no-preload")
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=inference, max_retries=0, timeout=120)
        reply = client.chat.completions.create(model="smollm2-135m", max_tokens=8,
                                               messages=[{"role": "user", "content": "Say hi."}])
        assert reply.choices[0].message.content
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0).models.list()
        import httpx

        refused = httpx.post(server.url + "/api/models/minilm-l6/unload", headers=bearer(inference))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
        # the CLI on this machine uses the server's local token: no key to configure
        result = CliRunner().invoke(cli_app, ["models", "ps"], env={"CUPOLA_HOME": str(home)})
        assert result.exit_code == 0 and "smollm2-135m" in result.output, result.output
    finally:
        server.stop()
