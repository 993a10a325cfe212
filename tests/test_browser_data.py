"""The Data, Predict and Plugins tabs in a real browser (issue 10): what the page SHOWS.

Classes as cards (add a class, add images, rename, remove an image, use them), tiny validation
sets warned about, ignored hidden files listed, friendly data names, Predict's readable image
and self-closing error notices, the Plugins table, and a phone's 390x844 screen (every tab
visible, no clipped labels). Every test fails on any page error, console error or warning and
failed request (see browser_kit.PageProblems). Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import base64
import random

import pytest
from browser_kit import DESKTOP, MARKS, PHONE, TABS, open_tab, shoot, tiny_app, use_zip, wait_for_text

from ftgui.ui import catalog

from conftest import COLOURS, THREE, draw_shape, make_dataset, zip_folder

pytestmark = MARKS
CARD = "#class-card-{}"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with tiny_app(tmp_path_factory.mktemp("browser-data") / "runs") as demo:
        yield demo


def page_text(page) -> str:
    return page.locator("body").inner_text()


def card_text(page, index: int) -> str:
    return page.locator(CARD.format(index)).first.inner_text()


def wait_for_card(page, index: int, text: str) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s)?.innerText.includes(t)",
                           arg=[CARD.format(index), text], timeout=30_000)


def test_classes_as_cards(app, browser, tmp_path, problems):
    shapes = make_dataset(tmp_path / "shapes", THREE, per_class=6)
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.local_url.rstrip("/"))
    page = problems.watch(context.new_page())
    page.goto(app.local_url)
    page.wait_for_selector("#data-summary")
    page.locator("#data-kind label", has_text="class by class").click()
    page.locator("#add-class").click()
    wait_for_card(page, 0, "no images yet")
    assert page.locator(CARD.format(0)).first.locator(".ftgui-class-name textarea, .ftgui-class-name input") \
        .first.input_value() == "class 1"
    page.locator("#add-class").click()
    wait_for_card(page, 1, "no images yet")
    for index, name in enumerate(("circle", "square")):
        files = sorted(str(p) for p in (shapes / name).iterdir())
        page.locator(CARD.format(index)).first.locator(".ftgui-class-files input[type=file]").set_input_files(files)
        wait_for_card(page, index, "6 images")
    # paste an image into the second class (the webcam works the same way: one shot, one image)
    png = base64.b64encode((shapes / "square" / "000.png").read_bytes()).decode()
    page.evaluate("async d => { const blob = await (await fetch('data:image/png;base64,' + d)).blob();"
                  " await navigator.clipboard.write([new ClipboardItem({'image/png': blob})]); }", png)
    page.locator(CARD.format(1)).first.locator(".ftgui-class-shot button[aria-label='Paste from clipboard']").click()
    wait_for_card(page, 1, "7 images")
    # each card shows its images as thumbnails, with the count
    page.wait_for_function("document.querySelectorAll('#class-card-1 .ftgui-class-thumbs img').length === 7",
                           timeout=30_000)
    # rename the first class by its name box
    box = page.locator(CARD.format(0)).first.locator(".ftgui-class-name textarea, .ftgui-class-name input").first
    box.fill("circle")
    box.press("Enter")
    page.wait_for_timeout(1500)
    assert (app.ftgui_context.uploads.glob("classes-*/circle")).__next__().is_dir()
    # remove an image: click it, then remove it
    page.locator(CARD.format(0)).first.locator(".ftgui-class-thumbs button").first.click()
    page.locator(CARD.format(0)).first.locator(".ftgui-remove-image").click()
    wait_for_card(page, 0, "5 images")
    # a third class, deleted again
    page.locator("#add-class").click()
    wait_for_card(page, 2, "no images yet")
    page.locator(CARD.format(2)).first.locator(".ftgui-delete-class").click()
    page.wait_for_function("!document.querySelector('#class-card-2')?.offsetParent", timeout=30_000)
    shoot(page, "1-data-class-cards")
    page.locator("#use-classes").click()
    wait_for_text(page, "#data-summary", "12 images in 2 classes")
    summary = page.locator("#data-summary").inner_text()
    assert "the classes you built here" in summary and "classes-" not in page_text(page)
    # the class that was renamed is what the data set calls it
    wait_for_text(page, "#data-gallery", "circle")
    problems.close(context)


def test_tiny_validation_sets_hidden_files_and_friendly_names(app, page, tmp_path):
    folder = make_dataset(tmp_path / "shapes", THREE, per_class=5)
    (folder / ".DS_Store").write_bytes(b"\0junk")
    data = zip_folder(folder, tmp_path / "my shapes.zip")
    page.goto(app.local_url)
    use_zip(page, data, "15 images in 3 classes", thumbnails=15)
    summary = page.locator("#data-summary").inner_text()
    assert "few validation images" in summary and "±" in summary
    assert "no problems found" not in summary
    assert ".DS_Store" in summary and "ignored" in summary  # listed on the page, not only in the log
    text = page_text(page)
    assert "uploads/" not in text and "/runs/" not in text  # the zip by its own name, not its stored path
    assert "my_shapes.zip" in summary or "my shapes.zip" in summary
    # the gallery's label does not cover the first thumbnail
    first = page.locator("#data-gallery img").first.bounding_box()
    label = page.locator("#data-gallery [data-testid=block-label]")
    assert label.count() == 0 or not _overlap(label.first.bounding_box(), first)
    shoot(page, "1-data-tiny")


def _overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_predict_shows_small_images_readably_and_errors_close_by_themselves(app, page, tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "hub_online", lambda: False)  # offline, whatever this machine is
    picture = tmp_path / "circle.png"
    draw_shape("circle", COLOURS["red"], 32, random.Random(3)).save(picture)
    page.goto(app.local_url)
    page.wait_for_selector("#data-summary")
    open_tab(page, "3 · Predict")
    page.locator("#predict-button").click()  # no image yet: an error notice
    toast = page.locator(".toast-body", has_text="drop an image")
    toast.first.wait_for(timeout=30_000)
    toast.first.wait_for(state="detached", timeout=30_000)  # closes by itself
    page.locator("#predict-image input[type=file]").set_input_files(str(picture))
    page.wait_for_function("document.querySelector('#predict-image img')?.naturalWidth > 0", timeout=30_000)
    box = page.locator("#predict-image img").first.bounding_box()
    assert box["width"] >= 150 and box["height"] >= 150, box  # a 32-pixel image is not shown 32 pixels wide
    # offline, no pretrained model is offered that cannot be had
    # no run yet: the pretrained model is the only choice, already chosen
    assert "pretrained timm model" in page.locator("#predict-source input").input_value()
    picker = page.locator("#predict-pretrained")
    picker.wait_for(timeout=30_000)
    wait_for_text(page, "#predict-pretrained", "offline")
    picker.locator("input").click()
    page.wait_for_timeout(500)
    assert page.locator("ul.options li", has_text="legacy_seresnet18").count() == 0
    page.keyboard.press("Escape")
    shoot(page, "3-predict-small-image")


def test_plugins_header_does_not_wrap_and_words_are_explained(app, page):
    page.goto(app.local_url)
    page.wait_for_selector("#data-summary")
    open_tab(page, "5 · Plugins")
    wait_for_text(page, "#plugins-list", "head-only")
    heights = page.evaluate("[...document.querySelectorAll('#plugins-list th')].map(th => "
                            "[th.innerText, th.getBoundingClientRect().height, "
                            "parseFloat(getComputedStyle(th).lineHeight) || 20, "
                            "parseFloat(getComputedStyle(th).paddingTop) + "
                            "parseFloat(getComputedStyle(th).paddingBottom)])")
    for text, height, line, padding in heights:
        assert height <= line * 1.5 + padding, f"header {text!r} wraps ({height}px)"
    text = page.locator("#plugins-list").inner_text()
    assert "train only the last layer (state 2)" in text and "fan-in / fan-out" in text
    assert "the seed" not in text and "fan-in (a unit's number of inputs)" in text  # explained where it is used
    shoot(page, "5-plugins-words")


def test_a_phone_sees_every_tab_and_no_clipped_label(app, browser, problems):
    page = problems.watch(browser.new_page(viewport=PHONE))
    page.goto(app.local_url)
    page.wait_for_selector("#data-summary")
    names = page.locator(".tab-container").first.locator("button[role=tab]").all_inner_texts()
    assert set(TABS) <= set(names), names
    for name in names:  # every tab of the app, not only those this test knows
        button = page.locator("button[role=tab]", has_text=name)
        assert button.first.is_visible(), f"tab {name} is hidden at 390 px"
    assert page.locator(".overflow-menu:visible").count() == 0  # no "•••" menu
    for tab in TABS:
        open_tab(page, tab)
        clipped = page.evaluate("""[...document.querySelectorAll('label span, label')]
            .filter(e => e.offsetParent && e.children.length === 0 && e.scrollWidth > e.clientWidth + 1
                    && getComputedStyle(e).overflow !== 'visible')
            .map(e => e.innerText)""")
        assert not clipped, f"{tab}: clipped labels {clipped}"
        shoot(page, f"phone-{tab[0]}")
    help_text = page.evaluate("[...document.querySelectorAll('.ftgui-help')].map(e => e.innerText).join(' ')")
    assert "on the right" not in help_text  # on a phone nothing is on the right
    problems.close(page)
