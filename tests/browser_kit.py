"""What the browser tests (tests/test_browser*.py) share: Debian's Chromium, the tiny app they
drive, what a page must not report (:class:`PageProblems`), how to open a tab and wait for what
a page shows, and how to read a plot's values back from its SVG.

The fixtures built on these (``browser``, ``problems``, ``page``, and the one that stops the
app's training after every browser test) are in conftest.py. Every wait here ends as soon as
the page shows what is waited for; a timeout only bounds how long a broken page is waited on.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WIDTH = 1280
DESKTOP = {"width": WIDTH, "height": 900}
PHONE = {"width": 390, "height": 844}
TABS = ("1 · Data", "2 · Train", "3 · Predict", "4 · Runs", "5 · Plugins", "6 · Init Lab")
TINY = {"model": "test_resnet", "img_size": 32, "batch_size": 8, "aug": "none"}
"""What ``--demo`` does with its own settings: a tiny model at 32 px, so a CPU trains it in seconds."""
SLOW = 120_000
"""ms: the bound on a wait for what the server does (a training, an event queued behind one)."""

MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"),
]
"""Every browser test module's ``pytestmark``."""


@contextlib.contextmanager
def tiny_app(runs: Path) -> Iterator[Any]:
    """The app served by this process on ``runs`` with :data:`TINY` as the Train tab's
    defaults, a checkpoint written every epoch (a stopped run can be resumed); afterwards its
    training is stopped and the server closed."""
    from ftgui.training import writer

    from test_ui_e2e import running_app

    with pytest.MonkeyPatch.context() as patch, running_app(runs, defaults=TINY) as demo:
        patch.setattr(writer, "SAVE_INTERVAL_S", 0.0)
        yield demo


class PageProblems:
    """What a page reports that a person would not want: uncaught errors (``pageerror``),
    console errors and warnings, Vega's "Infinite extent" (whatever its level), and failed
    requests (4xx/5xx). A test asserts none at its end (:meth:`check`); warnings listed in
    ``ALLOWED_WARNINGS`` are Chromium's, not the app's. What a page logs while it is reloaded
    or closed (its polls aborted) is not the page's problem (:meth:`navigate`, :meth:`close`)."""

    ALLOWED_WARNINGS = ("Method not implemented.",)  # Chromium's headless media/permissions stubs
    ALWAYS = ("Infinite extent",)  # an axis Vega could not scale: a plot drawn from nothing

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

    def close(self, thing) -> None:
        """Close a page or a browser context; what its pages log as they go is not counted."""
        self.leaving.update(getattr(thing, "pages", [thing]))
        thing.close()

    def watch(self, page):
        page.on("pageerror", lambda error: self.seen.append(f"pageerror: {error}"))
        page.on("console", lambda message: None if page in self.leaving else self._console(message))
        page.on("response", lambda r: self.seen.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        return page

    def _console(self, message) -> None:
        if (message.type == "error" or (message.type == "warning" and message.text not in self.ALLOWED_WARNINGS)
                or any(text in message.text for text in self.ALWAYS)):
            self.seen.append(f"console {message.type}: {message.text[:300]}")

    def check(self) -> None:
        distinct = dict.fromkeys(line.splitlines()[0] for line in self.seen)
        assert not self.seen, f"{len(self.seen)} problem(s) in the page:\n" + "\n".join(distinct)


# -- waiting for what the page shows ------------------------------------------------------------------
def wait_for_tab(page, name: str, timeout: float = SLOW) -> None:
    """Until the tab ``name`` is the one shown (its button ``aria-selected``), and the page has
    drawn it (two animation frames later)."""
    page.wait_for_function("n => [...document.querySelectorAll('button[role=tab][aria-selected=true]')]"
                           ".some(b => b.offsetParent && b.innerText.includes(n))", arg=name, timeout=timeout)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def open_tab(page, name: str) -> None:
    """Click the tab ``name`` as a person would, and wait until it is shown."""
    page.locator("button[role=tab]:visible", has_text=name).first.click()
    wait_for_tab(page, name)


def stop_training(page) -> None:
    """Click Stop once the page has enabled it (its poll does, a moment after the job starts or
    is followed; on a loaded machine more than a click's 30 s)."""
    from playwright.sync_api import expect

    expect(page.locator("#stop")).to_be_enabled(timeout=SLOW)
    page.locator("#stop").click()


def wait_for_text(page, selector: str, text: str, timeout: float = SLOW) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s)?.innerText.includes(t)", arg=[selector, text],
                           timeout=timeout)


def choose(page, dropdown: str, option: str) -> None:
    """Pick ``option`` in the dropdown ``dropdown`` as a person would; wait until it shows it."""
    from playwright.sync_api import expect

    box = page.locator(f"{dropdown} input").first
    box.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    expect(box).to_have_value(option)


def choose_mode(page, label: str, init: str) -> None:
    """Pick the Train tab's mode whose label has ``label`` as a person would; wait until the form
    shows the mode's own initialiser ``init`` and then its description, which the app sends in
    two updates: a choice made before the first came would be replaced, and the dropdown is
    drawn again when the second comes."""
    from playwright.sync_api import expect

    from ftgui.registry import load_registry
    from ftgui.ui.train_layout import described

    page.locator("#strategy label", has_text=label).click()
    expect(page.locator("#init input").first).to_have_value(init, timeout=SLOW)
    info = described(load_registry(entry_points=False).initializer(init))
    expect(page.locator("#init")).to_contain_text(info, timeout=SLOW)


def use_zip(page, data: Path, summary: str, thumbnails: int) -> None:
    """Drop a zip on the Data tab; wait for its summary and for every thumbnail to be decoded
    (they load lazily, after the summary is shown: a screenshot taken at once shows blanks)."""
    page.locator("#data-zip input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#data-summary", summary)
    page.wait_for_function("n => { const images = [...document.querySelectorAll('#data-gallery img')];"
                           " return images.length === n && images.every(i => i.complete && i.naturalWidth > 0); }",
                           arg=thumbnails, timeout=SLOW)


def markdown_text(page, selector: str) -> str:
    """The text a Markdown component shows: without its status tracker, which holds the timer
    of an event that writes to it (``processing | 0.3s``) even when that tracker is hidden."""
    return page.locator(f"{selector} [data-testid=markdown-wrapper]").first.inner_text()


def shoot(page, name: str) -> None:
    """A full-page screenshot, ``test-artifacts/NAME.png``; the page must not scroll sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# -- plots: their values read back from the SVG -----------------------------------------------------------
PLOTTED = """sel => {
  const svg = document.querySelector(sel + ' svg.marks');  // Vega's chart, not an icon before it
  if (!svg) return null;
  // each axis: its scale from its labels, which sit at the scale's own positions (Vega rounds its
  // tick lines to whole pixels, not its labels) but shifted off them by a whole pixel or few (a
  // rounded baseline offset: the median label-tick difference, rounded); between its extreme
  // labels, the farthest apart. A negative label is written with U+2212 (the log10 axes), not '-'
  const pos = e => e.getAttribute('transform').match(/translate\\(([-\\d.e]+),([-\\d.e]+)\\)/).slice(1).map(Number);
  const value = t => parseFloat(t.textContent.replace(/,/g, '').replace(/\\u2212/g, '-'));
  const axes = [...svg.querySelectorAll('.role-axis')].map(a => {
      const labels = [...a.querySelectorAll('.role-axis-label text')].map(t => [value(t), pos(t)]);
      const ticks = [...a.querySelectorAll('.role-axis-tick line')].map(pos);
      if (labels.length !== ticks.length || labels.length < 2) return null;
      const k = ticks[0][1] === ticks[1][1] ? 0 : 1;  // along x (ticks in a row) or y
      const shifts = labels.map(([, p], i) => p[k] - ticks[i][k]).sort((a, b) => a - b);
      const shift = Math.round(shifts[shifts.length >> 1]);
      const marks = labels.map(([v, p]) => [v, p[k] - shift]).sort((a, b) => a[0] - b[0]);
      const f = marks[0], l = marks[marks.length - 1];
      return {k, values: marks.map(m => m[0]), at: p => f[0] + (p - f[1]) * (l[0] - f[0]) / (l[1] - f[1])};
  }).filter(a => a);
  const xa = axes.find(a => a.k === 0), ya = axes.find(a => a.k === 1);
  if (!xa || !ya) return null;
  const series = [...svg.querySelectorAll('.mark-line path')].map(p => ({
    stroke: p.getAttribute('stroke'), dash: getComputedStyle(p).strokeDasharray,
    points: [...p.getAttribute('d').matchAll(/[ML]([-\\d.e]+),([-\\d.e]+)/g)].map(m => [xa.at(+m[1]), ya.at(+m[2])])}));
  return {series, legend: [...svg.querySelectorAll('.role-legend-label text')].map(t => t.textContent),
          ymin: Math.min(...ya.values), ymax: Math.max(...ya.values)};
}"""
"""A plot's lines as data: ``{series: [{stroke, dash, points}], legend, ymin, ymax}``, or null.
Read to about 1e-5 of an axis' span (Vega writes a line's points to 1/1000 of a pixel): the scale
comes from the labels' positions, not from the tick lines' (whole pixels; scaled from those, a
value could be a few hundredths off on an axis a few units tall)."""


def plotted(page, selector: str) -> dict | None:
    return page.evaluate(PLOTTED, selector)


def wait_for_plot(page, selector: str, check, timeout: float = 60) -> dict:
    """The plot's values once ``check(values)`` holds and every line is drawn in a colour (the
    chart redraws asynchronously). A line with no stroke is in the page's SVG but not on the
    screen: Gradio's LinePlot gives no colour to a series its chart's first data did not have."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        shown = plotted(page, selector)
        if shown and all(line["stroke"] not in (None, "none") for line in shown["series"]) and check(shown):
            return shown
        page.wait_for_timeout(250)
    paths = page.evaluate("s => [...document.querySelectorAll(s + ' svg .mark-line path')]"
                          ".map(p => p.getAttribute('d'))", selector)
    raise AssertionError(f"{selector} never showed what was expected; it shows {shown}; paths {paths}")
