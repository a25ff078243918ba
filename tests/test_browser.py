"""The dashboard in a real browser: Debian's headless chromium, driven by Selenium.

Two kinds of check. On a seeded store: the Story page renders the paragraph, charts and
quotes, and a post carrying <script> shows as text and runs nothing. On the demo story
(`python -m reactions demo`, plus an active story with no posts): every page at 1280 and
1400 px, with no Deploy button, no "Page not found", no error, tables that fit the window
without a sideways scroll, links in post text that work, honest empty states and the
notes an editor needs (the shares caveat, mail not configured, whether the scheduler
runs). Screenshots are kept under artifacts/ (git-ignored).
`.ci/install-browser.sh` installs chromium; without it these tests skip and say why.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

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


@contextmanager
def serve(database_url: str, log_path):
    """The dashboard as `reactions dashboard` starts it, on a free port; yields its URL."""
    from reactions.commands.dashboard import free_port, streamlit_command, wait_until_serving

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(REACTIONS_DATABASE_URL=database_url, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
               HF_HUB_OFFLINE="1")
    log = open(log_path, "wb")
    process = subprocess.Popen([*streamlit_command(port), "--server.fileWatcherType", "none"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_serving(base, process, 60):
            pytest.fail("the dashboard did not start:\n" + log_path.read_text(errors="replace"))
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def dashboard(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    seed(store)
    store.close()
    with serve(sqlite_url, tmp_path / "streamlit.log") as base:
        yield base


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


# -- every page with the demo story -----------------------------------------------------------

DEMO = "trump-maduro-call"
EMPTY = "no-posts-yet"
WIDTHS = (1280, 1400)


@pytest.fixture(scope="module")
def demo_dashboard(tmp_path_factory):
    """`python -m reactions demo` into a fresh data dir, one active story with no posts, served."""
    from reactions.models import SourceConfig, Story

    data = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTIONS_")}
    env.update(REACTIONS_DATA_DIR=str(data), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "reactions", "demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    url = f"sqlite:///{data / 'reactions.db'}"
    store = Store(url)
    store.save_story(Story(slug=EMPTY, title="A story nothing has been collected for",
                           claim="The new policy is the right approach.", queries=["policy"],
                           sources=[SourceConfig("hackernews", 30)]))
    store.close()
    with serve(url, data / "streamlit.log") as base:
        yield base


def body(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def open_page(driver, url: str, ready: str, shot: str):
    """Load a page, wait for `ready` and for Streamlit to finish, keep a screenshot."""
    driver.get(url)
    try:
        WebDriverWait(driver, 90).until(lambda d: ready in body(d))
        # Streamlit shows a status widget while the script runs; wait until it has finished.
        WebDriverWait(driver, 90).until(lambda d: not d.find_elements(
            By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
        time.sleep(1.5)  # charts and tables draw after the script ends
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / shot))


def check_common(driver, page: str) -> list:
    text = body(driver)
    assert "Page not found" not in text, page
    assert "Deploy" not in text, page
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAppDeployButton"]'), page
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), page
    # Every table fits the window: no sideways scroll hides a column. Measured again for a
    # few seconds while a grid is still laying out (a scrollbar shown while its rows load
    # narrows it for a moment); a table that stays too wide still fails.
    deadline = time.monotonic() + 5
    while True:
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('[data-testid=\"stDataFrame\"] "
            ".dvn-scroller')).map(s => [s.scrollWidth, s.clientWidth])")
        fits = all(scroll <= client + 1 for scroll, client in widths)
        if fits or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert fits, (page, widths)
    return widths


def table_texts(driver) -> list[str]:
    """Each table's text (the data grid keeps an accessible copy of its cells in the page)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-testid=\"stDataFrame\"] table'))"
        ".map(t => t.innerText)")


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_with_the_demo_story(demo_dashboard, browser, width):
    base = demo_dashboard
    browser.set_window_size(width, 2400)

    # "/" is the Live page, at its own address.
    open_page(browser, f"{base}/", "Open alerts", f"root-{width}.png")
    assert browser.current_url == f"{base}/live"
    assert check_common(browser, "live")  # its tables were found and measured
    text = body(browser)
    assert "cold-start guess" in text  # the caveat under the shares
    live = "\n".join(table_texts(browser))
    assert f"story?story={DEMO}" in live and f"story?story={EMPTY}" in live
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a")]
    assert f"{base}/story?story={DEMO}" in links

    open_page(browser, f"{base}/story?story={DEMO}", "Download all", f"story-{width}.png")
    assert check_common(browser, "story")  # its tables were found and measured
    text = body(browser)
    assert "Since Nov 24" in text and "209 matching posts" in text  # the paragraph states its period
    assert "Posts 1-50 of 209" in text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg")) >= 2
    quote_links = [(a.get_attribute("href") or "", a.get_attribute("textContent") or "")
                   for a in browser.find_elements(By.CSS_SELECTOR, "blockquote a")]
    assert quote_links
    assert not any("%5C" in href or "\\" in href for href, _ in quote_links)
    assert all(href.startswith(("https://", "http://", "mailto:")) for href, _ in quote_links)
    # A link inside a post's own text (the Axios post), pointing where its text says.
    in_text = [(h, t) for h, t in quote_links if t.startswith(("http", "www."))]
    assert any(h == "https://www.axios.com/2025/11/24/trump-maduro-call-venezuela" for h, _ in in_text)
    assert all(h.rstrip("/") == t.rstrip("/") or h == "http://" + t for h, t in in_text)
    posts = "\n".join(table_texts(browser))
    for column in ("platform", "conf.", "review", "correct to"):
        assert column in posts
    assert "bluesky" in posts and "reddit" in posts

    # The download holds the whole filtered set, written when clicked.
    downloads = ARTIFACTS / f"downloads-{width}"
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    button = next(b for b in browser.find_elements(By.TAG_NAME, "button")
                  if b.text.startswith("Download all"))
    browser.execute_script("arguments[0].scrollIntoView()", button)
    button.click()
    target = downloads / f"{DEMO}-posts.csv"
    WebDriverWait(browser, 60).until(lambda _: target.exists() and target.stat().st_size > 0)
    with target.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 209 and {r["platform"] for r in rows} >= {"bluesky", "reddit"}
    assert sum(r["label_source"] == "human" for r in rows) == 48  # the demo editor's labels

    open_page(browser, f"{base}/story?story={EMPTY}", "Nothing has been collected",
              f"story-empty-{width}.png")
    check_common(browser, "story (no posts)")
    text = body(browser)
    assert "%" not in text.split("The paragraph")[0]  # no 0% that looks like data
    assert "No posts match these filters." in text

    open_page(browser, f"{base}/stories", "Add or edit a story", f"stories-{width}.png")
    assert check_common(browser, "stories")  # its tables were found and measured
    assert DEMO in "\n".join(table_texts(browser))

    open_page(browser, f"{base}/digests", "Preview of the next digest", f"digests-{width}.png")
    check_common(browser, "digests")  # no subscription or rule yet: no table
    assert "Mail is not configured" in body(browser)
    # The demo's posts are older than a day: the preview says why its shares are empty.
    assert "No post of this story was made in the daily period" in body(browser)

    open_page(browser, f"{base}/health", "The scheduler has not run", f"health-{width}.png")
    assert check_common(browser, "health")  # its tables were found and measured
    health = "\n".join(table_texts(browser))
    assert "never run" in health and "None" not in health and "+00:00" not in health


def test_correcting_a_bucket_in_the_posts_table(dashboard, browser, sqlite_url):
    """An editor picks a bucket in the table's own 'correct to' cell and saves it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from dashboard.posts_table import COLUMNS

    browser.set_window_size(1400, 1000)
    open_page(browser, f"{dashboard}/story?story=seeded", "Save corrections",
              "correct-before.png")
    grid = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
    # The first row is the newest post, the <script> one, which the model put in supporters.
    # Click its first cell, move right to "correct to" with the keyboard, open it, pick.
    shown = [name for name, config in COLUMNS.items() if config is not None]
    ActionChains(browser).move_to_element_with_offset(
        grid, -grid.size["width"] / 2 + 30, -grid.size["height"] / 2 + 35 + 17).click().perform()
    keys = ActionChains(browser)
    for _ in range(shown.index("correct to")):
        keys.send_keys(Keys.ARROW_RIGHT)
    keys.send_keys(Keys.ENTER).perform()
    time.sleep(1)
    browser.save_screenshot(str(ARTIFACTS / "correct-open.png"))
    ActionChains(browser).send_keys("skeptics").perform()
    time.sleep(0.5)
    browser.save_screenshot(str(ARTIFACTS / "correct-typed.png"))
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    WebDriverWait(browser, 30).until(lambda d: "Save corrections (1)" in body(d))
    button = next(b for b in browser.find_elements(By.TAG_NAME, "button")
                  if b.text.startswith("Save corrections"))
    button.click()
    WebDriverWait(browser, 30).until(lambda d: "Saved 1 correction" in body(d))
    browser.save_screenshot(str(ARTIFACTS / "correct-after.png"))
    store = Store(sqlite_url)
    try:
        labels = store.labels("seeded", source="human")
    finally:
        store.close()
    assert [(text, label) for _, text, label, _ in labels] == [(SCRIPT, "skeptics")]
