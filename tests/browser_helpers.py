"""Shared by the browser tests: headless Chromium (tests.loopback serves the app)."""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

needs_chromium = pytest.mark.skipif(
    not shutil.which("chromedriver"), reason="make test installs Chromium"
)


def chromium(width: int = 1280, height: int = 900, console: bool = False) -> WebDriver:
    """Headless Chromium with no background traffic (the machine has no network)."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
