"""The review page and the report in a real browser: headless Chromium driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install-browser.sh``, run by
``make`` as root) and the ``selenium`` package; skipped with the reason otherwise.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robustloss.report.run.overview import OVERVIEW_CSS, overview_html
from robustloss.review.apply import apply_review
from robustloss.review.page import PAGE_SIZE, write_review
from robustloss.run.reader import read_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review_fakes import fake_run

pytestmark = pytest.mark.browser

CHROMEDRIVER = "/usr/bin/chromedriver"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    binary = _chromium()
    if binary is None or not Path(CHROMEDRIVER).is_file():
        pytest.skip("no chromium / chromedriver (apt-get install chromium chromium-driver)")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,900", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    # The Debian driver by path: Selenium Manager never downloads one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _keys(driver, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for k in keys:
        chain.send_keys(k)
    chain.perform()


def _text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def _wait_for(path: Path, timeout: float = 20.0) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file() and path.stat().st_size > 0:
            return path
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def test_review_keys_export_and_apply(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    run = tmp_path / "run"
    made = fake_run(run, n=60, k=4, flagged=15)
    write_review(run, images=made["images"])
    browser.get((run / "review.html").as_uri())
    assert browser.get_log("browser") == []  # no script errors
    f, names, labels = made["flagged"], made["names"], made["labels"]
    assert f"index {f[0]})" in _text(browser, "pos")
    assert _text(browser, "given") == names[labels[f[0]]]
    assert _text(browser, "sugg") == names[(labels[f[0]] + 1) % 4]
    # the large image shows sheet 0, tile 0
    style = browser.find_element("id", "img").get_attribute("style")
    assert "sheet-00000.png" in style
    other = next(c for c in range(4) if c not in (labels[f[2]], (labels[f[2]] + 1) % 4))
    _keys(browser, "a", "k", str(other), "u")  # accept, keep, relabel by digit, unsure
    _keys(browser, "r")  # the picker: type to filter, Enter
    assert browser.find_element("id", "picker").get_attribute("class") == "open"
    target = (labels[f[4]] + 2) % 4
    _keys(browser, names[target], Keys.ENTER)
    assert "decided 5 of 15" in _text(browser, "progress")
    assert f"index {f[5]})" in _text(browser, "pos")  # advanced after each decision
    _keys(browser, Keys.ARROW_LEFT)
    assert "relabel" in _text(browser, "decision")

    # progress survives a reload (localStorage, keyed by the config hash)
    browser.refresh()
    assert "decided 5 of 15" in _text(browser, "progress")

    browser.find_element("id", "export").click()
    exported = _wait_for(browser.downloads / "review.csv")
    with exported.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["index", "given", "decision", "label", "run"]
    assert [int(r["index"]) for r in rows] == f[:5].tolist()
    assert [r["decision"] for r in rows] == ["accept", "keep", "relabel", "unsure", "relabel"]
    assert rows[0]["label"] == names[(labels[f[0]] + 1) % 4]
    assert rows[1]["label"] == names[labels[f[1]]]
    assert rows[2]["label"] == names[other]
    assert rows[3]["label"] == ""
    assert rows[4]["label"] == names[target]
    assert {r["run"] for r in rows} == {made["hash"]}
    assert all(r["given"] == names[labels[int(r["index"])]] for r in rows)

    result = apply_review(run, exported, tmp_path / "fixed.npz")
    assert result.decisions == {"accept": 1, "keep": 1, "relabel": 2, "unsure": 1}
    with np.load(tmp_path / "fixed.npz") as npz:
        assert npz["labels"][f[2]] == other and npz["labels"][f[4]] == target


def test_review_by_class_and_one_confusion(browser, tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=80, k=4, flagged=40)
    write_review(run, images=made["images"])
    labels = made["labels"][made["flagged"]]
    browser.get((run / "review.html").as_uri() + "#given=2&suggested=3")
    assert f"of {int((labels == 2).sum())} " in _text(browser, "pos")
    assert _text(browser, "given") == "c2" and _text(browser, "sugg") == "c3"
    browser.get((run / "review.html").as_uri() + "#given=&suggested=")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "order")).select_by_value("class")
    _keys(browser, "\ue010")  # End
    assert _text(browser, "given") == "c3"  # grouped by given class: the last class last


def test_report_matrix_cells_lead_to_their_gallery(browser, tmp_path):
    run = tmp_path / "run"
    made = fake_run(run, n=80, k=4, flagged=30)
    write_review(run, images=made["images"])
    page = run / "overview.html"
    page.write_text(
        f"<html><head><style>{OVERVIEW_CSS}</style></head><body>"
        f"{overview_html(read_run(run))}</body></html>"
    )
    browser.get(page.as_uri())
    cell = browser.find_element("css selector", "a[href='#gallery-1-2']")
    expected = int((made["labels"][made["flagged"]] == 1).sum())
    assert cell.text == str(expected)
    cell.click()
    assert browser.execute_script("return location.hash") == "#gallery-1-2"
    target = browser.execute_script("return document.querySelector(':target').id")
    assert target == "gallery-1-2"
    heading = browser.find_element("css selector", "#gallery-1-2 h5").text
    assert heading.startswith(f"c1 → c2: {expected}")
    assert len(browser.find_elements("css selector", "#gallery-1-2 img")) == min(8, expected)


def test_review_page_with_100000_flagged_stays_bounded(browser, tmp_path):
    run = tmp_path / "run"
    n = 100_000
    made = fake_run(run, n=n, k=10, flagged=n, write_input=False)
    small = made["images"][:, :8, :8]  # small tiles keep the 1,000 sheets quick to write
    start = time.perf_counter()
    write_review(run, images=np.ascontiguousarray(small))
    written_s = time.perf_counter() - start
    assert len(list((run / "review").glob("sheet-*.png"))) == n // 100
    start = time.perf_counter()
    browser.get((run / "review.html").as_uri())
    assert "suspect 1 of 100000" in _text(browser, "pos")
    opened_s = time.perf_counter() - start
    count = "return document.getElementsByTagName('*').length"
    nodes = browser.execute_script(count)
    _keys(browser, "\ue010")  # End
    assert f"suspect {n} of {n}" in _text(browser, "pos")
    assert f"index {made['flagged'][-1]})" in _text(browser, "pos")
    style = browser.find_element("id", "img").get_attribute("style")
    assert "sheet-00999.png" in style
    _keys(browser, "a", "\ue00e", "\ue00e")  # decide the last one, then PageUp twice
    assert f"suspect {n - 2 * PAGE_SIZE} of {n}" in _text(browser, "pos")
    assert browser.execute_script(count) <= nodes + 5  # the DOM does not grow with N
    assert len(browser.find_elements("css selector", "#rows tr")) == PAGE_SIZE
    requested = browser.execute_script("return window.robustlossReview.sheetsRequested()")
    # sheets load lazily: the first (shown), the second (ahead) and the last (visited)
    assert sorted(requested) == [0, 1, 999]
    loaded = len(requested)
    print(f"100k flagged: write_review {written_s:.1f} s, page open {opened_s:.1f} s, "
          f"{nodes} DOM nodes, {loaded} sheets loaded")  # fmt: skip


def test_review_page_of_a_real_detect_run(browser, tmp_path, capsys):
    """A small real run (CLI detect on a manifest with ids): keys, export, apply-review."""
    from test_review_cli import NAMES, _detect, _write_input

    import robustloss.cli as cli

    data = _write_input(tmp_path, "manifest")
    run = tmp_path / "det"
    _detect(data, run, capsys)
    with (run / "detections.csv").open(newline="") as fh:
        flagged = [r for r in csv.DictReader(fh) if r["flagged"] == "1"]
    browser.get((run / "review.html").as_uri())
    assert browser.get_log("browser") == []
    assert f"suspect 1 of {len(flagged)}" in _text(browser, "pos")
    assert _text(browser, "given") == flagged[0]["given_class"]
    assert _text(browser, "sugg") == flagged[0]["suggested_class"]
    assert f"id {flagged[0]['id']}" in _text(browser, "path")
    _keys(browser, "a", "k", "u")
    browser.find_element("id", "export").click()
    exported = _wait_for(browser.downloads / "review.csv")
    with exported.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["index", "given", "decision", "label", "path", "id", "run"]
    assert [r["index"] for r in rows] == [r["index"] for r in flagged[:3]]
    assert [r["id"] for r in rows] == [r["id"] for r in flagged[:3]]
    assert [r["decision"] for r in rows] == ["accept", "keep", "unsure"]
    out = tmp_path / "fixed.csv"
    assert cli.main(["apply-review", str(run), str(exported), "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        fixed = list(csv.DictReader(fh))
    first = flagged[0]
    assert fixed[int(first["source_index"])]["label"] == first["suggested_class"]
    assert fixed[int(first["source_index"])]["id"] == first["id"]
    assert {r["label"] for r in fixed} <= set(NAMES)


def test_review_page_without_images(browser, tmp_path):
    from test_review import _without_images

    run = tmp_path / "run"
    made = fake_run(run, n=30, k=3, flagged=6, write_input=False)
    _without_images(run)
    write_review(run)
    browser.get((run / "review.html").as_uri())
    assert browser.get_log("browser") == []
    assert "no image" in _text(browser, "img")
    _keys(browser, "a")
    assert f"index {made['flagged'][1]})" in _text(browser, "pos")
