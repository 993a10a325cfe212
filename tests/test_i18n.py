"""Issue 13: the app in English and Simplified Chinese from one catalogue (ftgui/locales/zh/).

The catalogue is complete both ways: every fixed text of the built page and every text the
code marks for translation (``tr("...")``, ``N_("...")``, ``translate("...")``) has a Chinese
translation that keeps its ``{fields}``, and no translation is left over that nothing shows.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ftgui import i18n
from ftgui.ui import language
from ftgui.ui.app import AppOptions, build_app

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {"tr", "N_", "translate"}
CJK = re.compile(r"[\u4e00-\u9fff]")
SAME_IN_CHINESE = {"ftgui", "ONNX", "ONNX Runtime", "timm", "GPU", "CPU", "Vega-Lite"}
"""Texts a Chinese page shows as they are (names)."""


def marked_texts() -> dict[str, str]:
    """Every literal text passed to tr / N_ / translate in ftgui/ and plugins/ -> where."""
    found: dict[str, str] = {}
    for path in [*(ROOT / "ftgui").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in MARKERS \
                    and node.args:
                first = node.args[0]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert not isinstance(first, ast.JoinedStr), f"{where}: an f-string cannot be translated; use fields"
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.setdefault(first.value, where)
    return found


@pytest.fixture(scope="module")
def page_texts(tmp_path_factory) -> set[str]:
    demo = build_app(AppOptions(runs_dir=tmp_path_factory.mktemp("i18n") / "runs"))
    return set(demo.ftgui_texts.english())  # recorded as the page was built, before its own load event


def test_every_english_text_has_a_chinese_translation(page_texts):
    zh = i18n.catalogue(i18n.CHINESE)  # and the bundled plugins' own translations, learnt as the page was built
    missing = sorted(t for t in page_texts if i18n.translate(t, i18n.CHINESE) == t and t not in SAME_IN_CHINESE)
    assert not missing, f"{len(missing)} fixed texts of the page have no Chinese translation:\n" + "\n".join(missing)
    missing_marked = {t: where for t, where in marked_texts().items() if t not in zh}
    assert not missing_marked, f"{len(missing_marked)} marked texts have none:\n" + "\n".join(
        f"{where}: {t!r}" for t, where in sorted(missing_marked.items(), key=lambda item: item[1]))


def test_no_translation_is_left_over(page_texts):
    used = page_texts | set(marked_texts())
    orphans = sorted(set(i18n.catalogue(i18n.CHINESE)) - used)
    assert not orphans, f"{len(orphans)} translations nothing shows:\n" + "\n".join(orphans)


def test_translations_keep_the_fields_and_are_chinese():
    for english, chinese in i18n.catalogue(i18n.CHINESE).items():
        assert i18n.fields(english) == i18n.fields(chinese), (english, chinese)
        words = re.sub(r"\{[^}]*\}", "", chinese)  # what is left once the fields are filled in
        assert CJK.search(chinese) or chinese in SAME_IN_CHINESE or not re.search("[A-Za-z]", words), \
            (english, chinese)


def test_tr_speaks_the_current_language_and_falls_back_to_english():
    english = next(iter(i18n.catalogue(i18n.CHINESE)))
    assert i18n.tr(english) == english
    with i18n.speaking("zh"):
        assert i18n.tr(english) == i18n.catalogue("zh")[english]
        assert i18n.tr("no such text {n}", n=3) == "no such text 3"
    assert i18n.current.get() == "en"


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("fr-FR,zh-TW;q=0.5", "zh"),
    ("de-DE,fr;q=0.5", None), ("", None), (None, None), ("en;q=0.1, zh;q=0.2", "zh"), ("zh;q=0,en", "en"),
    ("zh;q=oops", None),
])
def test_the_browsers_preferred_language(header, expected):
    assert i18n.from_accept_language(header) == expected


class FakeRequest:
    def __init__(self, cookie: str | None = None, accept: str | None = None) -> None:
        self.cookies = {language.COOKIE: cookie} if cookie else {}
        self.headers = {"accept-language": accept} if accept else {}


def test_the_switch_beats_lang_which_beats_the_browser(monkeypatch):
    assert language.language_of(None) == "en"
    assert language.language_of(FakeRequest(accept="zh-CN,zh")) == "zh"
    monkeypatch.setattr(language, "chosen", "en")
    assert language.language_of(FakeRequest(accept="zh-CN,zh")) == "en"  # --lang en
    assert language.language_of(FakeRequest(cookie="zh", accept="en-US")) == "zh"  # the page's switch
    assert language.language_of(FakeRequest(cookie="klingon", accept="zh")) == "en"  # a bad cookie: ignored


def test_a_bound_handler_runs_in_the_visitors_language():
    from ftgui.ui.handlers import bind

    handler = bind(lambda prefix: prefix + i18n.current.get())
    assert handler("language: ", FakeRequest(accept="zh-CN")) == "language: zh"
    assert handler("language: ") == "language: en"  # called directly, without a request


def test_lang_zh_serves_the_page_in_chinese_from_the_start(tmp_path):
    demo = build_app(AppOptions(runs_dir=tmp_path / "runs", language="zh"))
    try:
        tabs = [block.label for block in demo.blocks.values() if type(block).__name__ == "Tab"]
        assert tabs and all(CJK.search(label) for label in tabs), tabs
        start = next(block for block in demo.blocks.values() if block.elem_id == "start")
        assert CJK.search(start.value), start.value
    finally:
        language.chosen = None


def test_ftgui_lang_reaches_the_app(monkeypatch):
    from ftgui import cli
    from ftgui.ui import launch

    seen: dict = {}
    monkeypatch.setattr(launch, "run", lambda **kwargs: seen.update(kwargs) or 0)
    assert cli.main(["--lang", "zh", "--no-browser"]) == 0  # bare ftgui is launch
    assert seen["language"] == "zh"
    assert launch.make_options("runs", [], "127.0.0.1", False, False, "1gb", "zh").language == "zh"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["launch", "--lang", "fr"])


def test_the_texts_go_out_only_to_a_page_served_in_another_language(tmp_path):
    """The page's texts go out in one event with every component that has a text as an output
    (over 200); Gradio's page makes every later event cost more for each component any event
    has named as an output (see ftgui.ui.app: an English page took 20 s, not 4, to answer its
    first click), so that event is not run on load: it follows a change of the page's language
    state, from the one it was served in to the visitor's, which the load event sets."""
    demo = build_app(AppOptions(runs_dir=tmp_path / "runs"))
    components = {block._id for block in demo.ftgui_texts.components}
    senders = [fn for fn in demo.fns.values() if components <= {block._id for block in fn.outputs}]
    assert len(components) > 200 and len(senders) == 1
    (texts,) = senders
    ((state_id, event),) = texts.targets
    assert event == "change" and demo.blocks[state_id].value == "en"  # served in English
    (load,) = [fn for fn in demo.fns.values() if state_id in {block._id for block in fn.outputs}]
    assert [event for _, event in load.targets] == ["load"] and len(load.outputs) == 1
    assert load.fn(FakeRequest(accept="zh-CN,zh")) == "zh" and load.fn(FakeRequest(accept="en-US")) == "en"
    switch, *shown = texts.fn("zh")
    assert switch["value"] == "zh" and any(CJK.search(str(update.get("label", ""))) for update in shown)
