"""Issue 11, item 7 in a real browser (Playwright, Debian's Chromium): the Init Lab tab runs an
experiment and SHOWS the seed's figures. Plotted values are read back from the page's SVG
(through its axis ticks, negative log10 labels included); whatever the page reports that a person
would not want (an error, a warning such as Vega's "Infinite extent", a failed request:
browser_kit.PageProblems) fails the test. Screenshot (1280 wide) in ``test-artifacts/lab.png``."""
from __future__ import annotations

import re

import pytest
from browser_kit import ARTIFACTS, MARKS, PHONE, choose, open_tab, plotted, tiny_app, wait_for_plot, wait_for_text

from ftgui.runs import list_runs
from ftgui.ui.run_names import display_names

pytestmark = MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with tiny_app(tmp_path_factory.mktemp("browser-lab") / "runs") as demo:
        yield demo


def series(shown: dict, legend: str) -> list[list[float]]:
    """The points of the line whose legend entry is ``legend`` (legend order = line order)."""
    return shown["series"][shown["legend"].index(legend)]["points"]


def test_lab_runs_an_experiment_and_shows_the_seeds_figures(app, page):
    page.goto(app.local_url)
    open_tab(page, "6 · Init Lab")
    choose(page, "#lab-init-b", "zeros")
    page.locator("#lab-run").click()
    wait_for_text(page, "#lab-status", "Ran in", timeout=60_000)

    a, b = "A: small-random · tanh", "B: zeros · tanh"
    spread = wait_for_plot(page, "#lab-spread", lambda s: sorted(s["legend"]) == [a, b]
                           and all(len(line["points"]) == 10 for line in s["series"]))
    first = series(spread, a)
    assert [round(x) for x, _ in first] == list(range(1, 11))
    assert first[0][1] == pytest.approx(0.214, abs=0.01)  # docs/init-lab.md: 0.214, 5.3e-4, 3.0e-7
    assert abs(first[-1][1]) < 0.005 and all(abs(y) < 1e-3 for _, y in series(spread, b))
    # the exact figure is in the table beside it
    table_a = page.locator("#lab-table-a").inner_text()
    assert "2.9e-07" in table_a or "3.0e-07" in table_a

    # the symmetry meter: zeros leave one unit of 32 and guess; small random numbers break the symmetry
    meter_b, meter_a = page.locator("#lab-meter-b").inner_text(), page.locator("#lab-meter-a").inner_text()
    assert "layer 1: 1 of 32 distinct units" in meter_b and "the symmetry trap" in meter_b
    assert "validation accuracy 10.0%" in meter_b
    assert "layer 1: 32 of 32 distinct units" in meter_a and "symmetry trap" not in meter_a

    # gradient diffusion: sigmoid's first layer orders of magnitude below its last; ReLU stays level
    grads = wait_for_plot(page, "#lab-gradients", lambda s: "A: small-random · sigmoid" in s["legend"])
    sigmoid = series(grads, "A: small-random · sigmoid")
    assert sigmoid[-1][1] - sigmoid[0][1] > 5  # log10: small-random sigmoid 5e-15 .. 0.07
    assert "B: zeros · relu" not in grads["legend"]  # no gradient at all: said in words instead
    assert "No gradient at all" in page.locator("#lab-status").inner_text()

    # the explanations quote the seed
    text = page.locator("button[role=tab][aria-selected=true]").inner_text()
    assert "Init Lab" in text
    body = page.inner_text("body")
    for quote in ("smaller is not always better", "calibrate the variance with 1/sqrt(n)",
                  "the network stays symmetric", "梯度扩散"):
        assert quote in body
    # a second experiment with other series (another initialiser, other layers): each is drawn in a
    # colour (wait_for_plot), not only those of the first experiment
    choose(page, "#lab-init-a", "lecun")
    layers = page.locator("#lab-layers input[type=number]")
    layers.fill("6")
    layers.press("Tab")
    page.locator("#lab-run").click()
    a = "A: lecun · tanh"
    wait_for_plot(page, "#lab-spread", lambda s: sorted(s["legend"]) == [a, b]
                  and all(len(line["points"]) == 6 for line in s["series"]))
    wait_for_plot(page, "#lab-hist-a", lambda s: "layer 6" in s["legend"] and "layer 10" not in s["legend"])
    wait_for_plot(page, "#lab-loss", lambda s: a in s["legend"])
    wait_for_plot(page, "#lab-gradients", lambda s: "A: lecun · sigmoid" in s["legend"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab.png"), full_page=True)
    assert plotted(page, "#lab-loss") is not None
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "lab-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1  # nothing runs off a phone
    clipped = page.evaluate("""[...document.querySelectorAll('label span, label')]
        .filter(e => e.offsetParent && e.children.length === 0 && e.scrollWidth > e.clientWidth + 1
                && getComputedStyle(e).overflow !== 'visible')
        .map(e => e.innerText)""")
    assert not clipped, f"clipped labels at 390 px: {clipped}"
    assert page.locator("button[role=tab]", has_text="6 · Init Lab").first.is_visible()


def test_a_comparison_keeps_training_out_and_stops_with_the_runs_that_finished(app, page):
    """Compare, then Start in the Train tab while it runs (refused: they would share the cores),
    then Stop: the page says how many runs finished and the table has exactly those."""
    page.goto(app.local_url)
    open_tab(page, "6 · Init Lab")
    page.locator("#lab-compare .label-wrap").first.click()
    vary = page.locator("#lab-compare-vary textarea, #lab-compare-vary input").first
    vary.fill("init=zeros,lecun")
    vary.press("Tab")
    epochs = page.locator("#lab-compare-epochs input[type=number]")
    epochs.fill("4")
    epochs.press("Tab")
    page.locator("#lab-compare-run").click()
    wait_for_text(page, "#lab-compare", "(2 of 6 runs)")  # 2 initialisers x 3 seeds; one has finished

    open_tab(page, "2 · Train")
    page.locator("#start").click()
    page.locator(".toast-body", has_text="the Init Lab is comparing").first.wait_for(timeout=30_000)
    assert app.ftgui_context.jobs.running() is None

    open_tab(page, "6 · Init Lab")
    page.locator("#lab-compare-stop").click()
    wait_for_text(page, "#lab-compare-verdicts", "Stopped")
    verdicts = page.locator("#lab-compare-verdicts").inner_text()
    done, total = map(int, re.search(r"Stopped after (\d+) of (\d+) runs", verdicts).groups())
    assert total == 6 and 1 <= done < 6
    rows = page.locator("#lab-compare-table [role=row][data-index]").all()  # the grid shown, not its sizing table
    cells = [row.locator("[role=gridcell]").all_inner_texts() for row in rows]
    assert [cell[0] for cell in cells][:1] == ["init=zeros"] and sum(int(cell[2]) for cell in cells) == done
    assert app.ftgui_context.jobs.comparing is None


def test_runs_tab_plots_gradients_per_stage_of_a_grad_norms_run(app, page):
    from test_ui_truth import fake_run

    rows = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5,
             "grad_norm/stage0": 10.0 ** (-4 + e), "grad_norm/stage1": 1e-2, "grad_norm/head": 1.0,
             "update_ratio/stage0": 1e-5, "update_ratio/stage1": 1e-3, "update_ratio/head": 1e-2} for e in (1, 2, 3)]
    fake_run(app.ftgui_context.runs_root, "20261129-165500-test_resnet-scratch", rows=rows,
             created="2026-11-29T16:55:00")
    blocks = [{**{k: v for k, v in row.items() if "/" not in k}, "grad_norm/blocks.0": 1e-3,
               "grad_norm/head": 1.0, "update_ratio/blocks.0": 1e-4, "update_ratio/head": 1e-2} for row in rows]
    other = fake_run(app.ftgui_context.runs_root, "20261129-160000-test_vit-scratch", rows=blocks,
                     created="2026-11-29T16:00:00")
    page.goto(app.local_url)
    open_tab(page, "4 · Runs")
    page.locator("#runs-gradients").get_by_text("Gradients per stage").first.click()
    shown = wait_for_plot(page, "#runs-gradients", lambda s: sorted(s["legend"]) == ["head", "stage0", "stage1"])
    stage0 = series(shown, "stage0")
    assert [round(x) for x, _ in stage0] == [1, 2, 3]
    assert [round(y, 1) for _, y in stage0] == [-3.0, -2.0, -1.0]  # log10 of 1e-3, 1e-2, 1e-1
    assert all(abs(y) < 0.05 for _, y in series(shown, "head"))
    wait_for_text(page, "#runs-gradients-text", "gradient diffusion")
    assert "0.1 times the gradient of the head" in page.locator("#runs-gradients-text").inner_text()
    page.screenshot(path=str(ARTIFACTS / "runs-gradients.png"), full_page=True)

    # then an older run, of a model with other stages: each of its lines in a colour (wait_for_plot)
    choose(page, "#runs-one", display_names(list_runs(app.ftgui_context.runs_root))[other.name])
    shown = wait_for_plot(page, "#runs-gradients", lambda s: sorted(s["legend"]) == ["blocks.0", "head"])
    assert [round(y, 1) for _, y in series(shown, "blocks.0")] == [-3.0] * 3
