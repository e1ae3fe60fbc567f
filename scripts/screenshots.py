"""Screenshots of a run folder's report and review page for the README (headless Chromium).

    python scripts/screenshots.py RUN_DIR [--out docs]

writes ``docs/report.png`` (the report's overview: confusion matrix, bars, the start of the
galleries) and ``docs/review.png`` (the review page after a few decisions). Needs Debian's
``chromium`` and ``chromium-driver`` and the ``selenium`` package (``make setup`` as root).
The run folder is not changed: the pages are opened from a copy, in a fresh profile.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains


def _driver(profile: Path, width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", f"--user-data-dir={profile}",
                "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(args.run_dir, run)
        driver = _driver(Path(tmp) / "profile", 1100, 1500)
        try:
            driver.get((run / "report.html").as_uri() + "#overview")
            time.sleep(0.5)
            driver.save_screenshot(str(args.out / "report.png"))
            driver.set_window_size(1100, 700)
            driver.get((run / "review.html").as_uri())
            ActionChains(driver).send_keys("a", "a", "k", "u").perform()
            time.sleep(0.5)
            driver.save_screenshot(str(args.out / "review.png"))
        finally:
            driver.quit()
    print(f"wrote {args.out / 'report.png'} and {args.out / 'review.png'}")


if __name__ == "__main__":
    main()
