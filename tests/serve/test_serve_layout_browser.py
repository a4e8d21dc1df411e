"""The pages in a real browser at a laptop's width (1280 px) and a phone's (390 px, Chromium's
mobile emulation, where a page without a viewport is laid out 980 px wide and shrunk): no page
scrolls sideways, the phone shows text at its normal size, and the board with code submissions
on it (11 columns) fits 1280 px. Logging in through the form also proves our own POSTs keep
their Origin (the server refuses ``Origin: null``). Screenshots go to ``artefacts/browser/``."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.serve import (
    prepared_class,
    running_app,
    wait_for,
)

from grader.serve.app import ServeConfig, create_app

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["rank", "student", "points", "max_points", "spam.points", "spam.f1", "sorter.points",
           "sorter.exact", "lstm.points", "attempts", "submission"]


class WideBoard:
    """A board as a course with every part on it has: 11 columns, long names."""

    def get(self, part, finals=None):
        rows = [[str(i + 1), name, "87.25", "100.00", "40.00", "0.9712", "30.00", "0.9534",
                 "17.25", "3", f"{name}__0123456789ab.zip"]
                for i, name in enumerate(["alice", "bartholomew-the-long-named", "carol"])]
        return {"part": part, "title": "Overall", "revealed": False, "columns": COLUMNS,
                "rows": rows, "kinds": ["student"] * 3, "notes": ["ties (=N): equal points"]}


def _driver(width: int, phone: bool):
    pytest.importorskip("selenium")
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing; .ci/run installs them")
        pytest.skip("needs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},900"):
        options.add_argument(arg)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": width, "height": 844, "pixelRatio": 3.0, "touch": True}})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture
def site(tmp_path):
    ready, tokens = prepared_class(tmp_path)
    queue = ready.queue
    long_name = "my-final-model-after-many-tries-" * 9 + ".zip"
    queue.enqueue("alice", long_name, "alice__1.zip", "s1")
    queue.enqueue("alice", "predictions.csv", "alice__2.csv", "s2")
    queue.claim("t", 60)
    queue.finish(1, "t", ok=True, reason="", points=87.25, max_points=100.0,
                 summary="alice: 87.25 / 100 points (code mode, hidden sets, on cpu, "
                         + long_name + ")\n" + "  spam  40.00 / 50\n" * 5, board_id=None)
    config = ServeConfig(uploads=ready.folder / "uploads",
                         deadline=datetime(2099, 1, 1, tzinfo=timezone.utc))
    app = create_app(queue, ready.tokens, config,
                     status=lambda: {"engine": "2 local worker process(es)", "workers": 2,
                                     "errors": []})
    app.state.serve.boards = WideBoard()
    with running_app(app) as url:
        yield {"url": url, "tokens": tokens}


def _login(driver, url, token, landing):
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login").click()
    wait_for(lambda: driver.current_url.endswith(landing), 20)


def _fits(driver) -> tuple[int, int]:
    return driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.slow
@pytest.mark.parametrize("width, phone", [(390, True), (1280, False)])
def test_pages_fit_a_phone_and_a_laptop(site, width, phone):
    shots = Path(os.environ.get("CHALLENGE_ARTEFACTS", REPO / "artefacts")) / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    driver = _driver(width, phone)
    try:
        _login(driver, site["url"], site["tokens"]["alice"], "/me")
        for path in ("/me", "/board", "/me/submissions/1"):
            driver.get(site["url"] + path)
            scroll, inner = _fits(driver)
            assert inner == width, (path, inner)           # laid out at the device's width
            assert scroll <= inner, (path, scroll, inner)  # no sideways scroll
            size = driver.execute_script(
                "return parseFloat(getComputedStyle(document.body).fontSize)")
            assert size >= 16, (path, size)
            name = re.sub(r"\W+", "-", path.strip("/"))
            driver.save_screenshot(str(shots / f"layout-{width}-{name}.png"))
        if not phone:
            driver.get(site["url"] + "/board")
            wide, room = driver.execute_script(
                "const t = document.getElementById('board');"
                "return [t.scrollWidth, t.parentElement.clientWidth]")
            assert wide <= room, (wide, room)              # the 11 columns fit at 1280 px
            assert "Spam F1" in driver.page_source and "spam.f1" not in driver.page_source
        driver.delete_all_cookies()
        _login(driver, site["url"], site["tokens"]["instructor"], "/admin")
        scroll, inner = _fits(driver)
        assert scroll <= inner, ("/admin", scroll, inner)
        driver.save_screenshot(str(shots / f"layout-{width}-admin.png"))
    finally:
        driver.quit()
