"""/docs renders in Debian's headless Chromium from the gateway's own files alone."""

from __future__ import annotations

import pytest

from tests.support.browser import CHROMIUM, chromium, screenshot_path
from tests.support.gateway_stack import start_gateway, stop_gateway

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed"),
]


async def test_the_api_documents_load_nothing_from_elsewhere(topics, database, tmp_path):
    gateway = await start_gateway(topics, tmp_path / "gateway.log")
    try:
        async with chromium() as browser:
            page = await browser.new_page()
            asked: list[str] = []
            page.on("request", lambda request: asked.append(request.url))
            await page.goto(f"{gateway.url}/docs")
            await page.wait_for_selector('[data-path="/v1/reports/{kind}/batch"]', timeout=60_000)
            assert await page.locator(".opblock").count() > 20  # every operation drawn
            await page.screenshot(path=screenshot_path("api-docs"))
        elsewhere = [url for url in asked if not url.startswith((gateway.url, "data:", "blob:"))]
        assert asked and not elsewhere, elsewhere
    finally:
        await stop_gateway(gateway)
