"""The plugin registry: finds plugins, calls their hooks, and keeps what they register.

Plugins come from three places, in this order:

1. the bundled plugins (top-level ``plugins/`` in the source tree, installed as
   ``ftgui.bundled_plugins``): ordinary plugins, nothing built in is special;
2. entry points of installed distributions, group ``ftgui``;
3. ``.py`` files in directories named explicitly (``--plugins-dir`` or the
   ``FTGUI_PLUGINS_DIR`` environment variable, ``os.pathsep``-separated); never the
   working directory implicitly.

Each hook is called plugin by plugin through pluggy's own hook implementations, so a plugin
may take fewer arguments than the spec, and one plugin's failure stays its own. A plugin
that fails to import, uses an unknown hook, raises in its hook or registers an invalid item
is recorded in :attr:`Registry.broken` with its error, and nothing it registered is kept.
A bundled name always stays the bundled one; a name that two third-party plugins register
is used by neither (both are broken, and asking for the name says why).
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.util
import keyword
import os
import pkgutil
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .callback_types import Callback
from .errors import FtguiError
from .plugin_types import Initializer, Param, Plugin, Strategy

PLUGINS_DIR_ENV = "FTGUI_PLUGINS_DIR"
ENTRY_POINT_GROUP = "ftgui"
BUNDLED = "bundled"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RESERVED_PARAMS = frozenset({
    "self", "ctx", "state", "model", "modules", "module", "weight", "batch", "epoch", "params",
    "register", "optimizer", "inputs", "targets", "loss", "metrics", "config", "run_dir",
})
"""Arguments ftgui passes to plugin methods; a Param of the same name would collide."""
PARAM_TYPES = (bool, int, float, str)
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
"""A plugin's translations are keyed by language codes such as ``zh`` or ``zh-CN``."""
HOOKS: dict[str, type[Plugin]] = {
    name: spec.registers for name, spec in vars(hookspecs).items()
    if name.startswith("ftgui_") and hasattr(spec, "registers")
}
"""Each hook's name and the class of what it registers, read from the hook specs."""
TABLES = {"initializer": "initializers", "strategy": "strategies", "callback": "callbacks"}
"""Each plugin kind and the Registry table that holds it."""


@dataclass
class Registered:
    """One registered initialiser, strategy or callback and the plugin it came from."""

    item: Plugin
    plugin: str
    source: str

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``item.method(...)``; an exception the plugin raises becomes one line naming the
        plugin and its source (out-of-memory errors pass, so training can retry smaller)."""
        try:
            return getattr(self.item, method)(*args, **kwargs)
        except FtguiError:
            raise
        except Exception as exc:
            if "out of memory" in str(exc) or type(exc).__name__ == "OutOfMemoryError":
                raise
            raise FtguiError(f"{self.item.kind} '{self.item.name}' failed in {method} - "
                             f"{_error_text(exc)}; plugin {self.plugin} ({self.source})") from exc


@dataclass
class BrokenPlugin:
    plugin: str
    source: str
    error: str


@dataclass
class Registry:
    initializers: dict[str, Registered] = field(default_factory=dict)
    strategies: dict[str, Registered] = field(default_factory=dict)
    callbacks: dict[str, Registered] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    """``kind:name`` -> why no plugin provides that name (two third parties claimed it)."""

    def initializer(self, name: str) -> Initializer:
        return self.get("initializer", name).item  # type: ignore[return-value]

    def strategy(self, name: str) -> Strategy:
        return self.get("strategy", name).item  # type: ignore[return-value]

    def callback(self, name: str) -> Callback:
        return self.get("callback", name).item  # type: ignore[return-value]

    def get(self, kind: str, name: str) -> Registered:
        """The registration of ``kind`` (initializer, strategy, callback) named ``name``."""
        table: dict[str, Registered] = getattr(self, TABLES[kind])
        if name in table:
            return table[name]
        if f"{kind}:{name}" in self.conflicts:
            raise FtguiError(self.conflicts[f"{kind}:{name}"])
        close = difflib.get_close_matches(name, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise FtguiError(
            f"no {kind} named '{name}'{hint} (`ftgui plugins` lists them: {', '.join(table) or 'none'})"
        )

    def source_of(self, item: Plugin) -> str:
        return self.get(item.kind, item.name).source

    def describe(self) -> dict:
        """A JSON-ready listing: what ``ftgui plugins --json`` prints and the GUI shows."""

        def entry(reg: Registered) -> dict:
            item = reg.item
            return {
                "name": item.name,
                "description": item.description,
                "params": [
                    {"name": p.name, "default": p.default, "help": p.help,
                     "choices": list(p.choices) if p.choices else None}
                    for p in item.params
                ],
                "plugin": reg.plugin,
                "source": reg.source,
            }

        return {
            "initializers": [entry(r) for r in self.initializers.values()],
            "strategies": [entry(r) for r in self.strategies.values()],
            "callbacks": [entry(r) for r in self.callbacks.values()],
            "broken": [vars(b) for b in self.broken],
        }


def plugin_dirs_from_env() -> list[Path]:
    value = os.environ.get(PLUGINS_DIR_ENV, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


def load_registry(
    plugins_dirs: Iterable[str | os.PathLike] = (), entry_points: bool = True
) -> Registry:
    """Load every plugin and return what they registered.

    ``plugins_dirs`` are added to those in ``FTGUI_PLUGINS_DIR``.
    """
    loader = _Loader()
    loader.load_bundled()
    if entry_points:
        loader.load_entry_points()
    for directory in [*plugin_dirs_from_env(), *map(Path, plugins_dirs)]:
        loader.load_directory(directory)
    return loader.collect()


class _Loader:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("ftgui")
        self.pm.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}
        self.registry = Registry()

    # -- finding plugins -------------------------------------------------------------
    def load_bundled(self) -> None:
        from . import bundled_plugins

        for info in sorted(pkgutil.iter_modules(bundled_plugins.__path__), key=lambda m: m.name):
            name = f"{bundled_plugins.__name__}.{info.name}"
            self._add(name, BUNDLED, functools.partial(importlib.import_module, name))

    def load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            source = f"{dist.metadata['Name']} {dist.version}" if dist else "entry point"
            self._add(f"{ep.name} ({ep.value})", source, ep.load)

    def load_directory(self, directory: Path) -> None:
        if not directory.is_dir():
            self.registry.broken.append(BrokenPlugin(
                str(directory), str(directory), "plugins directory does not exist"))
            return
        for path in sorted(directory.glob("*.py")):
            if not path.name.startswith(("_", ".")):
                self._add(path.stem, str(path.resolve()), functools.partial(_import_file, path))

    def _add(self, plugin: str, source: str, load: Callable[[], object]) -> None:
        try:
            module = load()
        except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._broken(plugin, source, _error_text(exc))
            return
        unknown = _unknown_hooks(self.pm, module)
        if unknown:
            self._broken(plugin, source, unknown)
            return
        try:
            self.pm.register(module, name=plugin)
        except Exception as exc:  # pluggy validation: wrong hook arguments, double register
            self._broken(plugin, source, _error_text(exc))
            return
        self.sources[plugin] = source

    def _broken(self, plugin: str, source: str, error: str) -> None:
        self.registry.broken.append(BrokenPlugin(plugin, source, error))

    # -- calling hooks ---------------------------------------------------------------
    def collect(self) -> Registry:
        staged = {name: self._call_hooks(name) for name, _ in self.pm.list_name_plugin()}
        claims: dict[tuple[str, str], list[Registered]] = {}
        for registrations in staged.values():
            for reg in registrations or []:
                claims.setdefault((reg.item.kind, reg.item.name), []).append(reg)
        losers: dict[str, str] = {}
        for (kind, name), regs in claims.items():
            third = [r for r in regs if r.source != BUNDLED]
            if len(third) == len(regs) and len(third) > 1:
                names = " and ".join(f"{r.plugin} ({r.source})" for r in third)
                why = (f"{kind} '{name}' is registered by both {names}, so neither is used; "
                       "uninstall one or ask its author to rename it")
                self.registry.conflicts[f"{kind}:{name}"] = why
                losers.update({r.plugin: why for r in third})
            elif third and len(third) < len(regs):
                first = next(r for r in regs if r.source == BUNDLED)
                losers.update({r.plugin: f"{kind} '{name}' is already bundled with ftgui "
                                         f"({first.plugin}); pick another name" for r in third})
        for plugin, registrations in staged.items():
            if registrations is None:
                continue
            if plugin in losers:
                self._broken(plugin, self.sources[plugin], losers[plugin])
                continue
            for reg in registrations:
                getattr(self.registry, TABLES[reg.item.kind])[reg.item.name] = reg
        return self.registry

    def _call_hooks(self, plugin: str) -> list[Registered] | None:
        """What ``plugin`` registers through each of its hooks; None when it is broken."""
        source = self.sources[plugin]
        registrations: list[Registered] = []
        try:
            for hook_name, kind in HOOKS.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != plugin:
                        continue

                    def register(item: object, kind: type[Plugin] = kind) -> None:
                        registrations.append(Registered(_validate(item, kind, registrations), plugin, source))

                    available = {"register": register}
                    impl.function(**{arg: available[arg] for arg in impl.argnames})
        except Exception as exc:
            self._broken(plugin, source, _error_text(exc))
            return None
        return registrations


def _validate(item: object, kind: type[Plugin], earlier: list[Registered]) -> Plugin:
    """``item``; raise FtguiError unless it is a well-formed ``kind`` with a new name."""
    if not isinstance(item, kind):
        raise FtguiError(f"registered {item!r}, which is not an ftgui.{kind.__name__} instance")
    label = item.kind
    if not isinstance(item.name, str) or not NAME_PATTERN.match(item.name):
        raise FtguiError(f"{label} name {item.name!r} must be lower-case words joined by hyphens, "
                         "such as 'my-init'")
    if not isinstance(item.description, str) or not item.description.strip():
        raise FtguiError(f"{label} '{item.name}' needs a description (one line, shown to users)")
    if any(r.item.kind == label and r.item.name == item.name for r in earlier):
        raise FtguiError(f"{label} '{item.name}' is registered twice by the same plugin")
    if hasattr(item, "init_modules"):
        raise FtguiError(f"{label} '{item.name}' overrides init_modules(modules, batch), which plugin "
                         "API 2 replaced by initialize(ctx) (see docs/plugins.md)")
    for param in item.params:
        _validate_param(label, item.name, param)
    _validate_translations(label, item)
    return item


def _validate_param(label: str, name: str, param: object) -> None:
    where = f"{label} '{name}'"
    if not isinstance(param, Param):
        raise FtguiError(f"{where} lists {param!r} in params, which is not an ftgui.Param")
    if not param.name.isidentifier() or keyword.iskeyword(param.name):
        raise FtguiError(f"{where}: parameter name {param.name!r} must be a Python identifier")
    if param.name in RESERVED_PARAMS:
        raise FtguiError(f"{where}: parameter '{param.name}' collides with an argument ftgui passes; "
                         "rename it")
    if type(param.default) not in PARAM_TYPES:
        raise FtguiError(f"{where}: parameter '{param.name}' has a default of type "
                         f"{type(param.default).__name__}; use bool, int, float or str")
    if param.choices is not None and param.default not in param.choices:
        raise FtguiError(f"{where}: parameter '{param.name}' default {param.default!r} is not "
                         "among its choices")


def _validate_translations(label: str, item: Plugin) -> None:
    """``item.translations``: language code -> {"label" | "description" | "param.<name>": text}."""
    where = f"{label} '{item.name}'"
    translations = item.translations
    example = "e.g. {'zh': {'description': '...'}}"
    if not isinstance(translations, Mapping):
        raise FtguiError(f"{where}: translations must map language codes to texts ({example}), "
                         f"not {type(translations).__name__}")
    keys = ["label", "description", *(f"param.{p.name}" for p in item.params)]
    for language, texts in translations.items():
        if not isinstance(language, str) or not LANGUAGE_CODE.match(language):
            raise FtguiError(f"{where}: translations key {language!r} is not a language code such as 'zh'")
        if not isinstance(texts, Mapping):
            raise FtguiError(f"{where}: translations[{language!r}] must map texts to their translation "
                             f"({example}), not {type(texts).__name__}")
        for key, text in texts.items():
            if key not in keys:
                raise FtguiError(f"{where}: translations[{language!r}] has {key!r}; it may translate only "
                                 f"{', '.join(keys)}")
            if not isinstance(text, str) or not text.strip():
                raise FtguiError(f"{where}: translations[{language!r}][{key!r}] must be a non-empty string, "
                                 f"not {text!r}")


def _unknown_hooks(pm: pluggy.PluginManager, module: object) -> str:
    """A message naming hook implementations that match no hook specification, or ''."""
    for attr in dir(module):
        if pm.parse_hookimpl_opts(module, attr) is not None and attr not in HOOKS:
            close = difflib.get_close_matches(attr, list(HOOKS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"unknown hook '{attr}'{hint}; ftgui's hooks are: {', '.join(HOOKS)}"
    return ""


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"ftgui_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _error_text(exc: BaseException) -> str:
    """The exception as one line, with the place in the plugin's code where it happened."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"
