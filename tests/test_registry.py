"""The plugin registry: bundled, entry-point and directory plugins; broken ones recorded."""
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from ftgui import FtguiError
from ftgui.registry import load_registry

REPO = Path(__file__).resolve().parents[1]
INITIALIZERS = {"zeros", "constant", "small-random", "lecun", "xavier", "kaiming",
                "orthogonal", "sparse", "timm-default", "lsuv"}
STRATEGIES = {"predict-only", "head-only", "full", "scratch", "gradual-unfreeze", "layer-decay", "bitfit",
              "greedy-layerwise"}
CALLBACKS = {"early-stop", "grad-norms", "ema", "clip-grad", "tensorboard", "mlflow"}

GOOD_PLUGIN = """
import ftgui

class Halves(ftgui.Initializer):
    name = "{name}"
    description = "every weight 0.5"
    params = (ftgui.Param("value", 0.5, "the value"),)

    def init_weight(self, weight, value=0.5, **params):
        weight.data.fill_(value)

@ftgui.hookimpl
def ftgui_register_initializers(register):
    register(Halves())
"""


def write_plugin(directory: Path, filename: str, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(textwrap.dedent(source))
    return path


def test_bundled_plugins_are_ordinary_plugins():
    registry = load_registry(entry_points=False)
    assert set(registry.initializers) == INITIALIZERS
    assert set(registry.strategies) == STRATEGIES
    assert set(registry.callbacks) == CALLBACKS
    everything = [*registry.initializers.values(), *registry.strategies.values(), *registry.callbacks.values()]
    assert {r.source for r in everything} == {"bundled"}
    assert registry.broken == []
    assert registry.initializers["zeros"].plugin == "ftgui.bundled_plugins.initializers"


def test_plugin_from_directory_is_loaded_with_its_file_as_source(tmp_path):
    path = write_plugin(tmp_path / "plugs", "halves.py", GOOD_PLUGIN.format(name="halves"))
    registry = load_registry([tmp_path / "plugs"], entry_points=False)
    assert registry.initializers["halves"].source == str(path.resolve())
    assert registry.initializer("halves").resolve({"value": "0.25"}) == {"value": 0.25}


def test_plugins_dir_from_environment_and_never_the_working_directory(tmp_path, monkeypatch):
    write_plugin(tmp_path / "env", "envplug.py", GOOD_PLUGIN.format(name="from-env"))
    write_plugin(tmp_path / "cwd", "cwdplug.py", GOOD_PLUGIN.format(name="from-cwd"))
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("FTGUI_PLUGINS_DIR", str(tmp_path / "env"))
    registry = load_registry(entry_points=False)
    assert "from-env" in registry.initializers
    assert "from-cwd" not in registry.initializers


def test_plugin_through_an_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_plugin(site, "ep_halves.py", GOOD_PLUGIN.format(name="ep-halves"))
    info = site / "ep_halves-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-halves\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[ftgui]\nhalves = ep_halves\n")
    monkeypatch.syspath_prepend(str(site))
    registry = load_registry()
    assert registry.initializers["ep-halves"].source == "ep-halves 1.2.3"


def test_broken_plugins_are_recorded_and_the_rest_keep_working(tmp_path):
    plugs = tmp_path / "plugs"
    write_plugin(plugs, "a_import_error.py", "import no_such_module_xyz\n")
    write_plugin(plugs, "b_raises.py", """
        import ftgui
        @ftgui.hookimpl
        def ftgui_register_strategies(register):
            raise RuntimeError("boom in hook")
    """)
    write_plugin(plugs, "c_misspelt.py", """
        import ftgui
        @ftgui.hookimpl
        def ftgui_register_initialisers(register):
            pass
    """)
    write_plugin(plugs, "d_not_an_initializer.py", """
        import ftgui
        @ftgui.hookimpl
        def ftgui_register_initializers(register):
            register("zeros")
    """)
    write_plugin(plugs, "e_good.py", GOOD_PLUGIN.format(name="halves"))
    registry = load_registry([plugs], entry_points=False)
    errors = {b.plugin: b.error for b in registry.broken}
    assert "ModuleNotFoundError" in errors["a_import_error"]
    assert "boom in hook" in errors["b_raises"] and "b_raises.py" in errors["b_raises"]
    assert "unknown hook 'ftgui_register_initialisers'" in errors["c_misspelt"]
    assert "did you mean ftgui_register_initializers" in errors["c_misspelt"]
    assert "not an ftgui.Initializer" in errors["d_not_an_initializer"]
    assert "halves" in registry.initializers
    assert set(registry.strategies) == STRATEGIES


TRANSLATED_PLUGIN = """
import ftgui

class Halves(ftgui.Initializer):
    name = "halves"
    description = "every weight 0.5"
    params = (ftgui.Param("value", 0.5, "the value"),)
    translations = {translations}

    def init_weight(self, weight, value=0.5, **params):
        weight.data.fill_(value)

@ftgui.hookimpl
def ftgui_register_initializers(register):
    register(Halves())
"""


@pytest.mark.parametrize(("translations", "error"), [
    ("['zh']", "translations must map language codes to texts"),
    ("{'Chinese!': {'label': '一半'}}", "'Chinese!' is not a language code"),
    ("{'zh': 'every weight 0.5'}", "translations['zh'] must map texts to their translation"),
    ("{'zh': {'param.valu': '值'}}", "has 'param.valu'; it may translate only label, description, param.value"),
    ("{'zh': {'help': '值'}}", "has 'help'"),
    ("{'zh': {'description': ''}}", "translations['zh']['description'] must be a non-empty string"),
    ("{'zh': {'label': 3}}", "must be a non-empty string, not 3"),
])
def test_bad_translations_break_the_plugin_in_one_line_naming_it(tmp_path, translations, error):
    path = write_plugin(tmp_path / "plugs", "halves.py", TRANSLATED_PLUGIN.format(translations=translations))
    registry = load_registry([tmp_path / "plugs"], entry_points=False)
    assert "halves" not in registry.initializers
    [broken] = registry.broken
    assert (broken.plugin, broken.source) == ("halves", str(path.resolve()))
    assert error in broken.error and "initializer 'halves'" in broken.error and "\n" not in broken.error


def test_a_third_party_plugin_speaks_chinese_with_its_own_translations(tmp_path):
    from ftgui import i18n
    from ftgui.ui import plugins_tab

    zh = {"zh-CN": {"label": "每个权重都是 0.5", "description": "所有权重都设为 0.5", "param.value": "权重的值"}}
    write_plugin(tmp_path / "plugs", "halves.py", TRANSLATED_PLUGIN.format(translations=zh))
    write_plugin(tmp_path / "plain", "plain.py", GOOD_PLUGIN.format(name="plain-halves").replace("0.5\"", "a half\""))
    registry = load_registry([tmp_path / "plugs", tmp_path / "plain"], entry_points=False)
    assert registry.broken == []
    halves, plain = registry.initializer("halves"), registry.initializer("plain-halves")
    assert i18n.plugin_text(halves, "description", "every weight 0.5") == "every weight 0.5"  # English
    with i18n.speaking("zh"):
        assert i18n.plugin_text(halves, "description", "every weight 0.5") == "所有权重都设为 0.5"
        assert i18n.plugin_text(plain, "description", "every weight a half") == "every weight a half"
        shown = plugins_tab.plugins_markdown(registry.describe(), registry)
    assert "**每个权重都是 0.5**<br>`halves`" in shown and "所有权重都设为 0.5" in shown
    assert "`value` = `0.5`: 权重的值" in shown
    assert "**plain-halves** | every weight a half |" in shown  # no translations: its English
    assert "**halves** | every weight 0.5 |" in plugins_tab.plugins_markdown(registry.describe(), registry)

def test_a_name_two_third_parties_register_is_used_by_neither_and_bundled_names_stay(tmp_path):
    plugs = tmp_path / "plugs"
    one = write_plugin(plugs, "one.py", GOOD_PLUGIN.format(name="halves"))
    two = write_plugin(plugs, "two.py", GOOD_PLUGIN.format(name="halves"))
    write_plugin(plugs, "three.py", GOOD_PLUGIN.format(name="zeros"))
    registry = load_registry([plugs], entry_points=False)
    errors = {b.plugin: b.error for b in registry.broken}
    for plugin in ("one", "two"):
        assert f"one ({one.resolve()}) and two ({two.resolve()})" in errors[plugin]
    assert "already bundled" in errors["three"] and "ftgui.bundled_plugins.initializers" in errors["three"]
    assert "halves" not in registry.initializers
    assert registry.initializers["zeros"].source == "bundled"
    with pytest.raises(FtguiError, match="registered by both one .* and two .*so neither is used"):
        registry.initializer("halves")


def test_unknown_names_suggest_close_matches():
    registry = load_registry(entry_points=False)
    with pytest.raises(FtguiError, match="did you mean kaiming"):
        registry.initializer("kaimin")
    with pytest.raises(FtguiError, match="did you mean head-only"):
        registry.strategy("head_only")


def test_cli_plugins_json_lists_everything(tmp_path):
    plugs = tmp_path / "plugs"
    write_plugin(plugs, "halves.py", GOOD_PLUGIN.format(name="halves"))
    write_plugin(plugs, "broken.py", "raise ValueError('bad plugin')\n")
    out = subprocess.run([sys.executable, "-m", "ftgui", "plugins", "--json", "--plugins-dir", str(plugs)],
                         capture_output=True, text=True, check=True).stdout
    listing = json.loads(out)
    names = {item["name"] for item in listing["initializers"]}
    assert names == INITIALIZERS | {"halves"}
    sparse = next(i for i in listing["initializers"] if i["name"] == "sparse")
    assert {p["name"]: p["default"] for p in sparse["params"]} == {"k": 10, "scale": 1.0}
    assert sparse["source"] == "bundled" and sparse["description"]
    assert {s["name"] for s in listing["strategies"]} == STRATEGIES
    assert {c["name"] for c in listing["callbacks"]} == CALLBACKS
    assert listing["broken"][0]["plugin"] == "broken"
    assert "ValueError: bad plugin" in listing["broken"][0]["error"]


def test_a_normal_install_carries_the_bundled_plugins_and_no_top_level_plugins_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "wheel"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("ftgui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ftgui/bundled_plugins/initializers.py" in names
    assert "ftgui/bundled_plugins/strategies.py" in names
    assert "ftgui/bundled_plugins/callbacks.py" in names and "ftgui/training/loop.py" in names
    assert not any(name.startswith("plugins/") for name in names)
    assert any(name.startswith("ftgui/sample_data/digits/") for name in names)
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    probe = ("import json, ftgui, ftgui.registry as r; reg = r.load_registry(entry_points=False);"
             "print(json.dumps([ftgui.__file__, sorted(reg.initializers), sorted(reg.strategies)]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}).stdout
    location, initializers, strategies = json.loads(out)
    assert location.startswith(str(target))
    assert set(initializers) == INITIALIZERS and set(strategies) == STRATEGIES
