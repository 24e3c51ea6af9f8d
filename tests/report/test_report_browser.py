"""The HTML report in a real headless Chromium: it opens, the filters change the samples, the plots render.

Needs Debian's `chromium` and `chromium-driver` packages and `pip install selenium`.
"""

import shutil
from pathlib import Path

import pytest

from ftcot.records import read_records
from ftcot.report import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1600"]  # fmt: skip

# Skipped where Chromium or its driver is missing, except under CI=true, where the skip fails (tests/conftest.py).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs headless Chromium: apt-get install -y chromium chromium-driver",
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(browser, runs_dir, tmp_path_factory):
    html = report([runs_dir], tmp_path_factory.mktemp("report") / "report.html")
    browser.get(html.resolve().as_uri())
    return browser


def visible_samples(driver) -> list:
    return driver.find_elements("css selector", "#samples article.sample")


def count_text(driver) -> str:
    return driver.find_element("id", "sample-count").text


def expected_counts(runs_dir: Path) -> dict[str, int]:
    teacher_right = {r.sample_id for r in read_records(runs_dir / "teacher") if r.rescore().correct}
    students = [
        r.rescore()
        for name in ("student-d1", "student-d4", "student-360m-d4")
        for r in read_records(runs_dir / name)
    ]
    return {
        "all": len(students),
        "correct": sum(r.correct for r in students),
        "wrong": sum(not r.correct for r in students),
        "teacher-right-student-wrong": sum(r.sample_id in teacher_right and not r.correct for r in students),
    }


def test_page_opens_with_tables_and_samples(page):
    assert page.title == "ftcot report"
    headings = [h.text for h in page.find_elements("css selector", "h2")]
    assert {"Accuracy by model, method and task", "Evaluations", "Teacher yield", "Plots", "Samples"} <= set(
        headings
    )
    assert len(visible_samples(page)) == 100  # the first page of 540
    assert count_text(page) == "showing 100 of 540 (540 in all)"


def test_filters_change_the_visible_samples(page, runs_dir):
    expected = expected_counts(runs_dir)
    assert 0 < expected["teacher-right-student-wrong"] < expected["wrong"] < expected["all"]
    for name, n in expected.items():
        page.find_element("id", f"filter-{name}").click()
        assert count_text(page) == f"showing {min(n, 100)} of {n} (540 in all)"
        cards = visible_samples(page)
        assert len(cards) == min(n, 100)
        classes = [c.get_attribute("class") for c in cards]
        if name == "correct":
            assert all("correct" in c.split() for c in classes)
        if name in ("wrong", "teacher-right-student-wrong"):
            assert not any("correct" in c.split() for c in classes)
        if name == "teacher-right-student-wrong":
            assert all("(right)" in card.find_element("css selector", ".answers").text for card in cards)
    # Narrow to one run, then back to all.
    from selenium.webdriver.support.ui import Select

    page.find_element("id", "filter-all").click()
    Select(page.find_element("id", "run-select")).select_by_visible_text("student-d4")
    assert count_text(page) == "showing 100 of 180 (540 in all)"
    assert all("student-d4" in c.find_element("css selector", "header").text for c in visible_samples(page))
    Select(page.find_element("id", "run-select")).select_by_index(0)


def test_sample_shows_question_teacher_student_and_answers(page):
    page.find_element("id", "filter-teacher-right-student-wrong").click()
    card = visible_samples(page)[0]
    labels = [x.text.lower() for x in card.find_elements("css selector", ".label")]
    assert labels[:4] == [
        "question",
        "teacher rationale (text-davinci-002)",
        "teacher answer",
        "student output",
    ]
    texts = [x.text for x in card.find_elements("css selector", ".text")]
    assert all(texts) and "-->" in texts[3]
    assert card.find_element("css selector", ".answers").text.startswith("gold ")
    page.find_element("id", "filter-all").click()


def test_plots_render(page):
    images = page.find_elements("css selector", "img.plot")
    assert len(images) == 2  # student size and training curves (see test_report_writes_html_and_markdown)
    for img in images:
        assert page.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100


def test_screenshot(page, tmp_path):
    path = Path(__import__("os").environ.get("FTCOT_SCREENSHOT", tmp_path / "report.png"))
    page.execute_script("window.scrollTo(0, 0)")
    assert page.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
