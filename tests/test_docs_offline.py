"""/docs works offline: Swagger UI's files come from the package (pinned, checksummed, licensed)."""

from __future__ import annotations

import hashlib
import re

from cupola.server.docs import ASSETS, SWAGGER_UI_VERSION

from test_http_api import make_client


def test_vendored_swagger_ui_matches_its_record():
    record = (ASSETS / "README.md").read_text()
    assert f"**{SWAGGER_UI_VERSION}**" in record
    for name, digest in re.findall(r"\| `([^`]+)` \| `([0-9a-f]{64})` \|", record):
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (ASSETS / "LICENSE").read_text()


def test_docs_page_loads_only_local_assets(settings):
    with make_client(settings) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        assert "validatorUrl" in page.text  # the online validator is switched off
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200 and asset.content, url
        assert client.get("/docs/static/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/docs/static/../../openapi.json").status_code in (200, 404)  # never a file outside
        assert client.get("/docs/static/..%2f__init__.py").status_code == 404
