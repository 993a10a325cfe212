"""The GUI in a real browser (Playwright driving Debian's Chromium), clicked through as a
person would: data, train, a page reload during training, stop, predict, runs (resume the
stopped run), plugins; and two people's pages, whose data stay their own.

Screenshots of every tab (light and dark) are written to ``test-artifacts/``.
"""
from __future__ import annotations

import random

import pytest
from browser_kit import (
    DESKTOP,
    MARKS,
    SLOW,
    TABS,
    choose_mode,
    open_tab,
    shoot,
    stop_training,
    tiny_app,
    use_zip,
    wait_for_tab,
    wait_for_text,
)

from conftest import COLOURS, THREE, draw_shape, make_dataset, zip_folder

pytestmark = MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with tiny_app(tmp_path_factory.mktemp("browser") / "runs") as demo:
        yield demo


def start_from_scratch(page, epochs: int) -> None:
    """On the Train tab: train from scratch for ``epochs``, and wait until it trains."""
    open_tab(page, "2 · Train")
    choose_mode(page, "scratch", "lecun")
    page.get_by_label("Epochs").fill(str(epochs))
    page.get_by_label("Epochs").press("Tab")
    page.locator("#start").click()
    wait_for_text(page, "#train-status", "Training")


def wait_for_curves(page) -> None:
    page.wait_for_function("document.querySelectorAll('#loss-plot svg .mark-line path').length > 0",
                           timeout=SLOW)


def test_a_person_trains_reloads_stops_and_predicts(app, page, tmp_path, problems):
    data = zip_folder(make_dataset(tmp_path / "shapes", THREE, per_class=30), tmp_path / "shapes.zip")
    picture = tmp_path / "circle.png"
    draw_shape("circle", COLOURS["red"], 32, random.Random(11)).save(picture)
    page.goto(app.local_url)

    # 1. data: drop a zip
    use_zip(page, data, "90 images in 3 classes", thumbnails=18)
    shoot(page, "1-data")

    # 2. train from scratch, long enough to reload the page in the middle
    start_from_scratch(page, 300)
    wait_for_curves(page)
    shoot(page, "2-train")

    problems.navigate(page, page.reload)
    open_tab(page, "2 · Train")
    wait_for_text(page, "#train-status", "Training")  # re-attached to the same job
    wait_for_text(page, "#train-progress", "epoch")
    wait_for_curves(page)
    page.wait_for_function("document.querySelector('#strategy input[value=scratch]')?.checked", timeout=SLOW)
    assert page.get_by_label("Epochs").input_value() == "300"  # the form shows what is training
    shoot(page, "2-train-after-reload")
    stop_training(page)
    wait_for_text(page, "#train-status", "Stopped")
    run_name = app.ftgui_context.jobs.current.name
    assert (app.ftgui_context.runs_root / run_name / "model.safetensors").is_file()

    # 3. predict one image with that run
    open_tab(page, "3 · Predict")
    page.locator("#predict-image input[type=file]").set_input_files(str(picture))
    page.wait_for_function("document.querySelector('#predict-image img')?.naturalWidth > 0", timeout=SLOW)  # uploaded
    page.locator("#predict-button").click()
    page.wait_for_function("['circle', 'square', 'triangle'].some(c => "
                           "document.querySelector('#predict-label')?.innerText.includes(c))", timeout=SLOW)
    shoot(page, "3-predict")

    # 4. runs: the confusion matrix of the run, which can be resumed; 5. plugins
    open_tab(page, "4 · Runs")
    page.wait_for_selector("#runs-confusion table", timeout=SLOW)
    assert run_name in page.locator("#runs-table").inner_text()
    page.wait_for_selector("#runs-resume", state="visible", timeout=SLOW)
    shoot(page, "4-runs")
    page.locator("#runs-resume").click()
    # the Train tab is shown (by a second event, once the job has started: the Train tab's own
    # timer may write its status while the tab is still hidden), following the resumed run
    wait_for_tab(page, "2 · Train")
    page.wait_for_selector("#train-status", state="visible", timeout=SLOW)
    wait_for_text(page, "#train-status", "Training")
    assert page.locator("#train-status").is_visible() and run_name in page.locator("#train-status").inner_text()
    wait_for_curves(page)
    shoot(page, "4-runs-resumed")
    stop_training(page)
    wait_for_text(page, "#train-status", "Stopped")
    open_tab(page, "5 · Plugins")
    wait_for_text(page, "#plugins-list", "head-only")
    shoot(page, "5-plugins")

    # the same tabs in the dark theme
    problems.navigate(page, lambda: page.goto(app.local_url + "?__theme=dark"))
    page.wait_for_selector("#data-summary")
    for tab in TABS:
        open_tab(page, tab)
        shoot(page, f"dark-{tab[0]}")


def test_two_people_see_only_their_own_data(app, browser, tmp_path, problems):
    alice_data = zip_folder(make_dataset(tmp_path / "alice", THREE, per_class=8), tmp_path / "alice.zip")
    bob_data = zip_folder(make_dataset(tmp_path / "bob", {"cross": ("cross", "red"), "bar": ("bar", "green")},
                                       per_class=8), tmp_path / "bob.zip")
    alice_browser, bob_browser = (browser.new_context(viewport=DESKTOP) for _ in range(2))
    alice, bob = problems.watch(alice_browser.new_page()), problems.watch(bob_browser.new_page())
    alice.goto(app.local_url)
    use_zip(alice, alice_data, "24 images in 3 classes", thumbnails=18)
    start_from_scratch(alice, 300)
    try:
        bob.goto(app.local_url)
        open_tab(bob, "2 · Train")
        wait_for_text(bob, "#train-status", "Training")  # Bob follows the app's training...
        open_tab(bob, "1 · Data")
        # ...and, on a local app (one trusted person: a second page is a reload), the Data tab shows
        # the data it trains on, as the Train tab does; the page never shows one thing and holds another
        wait_for_text(bob, "#data-summary", "24 images in 3 classes")
        use_zip(bob, bob_data, "16 images in 2 classes", thumbnails=12)  # his own choice is his page's
        assert "alice.zip" not in bob.locator("#data-summary").inner_text()
        shoot(bob, "1-data-second-person")
        open_tab(alice, "1 · Data")
        assert "from alice.zip" in alice.locator("#data-summary").inner_text()
        assert alice.locator("#data-gallery img").count() == 18
    finally:  # the training is stopped after every browser test (conftest.py)
        problems.close(alice_browser)
        problems.close(bob_browser)
