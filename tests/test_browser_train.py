"""Issue 10 in a real browser (Playwright, Debian's Chromium): what the Train and Runs tabs
SHOW. Plotted values are read back from the page's SVG (through its axis ticks) and compared
with metrics.jsonl; whatever a page reports that a person would not want (an error, a warning
such as Vega's "Infinite extent", a failed request: browser_kit.PageProblems) fails the test.
Screenshots (1280 wide and 390x844) go to ``test-artifacts/train-*.png``."""
from __future__ import annotations

import json
import math
import random
import re

import pytest
from browser_kit import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    MARKS,
    PHONE,
    SLOW,
    choose,
    choose_mode,
    markdown_text,
    open_tab,
    plotted,
    shoot,
    stop_training,
    tiny_app,
    wait_for_plot,
    wait_for_tab,
    wait_for_text,
)
from playwright.sync_api import expect

from ftgui.runs import METRICS_FILE, list_runs, read_metrics
from ftgui.ui.run_names import display_names

from conftest import COLOURS, THREE, draw_shape, make_dataset, zip_folder
from test_ui_truth import fake_run

pytestmark = MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with tiny_app(tmp_path_factory.mktemp("browser-train") / "runs") as demo:
        yield demo


def same_curves(shown: dict, expected: list[list[tuple[int, float]]], tolerance: float = 0.02) -> bool:
    got = sorted([[(round(x), y) for x, y in s["points"]] for s in shown["series"]], key=lambda s: s[0][1])
    want = sorted(expected, key=lambda s: s[0][1])
    return len(got) == len(want) and all(
        len(g) == len(w) and all(gx == wx and abs(gy - wy) <= tolerance * max(1, abs(wy)) for (gx, gy), (wx, wy)
                                 in zip(g, w)) for g, w in zip(got, want))


# -- items 1, 4, 10: the Compare chart plots what metrics.jsonl holds --------------------------------
def test_compare_plots_metrics_jsonl_and_forgets_deleted_runs(app, page):
    root = app.ftgui_context.runs_root
    made = []
    for i, (strategy, init) in enumerate((("scratch", "zeros"), ("head-only", "lecun"), ("full", "kaiming"))):
        series = [{"epoch": e, "train_loss": 1.6 - 0.1 * e - 0.03 * i, "val_loss": 1.4 - 0.08 * e + 0.02 * i,
                   "train_acc": 0.2 + 0.07 * e, "val_acc": 0.15 + 0.05 * e + 0.04 * i} for e in range(1, 6)]
        run = fake_run(root, f"20261129-13240{i}-test_resnet-{strategy}", rows=series, strategy=strategy, init=init,
                       created=f"2026-11-29T13:2{i}:00")
        (run / "config.json").write_text(json.dumps({"architecture": "test_resnet"}))
        (run / "model.safetensors").write_bytes(b"not really a model")
        made.append(run)
    labels = display_names(list_runs(root))
    page.goto(app.local_url)
    open_tab(page, "4 · Runs")
    chosen = [made[2], made[1]]  # the two newest, chosen for the page

    def expected(metric: str, runs_=None):
        return [[(r["epoch"], r[metric]) for r in read_metrics(run)] for run in runs_ or chosen]

    shown = wait_for_plot(page, "#runs-plot", lambda s: same_curves(s, expected("val_acc")))
    assert sorted(shown["legend"]) == sorted(labels[r.name] for r in chosen)  # names people tell apart
    assert "test_resnet · full · kaiming · 13:22" in shown["legend"]
    for metric, label in (("val_loss", "validation loss"), ("train_acc", "training accuracy"),
                          ("train_loss", "training loss"), ("val_acc", "validation accuracy")):
        page.locator("#runs-metric label", has_text=label).first.click()
        wait_for_plot(page, "#runs-plot", lambda s, m=metric: same_curves(s, expected(m)))
        page.wait_for_timeout(800)  # and it stays so: no late redraw with the previous choice
        assert same_curves(plotted(page, "#runs-plot"), expected(metric)), metric
        assert label in page.locator("#runs-plot").inner_text()
    shoot(page, "train-compare")

    # the model files of one run, then another run: the first run's files go away (item 4)
    page.wait_for_function("document.querySelector('#runs-one input')?.value.length > 0")
    page.locator("#runs-files-button").click()
    page.wait_for_selector("#runs-files", state="visible")
    choose(page, "#runs-one", labels[made[1].name])
    page.wait_for_selector("#runs-files", state="hidden")
    page.locator("#runs-files-button").click()
    page.wait_for_selector("#runs-files", state="visible")
    page.locator("#runs-delete").click()
    page.locator("#runs-confirm").click()
    wait_for_text(page, "#runs-notice", "Deleted")
    page.wait_for_selector("#runs-files", state="hidden")
    assert not made[1].exists()
    # the deleted run leaves the legend; the chart plots what is left
    wait_for_plot(page, "#runs-plot", lambda s: labels[made[1].name] not in s["legend"] and s["legend"])
    shown = plotted(page, "#runs-plot")
    assert shown["legend"] == [labels[made[2].name]] and same_curves(shown, expected("val_acc", [made[2]]))
    assert labels[made[1].name] not in page.locator("#runs-table").inner_text()
    for run in (made[0], made[2]):
        assert labels[run.name] in page.locator("#runs-table").inner_text()


# -- items 2, 3, 5, 6, 11, 13, 16: a training's truth -------------------------------------------------
def test_train_at_chance_reload_stop_resume_and_preview(app, page, problems, tmp_path):
    data = zip_folder(make_dataset(tmp_path / "shapes", THREE, per_class=10), tmp_path / "shapes.zip")
    picture = tmp_path / "circle.png"
    draw_shape("circle", COLOURS["red"], 32, random.Random(11)).save(picture)
    page.goto(app.local_url)
    page.locator("#data-zip input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#data-summary", "30 images in 3 classes")
    open_tab(page, "2 · Train")
    assert "Train only the last layer (state 2)" in page.locator("#strategy").inner_text()  # item 7
    assert "Train everything (state 3)" in page.locator("#strategy").inner_text()
    expect(page.locator("#init input").first).to_have_value("zeros")  # a new last layer starts at zeros
    choose_mode(page, "from scratch", "lecun")  # every layer at random: zeros would trap them
    choose(page, "#init", "zeros")
    wait_for_text(page, "#init-warning", "symmetry trap")  # warned before Start (item 5)
    assert "Loss: the training and validation loss appear here" in page.locator("#loss-plot").inner_text()  # 16
    page.get_by_label("Epochs").fill("3")
    page.get_by_label("Epochs").press("Tab")
    page.locator("#start").click()
    wait_for_text(page, "#train-status", "Finished")
    status = page.locator("#train-status").inner_text()
    assert "chance is 33%" in status and "No better than guessing" in status and "symmetry trap" in status
    assert re.search(r"\d+% ± \d+% on 6 images", status), status  # item 6
    assert "Try it" not in status
    assert markdown_text(page, "#train-notice").strip() == ""  # one status line per job (item 16)
    acc = wait_for_plot(page, "#acc-plot", lambda s: len(s["series"]) == 3)
    dashed = [s for s in acc["series"] if s["dash"] not in ("none", "")]
    assert len(dashed) == 1 and all(abs(y - 1 / 3) < 0.02 for _, y in dashed[0]["points"])  # chance, dashed
    loss = wait_for_plot(page, "#loss-plot", lambda s: len(s["series"]) == 3)
    assert loss["ymin"] <= math.log(3) <= loss["ymax"]  # the loss axis includes ln(C)
    assert any(all(abs(y - math.log(3)) < 0.02 for _, y in s["points"]) for s in loss["series"])
    page.locator("#train-log-box .label-wrap").first.click()
    log = page.locator("#train-log textarea").input_value()
    assert "epoch 1/3: training loss" in log and "shapes.zip" in log and "uploads" not in log  # items 11, 7
    stop = page.locator("#stop")
    assert stop.is_disabled()
    assert float(stop.evaluate("b => getComputedStyle(b).opacity")) < 0.6  # looks disabled (item 16)
    # the live preview beside the result: a dropped picture is labelled at once (item 13)
    page.wait_for_selector("#live-preview", state="visible")
    page.locator("#preview-image input[type=file]").set_input_files(str(picture))
    page.wait_for_function("['circle', 'square', 'triangle'].some(c => "
                           "document.querySelector('#preview-label')?.innerText.includes(c))", timeout=SLOW)
    shoot(page, "train-at-chance")

    # a long training, a reload in the middle: the job's own data and command (item 2)
    choose(page, "#init", "kaiming")
    page.get_by_label("Epochs").fill("400")
    page.get_by_label("Epochs").press("Tab")
    page.locator("#start").click()
    wait_for_text(page, "#train-status", "Training")
    page.wait_for_function("/epoch ([5-9]|\\d\\d+)\\/400/.test(document.querySelector('#train-progress')?.innerText)",
                           timeout=SLOW)
    problems.navigate(page, lambda: page.reload(wait_until="load"))
    open_tab(page, "2 · Train")
    wait_for_text(page, "#train-status", "Training")
    wait_for_text(page, "#train-data", "shapes.zip")
    assert "uploads" not in page.locator("#train-data").inner_text()
    page.wait_for_function("document.querySelector('#train-command textarea')?.value.includes('shapes.zip')",
                           timeout=SLOW)
    assert "sample:digits" not in page.locator("#train-command textarea").input_value()
    page.wait_for_selector("#train-form-note", state="visible")  # the job's settings, read-only
    assert page.locator("#train-form").evaluate("e => getComputedStyle(e).pointerEvents") == "none"
    # ...which can still be seen: "More settings" opens, its settings still cannot be changed
    page.locator("#train-form .label-wrap", has_text="More settings").click()
    page.wait_for_selector("#select", state="visible")
    rule = page.locator("#select input:checked").input_value()
    seed = page.get_by_label("Seed")
    before = seed.input_value()
    page.locator("#select label").last.click(force=True)  # force: past Playwright's "would not receive"
    seed.click(force=True)
    page.keyboard.type("77")
    assert page.locator("#select input:checked").input_value() == rule and seed.input_value() == before
    shoot(page, "train-after-reload")
    stop_training(page)
    wait_for_text(page, "#train-status", "Stopped")
    progress = page.locator("#train-progress").inner_text()
    page.wait_for_selector("#train-form-note", state="hidden")  # editable again
    assert page.locator("#train-form").evaluate("e => getComputedStyle(e).pointerEvents") != "none"
    assert "epochs done" in progress and "/400" in progress and "100%" not in progress  # item 3
    job = app.ftgui_context.jobs.current
    kept = [r["epoch"] for r in read_metrics(job.run_dir) if not r.get("stopped")]

    # a fresh page does not show the ended job's curves under its own form (item 2)
    fresh = page.context.new_page()
    fresh.goto(app.local_url)
    open_tab(fresh, "2 · Train")
    wait_for_text(fresh, "#train-status", "No training on this page yet")
    assert fresh.locator("#loss-plot svg .mark-line path").count() == 0
    fresh.close()

    # resume: the run's own history at once, its time so far (item 3), and its settings in the form
    page.get_by_label("Epochs", exact=True).fill("7")
    page.get_by_label("Epochs", exact=True).press("Tab")
    open_tab(page, "4 · Runs")
    page.wait_for_selector("#runs-resume", state="visible", timeout=SLOW)
    page.locator("#runs-resume").click()
    # the Train tab is shown by a second event, once the job has started; its hidden plots are not
    # drawn, while its timer may already write the resumed run's name into its hidden status
    wait_for_tab(page, "2 · Train")
    page.wait_for_selector("#train-status", state="visible", timeout=SLOW)
    wait_for_text(page, "#train-status", job.name)

    def own_history(shown: dict) -> bool:  # the run's own epochs 1..k, drawn as soon as it resumes
        drawn = [[round(x) for x, _ in c["points"]] for c in shown["series"] if c["dash"] in ("none", "")]
        return len(drawn) == 2 and all(xs[:len(kept)] == kept for xs in drawn)

    wait_for_plot(page, "#loss-plot", own_history)
    assert "0:00 elapsed" not in page.locator("#train-progress").inner_text()
    epochs = page.get_by_label("Epochs", exact=True)
    expect(epochs).to_have_value("400", timeout=SLOW)
    assert epochs.input_value() == "400"  # the resumed run's settings, not what the form held
    stop_training(page)
    wait_for_text(page, "#train-status", "Stopped")
    assert (job.run_dir / METRICS_FILE).is_file()


# -- item 14: a phone ------------------------------------------------------------------------------------
def test_find_a_learning_rate_plots_the_test_and_puts_its_suggestion_in_the_form(app, page, tmp_path):
    """Issue 15, item 1 as the page shows it: the loss against the rate, the suggestion marked on
    that plot, and the same number in the sentence and in the Learning rate box."""
    data = zip_folder(make_dataset(tmp_path / "shapes", THREE, per_class=10), tmp_path / "shapes.zip")
    page.goto(app.local_url)
    page.locator("#data-zip input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#data-summary", "30 images in 3 classes")
    open_tab(page, "2 · Train")
    choose_mode(page, "from scratch", "lecun")  # offline: no hub weights to fine-tune
    page.get_by_text("Find a learning rate · save or load these settings").click()
    page.locator("#find-lr").click()
    wait_for_text(page, "#lr-note", "Suggested learning rate")
    suggested = float(re.search(r"Suggested learning rate ([0-9.e-]+)", markdown_text(page, "#lr-note")).group(1))
    shown = wait_for_plot(page, "#lr-plot", lambda s: sorted(s["legend"]) == ["suggested", "training loss (smoothed)"])
    tested = shown["series"][shown["legend"].index("training loss (smoothed)")]["points"]
    marked = shown["series"][shown["legend"].index("suggested")]["points"]
    assert len(tested) >= 10 and tested[0][0] == pytest.approx(-7, abs=0.05)  # from 1e-7 upwards
    assert [x for x, _ in marked] == pytest.approx([math.log10(suggested)] * 2, abs=0.05)  # a vertical mark
    box = page.get_by_role("spinbutton", name="Learning rate", exact=True)
    assert float(box.input_value()) == pytest.approx(suggested, rel=1e-9)
    shown_legend = page.evaluate("""() => {
        const box = document.querySelector('#lr-plot').getBoundingClientRect();
        return [...document.querySelectorAll('#lr-plot .role-legend text')].filter(t => {
            const r = t.getBoundingClientRect();
            return r.height > 0 && r.top >= box.top && r.bottom <= box.bottom;
        }).map(t => t.textContent);
    }""")
    assert "suggested" in shown_legend, shown_legend  # the mark says what it is: its legend entry not cut off
    page.locator("#lr-plot").scroll_into_view_if_needed()
    shoot(page, "train-lr-find")


def test_phone_start_is_near_and_labels_are_whole(app, browser, problems):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = problems.watch(context.new_page())
    try:
        page.goto(app.local_url)
        open_tab(page, "2 · Train")
        page.wait_for_selector("#start")
        # the model's line is the last thing above Start to be filled in (timm is asked after the page is shown)
        page.wait_for_function("document.querySelector('#model-info [data-testid=markdown-wrapper]')"
                               "?.innerText.trim().length > 0", timeout=SLOW)
        page.wait_for_timeout(1000)
        shoot(page, "train-phone")
        top = page.locator("#start").evaluate("b => b.getBoundingClientRect().top + window.scrollY")
        assert top < 2 * PHONE["height"], f"Start is {top / PHONE['height']:.1f} screens down"
        clipped = page.evaluate("""() => [...document.querySelectorAll('[data-testid=block-info], label span')]
            .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
        assert not clipped, clipped
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        open_tab(page, "4 · Runs")
        page.wait_for_timeout(1000)
        shoot(page, "train-phone-runs")
        clipped = page.evaluate("""() => [...document.querySelectorAll('[data-testid=block-info], label span')]
            .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
        assert not clipped, clipped
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        problems.close(context)


# -- item 13: the live webcam preview ---------------------------------------------------------------------
def test_live_webcam_preview_labels_the_stream(app, browser, problems, tmp_path):
    """Chromium's fake camera (a moving test pattern) streams into the preview; the model
    just trained labels it, again and again, without a click after Record."""
    from ftgui.ui import train_tab

    data = make_dataset(tmp_path / "shapes", THREE, per_class=6)
    ctx = app.ftgui_context
    camera = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    chromium = browser.browser_type.launch(executable_path=str(CHROMIUM), args=camera)
    context = chromium.new_context(viewport=DESKTOP, permissions=["camera"])
    page = problems.watch(context.new_page())
    try:
        page.goto(app.local_url)
        open_tab(page, "2 · Train")
        form = {**train_tab.initial_form(ctx), "strategy": "scratch", "init": "kaiming", "epochs": 1}
        train_tab.start_training(ctx, str(data), 0.25, form)  # this page follows it
        assert ctx.jobs.current.join(120)
        page.wait_for_selector("#live-preview", state="visible", timeout=SLOW)
        page.locator("#preview-live-box .label-wrap").first.click()
        page.locator("#preview-live button").nth(1).click()  # the webcam on
        page.locator("#preview-live button", has_text="Record").click()
        page.wait_for_function("['circle', 'square', 'triangle'].some(c => "
                               "document.querySelector('#preview-label')?.innerText.includes(c))", timeout=SLOW)
        shoot(page, "train-live-webcam")
    finally:
        problems.close(context)
        chromium.close()
