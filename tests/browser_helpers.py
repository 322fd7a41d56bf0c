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


def open_chat(browser: WebDriver, url: str) -> None:
    """Open `url` and the chat widget on it, once its bubble can be clicked."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 20).until(seen.element_to_be_clickable((By.CSS_SELECTOR, ".sw-bubble")))
    browser.find_element(By.CSS_SELECTOR, ".sw-bubble").click()
