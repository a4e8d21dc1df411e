"""A student's upload in a real browser: Debian's Chromium, headless, driven by Selenium through
chromium-driver (``.ci/run`` installs both). The page shows the submission queued, then graded
by the real grader, and the public board shows the new row. Screenshots are kept in
``artefacts/browser/`` (git-ignored; ``$CHALLENGE_ARTEFACTS`` moves it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.serve import read_tokens, running_app, wait_for, write_roster

from grader.engines.base import Work
from grader.engines.local import LocalEngine
from grader.serve.app import ServeConfig, create_app
from grader.serve.dispatch import Dispatcher
from grader.serve.server import default_grade_kwargs, prepare

REPO = Path(__file__).resolve().parents[2]


def _driver():
    selenium = pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing; .ci/run installs them")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                    "chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900"):
        options.add_argument(arg)
    assert selenium
    return webdriver.Chrome(service=Service(driver), options=options)


def _text(driver, css: str) -> str:
    """The text of the first element matching ``css``, or "" where there is none yet. The page
    reloads itself every 2 s while a grade is pending, so an element found one moment is gone
    (stale) the next: the text is read inside the page in one step, and a read that meets the
    reload counts as nothing yet (wait_for polls again)."""
    from selenium.common.exceptions import WebDriverException

    try:
        return driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)
    except WebDriverException:
        return ""


@pytest.mark.slow
def test_a_student_uploads_in_the_browser_and_sees_it_graded_and_on_the_board(tmp_path):
    from selenium.webdriver.common.by import By
    from support.grading import make_hidden_sets, tiny_rubric

    from grader.batch import grade_hidden
    from grader.hidden import hidden_spam
    from grader.predictions import write_predictions

    shots = Path(os.environ.get("CHALLENGE_ARTEFACTS", REPO / "artefacts")) / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "data"
    rubric = tiny_rubric()
    make_hidden_sets(data, rubric)
    spam = hidden_spam(data)
    predictions = write_predictions(tmp_path / "my predictions.csv", spam.ids,
                                    [0.9 if y else 0.1 for y in spam.labels])
    ready = prepare(data / "leaderboard.sqlite", write_roster(tmp_path / "roster.csv", ["alice"]))
    token = read_tokens(ready.tokens_csv)["alice"]
    uploads = ready.folder / "uploads"
    app = create_app(ready.queue, ready.tokens, ServeConfig(uploads=uploads))
    kwargs = default_grade_kwargs(ready.queue.path, uploads, rubric, data)
    engine = LocalEngine(Work(grade_hidden, kwargs), 1)
    dispatcher = Dispatcher(ready.queue, engine, uploads)
    driver = _driver()
    try:
        with running_app(app) as url:
            driver.get(url + "/")
            driver.find_element(By.ID, "token").send_keys(token)
            driver.find_element(By.ID, "login").click()
            wait_for(lambda: driver.current_url.endswith("/me"), 20)
            driver.find_element(By.ID, "file").send_keys(str(predictions))
            driver.find_element(By.ID, "upload").click()
            state = lambda: _text(driver, "#submissions td.state").strip()
            assert wait_for(state, 20) == "queued"
            assert wait_for(lambda: "my predictions.csv" in _text(driver, "#submissions"), 20)
            driver.save_screenshot(str(shots / "1-queued.png"))
            dispatcher.start()     # grading starts only now, so the queued state was seen
            wait_for(lambda: state() == "graded", 120, 0.5)
            driver.save_screenshot(str(shots / "2-graded.png"))
            driver.find_element(By.CSS_SELECTOR, "#submissions a").click()
            report = wait_for(lambda: driver.find_elements(By.ID, "report"), 20)[0].text
            assert "alice" in report and "predictions mode" in report
            driver.save_screenshot(str(shots / "3-report.png"))
            driver.get(url + "/board")
            board = driver.find_element(By.ID, "board").text
            assert "alice" in board
            driver.save_screenshot(str(shots / "4-board.png"))
    finally:
        driver.quit()
        dispatcher.stop()
        engine.close()
    assert all((shots / f).stat().st_size > 1000 for f in
               ("1-queued.png", "2-graded.png", "3-report.png", "4-board.png"))
