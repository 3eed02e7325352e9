"""What the browser tests share: Debian's Chromium (``$CHROMIUM_BIN``, from scripts/chromium.sh),
the flags it runs headless with on this machine's closed network, the viewport and the bound on
every wait. Playwright's own browser downloads are never used."""

from __future__ import annotations

import os

import pytest

#: Generous but bounded: a CI machine may be slow; every wait is for an element, not a sleep.
TIMEOUT_MS = 20_000

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


def chromium_bin() -> str:
    """``$CHROMIUM_BIN``; the test fails (never skips) without an executable one."""
    path = os.environ.get("CHROMIUM_BIN", "")
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            f"CHROMIUM_BIN is {'unset' if not path else repr(path) + ' (not executable)'}: the "
            "browser tests need a Chromium. Run `export CHROMIUM_BIN=\"$(bash scripts/chromium.sh)\"` "
            "(it installs Debian's chromium package if missing).",
            pytrace=False,
        )
    return path
