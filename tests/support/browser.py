"""Debian's headless Chromium driven by Playwright for Python (never a downloaded browser)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium")
# Without the background-networking flags Chromium keeps calling out of this closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots are kept for people to look at after the run (the issue asks for them).
ARTEFACTS = Path(__file__).resolve().parents[2] / ".signalpost" / "artefacts" / "console"


@asynccontextmanager
async def chromium() -> AsyncIterator[object]:
    """A headless Chromium of the system's; each test makes its own contexts (cookie jars)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


def screenshot_path(name: str) -> Path:
    """Where a view's screenshot goes."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS / f"{name}.png"
