"""Issue 13 in a real browser (Playwright, Debian's Chromium): a browser that prefers Chinese
gets the page in Chinese, one that prefers English gets it in English, and the page's switch
overrides either (and holds after a reload). What the page SHOWS is read back: its visible text.
Screenshots: ``test-artifacts/i18n-zh-<tab>.png``."""
from __future__ import annotations

import re

import pytest
from browser_kit import DESKTOP, MARKS, TABS, open_tab, shoot, tiny_app, wait_for_tab, wait_for_text

from ftgui import i18n

pytestmark = MARKS
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORDS = re.compile(r"[A-Za-z]{2,}(?:[ '-][A-Za-z]{2,}){2,}")
"""Three English words in a row: a sentence or label left untranslated (names are one or two words)."""
NAMES = ("Hugging Face hub", "pip install tensorboard", "pip install mlflow")
"""Names a Chinese page shows as they are."""
ZH_TABS = [i18n.translate(tab, i18n.CHINESE) for tab in TABS]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with tiny_app(tmp_path_factory.mktemp("browser-i18n") / "runs") as demo:
        yield demo


def visible_lines(page) -> list[str]:
    """The texts the page shows, each visible text node on its own: not code (commands, names of
    files) nor the language switch (which names each language in itself)."""
    return page.evaluate("""() => {
      const out = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node; (node = walker.nextNode());) {
        const parent = node.parentElement, text = node.textContent.trim();
        if (!text || !parent || parent.closest('code, pre, script, style, #language')) continue;
        if (parent.getClientRects().length && getComputedStyle(parent).visibility !== 'hidden') out.push(text);
      }
      return out;
    }""")


def english_left(page) -> list[str]:
    without_names = ((line, re.sub("|".join(map(re.escape, NAMES)), "", line)) for line in visible_lines(page))
    return [line for line, words in without_names if ENGLISH_WORDS.search(words)]


def page_in(browser, locale: str, problems):
    context = browser.new_context(viewport=DESKTOP, locale=locale)
    return problems.watch(context.new_page())


def switch_to(page, problems, language: str) -> None:
    """Click ``language`` in the page's switch; it reloads the page in that language."""
    def go() -> None:
        with page.expect_navigation():
            page.locator("#language label", has_text=language).click()

    problems.navigate(page, go)


def test_a_chinese_browser_gets_every_tab_in_chinese(app, browser, problems):
    page = page_in(browser, "zh-CN", problems)
    page.goto(app.local_url)
    wait_for_tab(page, ZH_TABS[0])
    tabs = page.locator("button[role=tab]").all_inner_texts()
    assert [t.strip() for t in tabs] == ZH_TABS and all(CJK.search(t) for t in tabs)
    assert english_left(page) == [], "English left on the first page"
    shoot(page, "i18n-zh-data")
    for index, tab in enumerate(ZH_TABS[1:], start=1):
        open_tab(page, tab)
        page.wait_for_timeout(300)  # the tab's own load events fill it
        left = english_left(page)
        shoot(page, f"i18n-zh-{TABS[index].split(' · ')[1].lower().replace(' ', '-')}")
        assert left == [], f"English left on {TABS[index]}: {left}"
        if index == 1:
            start = page.locator("#start").inner_text()
            assert CJK.search(start) and start == i18n.translate("Start training", i18n.CHINESE), start
    problems.close(page.context)


def test_an_english_browser_gets_english_and_the_switch_changes_it(app, browser, problems):
    page = page_in(browser, "en-US", problems)
    page.goto(app.local_url)
    wait_for_tab(page, TABS[0])
    assert [t.strip() for t in page.locator("button[role=tab]").all_inner_texts()] == list(TABS)
    open_tab(page, TABS[1])
    assert page.locator("#start").inner_text().strip() == "Start training"
    chinese = [line for line in visible_lines(page) if CJK.search(line)]
    assert chinese == [], f"Chinese on an English page: {chinese}"

    switch_to(page, problems, "中文")
    wait_for_tab(page, ZH_TABS[0])  # the page reloaded in Chinese
    assert page.locator("#language input[value=zh]").is_checked()
    problems.navigate(page, page.reload)
    wait_for_tab(page, ZH_TABS[0])  # the choice holds after a reload
    open_tab(page, ZH_TABS[1])
    wait_for_text(page, "#start", i18n.translate("Start training", i18n.CHINESE))
    switch_to(page, problems, "English")
    wait_for_tab(page, TABS[0])
    problems.close(page.context)
