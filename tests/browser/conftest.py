"""Fixtures of the browser tests: Debian's headless Chromium driven by Playwright.

The browser is ``/usr/bin/chromium`` from the ``chromium`` package (``.ci/run`` installs it);
Playwright's own browser downloads are never used. Without either, the tests skip (and fail
under ``CI=true``, see ``tests/conftest.py``). The tests use Playwright's sync API, so they are
plain functions: no event loop runs while they do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from tests.browser._spa import RECORD_VIOLATIONS, STEP_TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
#: Kept after the run for a person (or a CI artifact upload) to look at; ignored by git.
SCREENSHOTS: Final = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event
    loop running in the main thread while it is open, and every later test that calls
    ``asyncio.run`` (or starts a loop of its own) would fail."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"playwright is not importable ({exc}): pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="module")
def expect() -> Any:
    """Playwright's assertions (they wait); imported late, as the ``browser`` fixture skips
    when Playwright is missing."""
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    return expect


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies, no storage) that records CSP violations."""
    context = browser.new_context()
    context.set_default_timeout(STEP_TIMEOUT_MS)
    context.add_init_script(RECORD_VIOLATIONS)
    try:
        yield context
    finally:
        context.close()
