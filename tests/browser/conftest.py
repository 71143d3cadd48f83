"""Fixtures of the browser tests: one headless Chromium for the whole run, a fresh tab per page.

The tests need Debian's chromium (scripts/setup.sh installs it) and the attn Python package of
the build tree (PYTHONPATH=build/release/python); `make test-browser` runs them. Without the
browser they fail, naming the package: they never skip.
"""

import os
import pathlib

import pytest

from cdp import Browser

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def browser():
    with Browser() as b:
        yield b


@pytest.fixture
def open_page(browser):
    """Opens a page file in a new tab; at the end of the test, expects no console errors."""
    pages = []

    def open_(path):
        page = browser.open(pathlib.Path(path).resolve().as_uri())
        pages.append(page)
        return page

    yield open_
    for page in pages:
        assert page.console_errors() == []
        page.send("Page.close")


@pytest.fixture(scope="session")
def attn_cli():
    """The attn binary of the build tree ($ATTN_CLI, else build/release/attn)."""
    path = pathlib.Path(os.environ.get("ATTN_CLI", ROOT / "build/release/attn")).resolve()
    if not path.is_file():
        pytest.fail(f"{path} not found: build it first (make cli)")
    return path
