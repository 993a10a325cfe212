"""The GUI in a real browser (Playwright driving Debian's Chromium), clicked through as a
person would: data, train, a page reload during training, stop, predict, runs (resume the
stopped run), plugins; and two people's pages, whose data stay their own.

Screenshots of every tab (light and dark) are written to ``test-artifacts/``.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from ftgui.training import writer

from conftest import COLOURS, THREE, draw_shape, make_dataset, zip_folder
from test_ui_e2e import running_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TABS = ("1 · Data", "2 · Train", "3 · Predict", "4 · Runs", "5 · Plugins", "6 · Init Lab")
WIDTH = 1280

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    runs = tmp_path_factory.mktemp("browser") / "runs"
    # what --demo does with its own settings: a tiny model at 32 px, so a CPU trains it in seconds
    tiny = {"model": "test_resnet", "img_size": 32, "batch_size": 8, "aug": "none"}
    with pytest.MonkeyPatch.context() as patch, running_app(runs, defaults=tiny) as demo:
        patch.setattr(writer, "SAVE_INTERVAL_S", 0.0)  # a checkpoint every epoch: a stopped run can be resumed
        yield demo


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


class PageProblems:
    """What a page reports that a person would not want: uncaught errors (``pageerror``),
    console errors and warnings, and failed requests (4xx/5xx). A test asserts none at its end
    (:meth:`check`); warnings listed in ``ALLOWED_WARNINGS`` are Chromium's, not the app's."""

    ALLOWED_WARNINGS = ("Method not implemented.",)  # Chromium's headless media/permissions stubs

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.leaving: set = set()

    def navigate(self, page, go) -> None:
        """``go()`` (a reload or goto): what the old document logs while it is torn down (its
        polls aborted) is not a problem of the page; the new document is watched again."""
        self.leaving.add(page)
        try:
            go()
        finally:
            self.leaving.discard(page)

    def watch(self, page):
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))
        page.on("console", lambda message: None if page in self.leaving else self._console(message))
        page.on("response", lambda r: self.seen.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        return page

    def _console(self, message) -> None:
        if message.type == "error" or (message.type == "warning" and message.text not in self.ALLOWED_WARNINGS):
            self.seen.append(f"console {message.type}: {message.text[:300]}")

    def check(self) -> None:
        distinct = dict.fromkeys(line.splitlines()[0] for line in self.seen)
        assert not self.seen, f"{len(self.seen)} problem(s) in the page:\n" + "\n".join(distinct)


@pytest.fixture
def problems():
    found = PageProblems()
    yield found
    found.check()


def open_tab(page, name: str) -> None:
    page.locator("button[role=tab]:visible", has_text=name).first.click()
    page.wait_for_timeout(600)


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, f"{name} scrolls sideways"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_for_text(page, selector: str, text: str, timeout: float = 120_000) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s)?.innerText.includes(t)", arg=[selector, text],
                           timeout=timeout)


def curves_drawn(page) -> bool:
    return page.locator("#loss-plot svg .mark-line path").count() > 0


def use_zip(page, data: Path, summary: str, thumbnails: int) -> None:
    """Drop a zip on the Data tab; wait for its summary and for every thumbnail to be decoded
    (they load lazily, after the summary is shown: a screenshot taken at once shows blanks)."""
    page.locator("#data-zip input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#data-summary", summary)
    page.wait_for_function("n => { const images = [...document.querySelectorAll('#data-gallery img')];"
                           " return images.length === n && images.every(i => i.complete && i.naturalWidth > 0); }",
                           arg=thumbnails, timeout=30_000)


def start_from_scratch(page, epochs: int) -> None:
    """On the Train tab: train from scratch for ``epochs``, and wait until it trains."""
    open_tab(page, "2 · Train")
    page.locator("#strategy label", has_text="scratch").click()
    page.get_by_label("Epochs").fill(str(epochs))
    page.get_by_label("Epochs").press("Tab")
    page.locator("#start").click()
    wait_for_text(page, "#train-status", "Training")


def wait_for_curves(page) -> None:
    page.wait_for_function("document.querySelectorAll('#loss-plot svg .mark-line path').length > 0",
                           timeout=120_000)


def test_a_person_trains_reloads_stops_and_predicts(app, browser, tmp_path, problems):
    data = zip_folder(make_dataset(tmp_path / "shapes", THREE, per_class=30), tmp_path / "shapes.zip")
    picture = tmp_path / "circle.png"
    draw_shape("circle", COLOURS["red"], 32, random.Random(11)).save(picture)
    page = problems.watch(browser.new_page(viewport={"width": WIDTH, "height": 900}))
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
    page.wait_for_function("document.querySelector('#strategy input[value=scratch]')?.checked", timeout=30_000)
    assert page.get_by_label("Epochs").input_value() == "300"  # the form shows what is training
    shoot(page, "2-train-after-reload")
    page.locator("#stop").click()
    wait_for_text(page, "#train-status", "Stopped")
    run_name = app.ftgui_context.jobs.current.name
    assert (app.ftgui_context.runs_root / run_name / "model.safetensors").is_file()

    # 3. predict one image with that run
    open_tab(page, "3 · Predict")
    page.locator("#predict-image input[type=file]").set_input_files(str(picture))
    page.wait_for_timeout(500)
    page.locator("#predict-button").click()
    page.wait_for_function("['circle', 'square', 'triangle'].some(c => "
                           "document.querySelector('#predict-label')?.innerText.includes(c))", timeout=60_000)
    shoot(page, "3-predict")

    # 4. runs: the confusion matrix of the run, which can be resumed; 5. plugins
    open_tab(page, "4 · Runs")
    page.wait_for_selector("#runs-confusion table", timeout=60_000)
    assert run_name in page.locator("#runs-table").inner_text()
    page.wait_for_selector("#runs-resume", state="visible", timeout=30_000)
    shoot(page, "4-runs")
    page.locator("#runs-resume").click()
    wait_for_text(page, "#train-status", "Training")  # the Train tab is shown, following the resumed run
    assert page.locator("#train-status").is_visible() and run_name in page.locator("#train-status").inner_text()
    wait_for_curves(page)
    shoot(page, "4-runs-resumed")
    page.locator("#stop").click()
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
    page.close()


def test_two_people_see_only_their_own_data(app, browser, tmp_path, problems):
    alice_data = zip_folder(make_dataset(tmp_path / "alice", THREE, per_class=8), tmp_path / "alice.zip")
    bob_data = zip_folder(make_dataset(tmp_path / "bob", {"cross": ("cross", "red"), "bar": ("bar", "green")},
                                       per_class=8), tmp_path / "bob.zip")
    alice_browser, bob_browser = (browser.new_context(viewport={"width": WIDTH, "height": 900}) for _ in range(2))
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
    finally:
        app.ftgui_context.jobs.shutdown()
        alice_browser.close()
        bob_browser.close()
