"""/docs works offline: Swagger UI comes from local files, and a real headless browser renders every endpoint."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import httpx
import pytest
from fastapi.testclient import TestClient
from gw_helpers import make_settings, serve_in_thread

from gateway.app import create_app
from operations.embedded.process import free_port
from tests.browser import HEADLESS_FLAGS, chromium_env

ENDPOINTS = [
    "/transactions",
    "/transaction",
    "/api/v1/transaction",
    "/score",
    "/labels",
    "/health",
    "/healthz",
    "/readyz",
    "/metrics",
]


def test_docs_page_references_only_local_assets(offline_client: TestClient) -> None:
    html = offline_client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    assert all(a.startswith("/static/swagger-ui/") for a in assets), assets
    assert "cdn" not in html.lower() and "https://" not in html
    for asset in assets:
        resp = offline_client.get(asset)
        assert resp.status_code == 200 and len(resp.content) > 0, asset
    assert offline_client.get("/redoc").status_code == 404  # would need a CDN


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian package 'chromium' is not installed")
def test_swagger_ui_renders_in_headless_chromium() -> None:
    settings = make_settings(f"127.0.0.1:{free_port()}")
    with serve_in_thread(create_app(settings)) as base_url, tempfile.TemporaryDirectory() as profile:
        # The browser may only reach our server: any CDN request would fail (no network in CI anyway).
        argv = [
            "chromium",
            *HEADLESS_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",  # let Swagger UI fetch /openapi.json and render
            "--dump-dom",
            f"{base_url}/docs",
        ]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=90, check=False, env=chromium_env(profile)
        )
        assert result.returncode == 0, result.stderr[-2000:]
        dom = result.stdout
        assert 'class="swagger-ui' in dom, dom[:2000]
        # A path's text may be split by <wbr> at each "/" ("/api<wbr>/v1<wbr>/transaction"): join the pieces.
        rendered = re.findall(r'class="opblock-summary-path"[^>]*>(.*?)</span>', dom)
        paths = [re.sub(r"<[^>]+>", "", p).replace("\u200b", "") for p in rendered]
        assert paths == ENDPOINTS, rendered
        assert "taxifraud gateway" in dom
        assert httpx.get(f"{base_url}/openapi.json").json()["openapi"].startswith("3.")
