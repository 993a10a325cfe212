"""The plugin contract: hooks read from the specs and called through pluggy, validation at
registration, the API version, and the optimiser rules plugins rely on."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import timm
import torch

import ftgui
from ftgui import hookspecs
from ftgui.registry import HOOKS, load_registry
from ftgui.training.optim import build_optimizer, optimizer_groups

TEMPLATE = """
import ftgui

class Thing(ftgui.{kind}):
    name = {name!r}
    description = {description!r}
    params = ({params})
{body}

@ftgui.hookimpl
def {hook}(register):
    register(Thing())
"""


def plugin(folder: Path, filename: str, kind: str = "Initializer", name: str = "thing", description: str = "does",
           params: str = "", body: str = "    def init_weight(self, weight, **params): pass") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    hook = {"Initializer": "ftgui_register_initializers", "Strategy": "ftgui_register_strategies",
            "Callback": "ftgui_register_callbacks"}[kind]
    (folder / filename).write_text(TEMPLATE.format(kind=kind, name=name, description=description, params=params,
                                                   body=body, hook=hook))
    return folder


def test_the_hooks_are_read_from_the_specs():
    specs = {name for name in dir(hookspecs) if name.startswith("ftgui_register_")}
    assert set(HOOKS) == specs == {"ftgui_register_initializers", "ftgui_register_strategies",
                                   "ftgui_register_callbacks"}
    assert HOOKS["ftgui_register_callbacks"] is ftgui.Callback
    assert ftgui.PLUGIN_API == 2


@pytest.mark.parametrize("options, error", [
    (dict(name="My_Init"), "must be lower-case words joined by hyphens"),
    (dict(name=""), "must be lower-case words"),
    (dict(description=""), "needs a description"),
    (dict(params='ftgui.Param("values", [1, 2], "a list"),'), "default of type list"),
    (dict(params='ftgui.Param("model", 1, "collides"),'), "parameter 'model' collides with an argument ftgui passes"),
    (dict(params='ftgui.Param("ctx", 1, "collides"),'), "parameter 'ctx' collides"),
    (dict(params='ftgui.Param("mode", "c", "not a choice", ("a", "b")),'), "is not among its choices"),
    (dict(body="    def init_modules(self, modules, batch=None, **params): pass"), "replaced by initialize(ctx)"),
    (dict(kind="Callback", body="    pass", name="Bad Name"), "lower-case words"),
])
def test_invalid_registrations_mark_the_plugin_broken(tmp_path, options, error):
    folder = plugin(tmp_path / "plugins", "thing.py", **options)
    registry = load_registry([folder], entry_points=False)
    (broken,) = registry.broken
    assert broken.plugin == "thing" and error in broken.error
    assert "thing" not in registry.initializers and "thing" not in registry.callbacks


def test_a_plugin_may_take_fewer_arguments_than_the_spec(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "quiet.py").write_text(textwrap.dedent("""
        import ftgui

        @ftgui.hookimpl
        def ftgui_register_callbacks():
            pass  # registers nothing, and takes no `register`: pluggy allows it
    """))
    plugin(folder, "good.py", kind="Callback", name="good-one", body="    pass")
    registry = load_registry([folder], entry_points=False)
    assert registry.broken == [] and "good-one" in registry.callbacks


def test_plugins_dir_before_the_command(tmp_path):
    folder = plugin(tmp_path / "plugins", "thing.py", name="early-bird")
    out = subprocess.run([sys.executable, "-m", "ftgui", "--plugins-dir", str(folder), "plugins", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert "early-bird" in {i["name"] for i in json.loads(out)["initializers"]}


def test_weight_decay_follows_timm_no_decay_for_1d_and_no_weight_decay_names():
    model = timm.create_model("test_vit", num_classes=3)
    groups = optimizer_groups(model, [{"params": list(model.parameters())}], 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    undecayed = {names[id(p)] for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    decayed = {names[id(p)] for g in groups if g["weight_decay"] == 0.05 for p in g["params"]}
    assert {"pos_embed", "cls_token"} <= undecayed  # 3-D, but named by model.no_weight_decay()
    assert "head.bias" in undecayed and "blocks.0.norm1.weight" in undecayed
    assert "head.weight" in decayed and "patch_embed.proj.weight" in decayed
    assert not undecayed & decayed and len(undecayed | decayed) == len(names)


def test_rebuilding_the_optimiser_keeps_the_state_of_what_already_trains():
    model = timm.create_model("test_resnet", num_classes=3)
    head = list(model.get_classifier().parameters())
    for p in model.parameters():
        p.requires_grad_(any(p is h for h in head))
    first = build_optimizer(model, [{"params": head}], 1e-2, 0.01)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    first.step()
    for p in model.parameters():
        p.requires_grad_(True)
    second = build_optimizer(model, [{"params": list(model.parameters())}], 1e-2, 0.01, previous=first)
    assert all(second.state[p] is first.state[p] for p in head)  # moments carried over
    assert not any(p in second.state for p in model.parameters() if not any(p is h for h in head))
