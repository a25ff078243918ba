"""Take the README's screenshot: the dashboard's Story page on the demo data, in headless
Chromium (Debian's chromium and chromedriver, as `bash .ci/install-browser.sh` installs them).

    reactions demo && python scripts/screenshot.py [--out docs/img/story-page.png]

Starts the dashboard on a free port against the configured database, waits for the
paragraph and the charts, saves a 1400 px wide capture, and shrinks it to a small
palette PNG (the README's image must stay under 200 KB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from PIL import Image
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from reactions.commands.dashboard import free_port, streamlit_command, wait_until_serving
    from reactions.config import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "story-page.png")
    parser.add_argument("--story", default=None, help="story slug (default: the demo story)")
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    story = args.story or get_settings().demo_story

    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    server = subprocess.Popen([*streamlit_command(port), "--server.fileWatcherType", "none"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    try:
        if not wait_until_serving(base, server, 90, poll=0.5):
            print("the dashboard did not start", file=sys.stderr)
            return 1
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size=1400,{args.height}", "--hide-scrollbars"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(f"{base}/story?story={story}")
            wait = WebDriverWait(driver, 120)
            wait.until(lambda d: d.find_elements(By.TAG_NAME, "blockquote"))
            # The sample posts are dated: show them all, whatever today's date.
            box = wait.until(lambda d: next(
                (b for b in d.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]')
                 if b.text.startswith("Window")), None))
            box.find_element(By.CSS_SELECTOR, "input, [role='combobox']").click()
            wait.until(lambda d: [o for o in d.find_elements(By.CSS_SELECTOR, '[role="option"]')
                                  if o.text == "all time"])[0].click()
            time.sleep(2)
            wait.until(lambda d: d.find_elements(By.TAG_NAME, "blockquote"))
            try:  # charts below the fold may not draw in a headless window: don't insist
                WebDriverWait(driver, 30).until(lambda d: d.find_elements(
                    By.CSS_SELECTOR, ".vega-embed canvas, .vega-embed svg"))
            except TimeoutException:
                pass
            time.sleep(3)  # let the charts finish drawing
            raw = args.out.with_suffix(".raw.png")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(raw))
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=20)
    image = Image.open(raw).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    raw.unlink()
    size = args.out.stat().st_size
    print(f"{args.out}: {image.width}x{image.height}, {size / 1024:.0f} KB")
    return 0 if size < 200 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
