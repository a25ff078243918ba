"""The Story page in a real browser: Debian's headless chromium, driven by Selenium.

Starts the dashboard on 127.0.0.1 over a seeded store, loads the story page, and checks
that the paragraph, the charts and the quotes render and that a post carrying <script>
shows as text and runs nothing. The screenshot is kept under artifacts/ (git-ignored).
`.ci/install-browser.sh` installs chromium; without it this test skips and says why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from reactions.store import Store
from tests.conftest import ROOT
from tests.test_dashboard import SCRIPT, seed

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "artifacts"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install -r requirements-dev.txt)")
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("no Debian chromium/chromedriver: run .ci/install-browser.sh",
                allow_module_level=True)

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    seed(store)
    store.close()
    port = free_port()
    env = {**os.environ, "REACTIONS_DATABASE_URL": sqlite_url,
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = open(tmp_path / "streamlit.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the dashboard did not start:\n"
                            + (tmp_path / "streamlit.log").read_text(errors="replace"))
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,2200", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_story_page_in_chromium(dashboard, browser):
    browser.get(f"{dashboard}/story?story=seeded")
    wait = WebDriverWait(browser, 60)
    try:
        wait.until(lambda d: "Supporters say" in d.find_element(By.TAG_NAME, "body").text)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, "
                                                                  ".vega-embed svg")) >= 2)
        wait.until(lambda d: d.find_elements(By.TAG_NAME, "blockquote"))
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "story-page.png"))
    body = browser.find_element(By.TAG_NAME, "body").text
    # The paragraph and the quote show the post's <script> as text...
    assert SCRIPT in body
    quotes = [q.text for q in browser.find_elements(By.TAG_NAME, "blockquote")]
    assert any("<script>window.pwned = 1</script>" in q for q in quotes)
    assert any("post number" in q for q in quotes)
    links = [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR,
                                                                            "blockquote a")]
    assert any(h.startswith("https://example.org/") for h in links)
    assert not any(h.startswith("javascript:") for h in links)
    # ...and nothing ran: no such script element exists and its global was never set.
    assert browser.execute_script("return window.pwned") is None
    scripts = browser.execute_script(
        "return Array.from(document.querySelectorAll('script')).map(s => s.textContent)")
    assert not any("pwned" in s for s in scripts)


def test_dashboard_live_page_loads(dashboard, browser):
    browser.get(f"{dashboard}/live")
    try:
        WebDriverWait(browser, 60).until(
            lambda d: "Open alerts" in d.find_element(By.TAG_NAME, "body").text)
    except TimeoutException:
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "live-page-failed.png"))
        raise
    assert "Volume spike" in browser.find_element(By.TAG_NAME, "body").text
