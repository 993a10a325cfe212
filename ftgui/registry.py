"""The plugin registry: finds plugins, calls their hooks, and keeps what they register.

Plugins come from three places, in this order:

1. the bundled plugins (top-level ``plugins/`` in the source tree, installed as
   ``ftgui.bundled_plugins``): ordinary plugins, nothing built in is special;
2. entry points of installed distributions, group ``ftgui``;
3. ``.py`` files in directories named explicitly (``--plugins-dir`` or the
   ``FTGUI_PLUGINS_DIR`` environment variable, ``os.pathsep``-separated); never the
   working directory implicitly.

A plugin that fails to import, uses an unknown hook, raises in its hook or registers an
invalid or duplicate item is recorded in :attr:`Registry.broken` with its error; the rest
keep working. The first plugin to register a name keeps it, so a third-party plugin cannot
silently replace a bundled one.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Iterable

import pluggy

from . import hookspecs
from .errors import FtguiError
from .plugin_types import Initializer, Plugin, Strategy

PLUGINS_DIR_ENV = "FTGUI_PLUGINS_DIR"
ENTRY_POINT_GROUP = "ftgui"

_HOOKS = {
    "ftgui_register_initializers": Initializer,
    "ftgui_register_strategies": Strategy,
}


@dataclass
class Registered:
    """One registered initialiser or strategy and the plugin it came from."""

    item: Plugin
    plugin: str
    source: str


@dataclass
class BrokenPlugin:
    plugin: str
    source: str
    error: str


@dataclass
class Registry:
    initializers: dict[str, Registered] = field(default_factory=dict)
    strategies: dict[str, Registered] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)

    def initializer(self, name: str) -> Initializer:
        return self._get(self.initializers, "initializer", name)  # type: ignore[return-value]

    def strategy(self, name: str) -> Strategy:
        return self._get(self.strategies, "strategy", name)  # type: ignore[return-value]

    def source_of(self, item: Plugin) -> str:
        table = self.initializers if isinstance(item, Initializer) else self.strategies
        return table[item.name].source

    @staticmethod
    def _get(table: dict[str, Registered], kind: str, name: str) -> Plugin:
        if name in table:
            return table[name].item
        close = difflib.get_close_matches(name, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise FtguiError(
            f"no {kind} named '{name}'{hint} (`ftgui plugins` lists them: {', '.join(table)})"
        )

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
            self._add(name, "bundled", lambda name=name: importlib.import_module(name))

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
                self._add(path.stem, str(path.resolve()), lambda path=path: _import_file(path))

    def _add(self, plugin: str, source: str, load) -> None:
        try:
            module = load()
        except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.registry.broken.append(BrokenPlugin(plugin, source, _error_text(exc)))
            return
        unknown = _unknown_hooks(self.pm, module)
        if unknown:
            self.registry.broken.append(BrokenPlugin(plugin, source, unknown))
            return
        try:
            self.pm.register(module, name=plugin)
        except Exception as exc:  # pluggy validation: wrong hook arguments, double register
            self.registry.broken.append(BrokenPlugin(plugin, source, _error_text(exc)))
            return
        self.sources[plugin] = source

    # -- calling hooks ---------------------------------------------------------------
    def collect(self) -> Registry:
        for plugin_name, module in self.pm.list_name_plugin():
            self._collect_from(plugin_name, module)
        return self.registry

    def _collect_from(self, plugin_name: str, module: object) -> None:
        source = self.sources[plugin_name]
        staged: list[tuple[dict, Registered]] = []
        try:
            for hook_name, kind in _HOOKS.items():
                impl = getattr(module, hook_name, None)
                if impl is None:
                    continue
                table = getattr(self.registry, "initializers" if kind is Initializer else "strategies")

                def register(item: object, kind=kind, table=table) -> None:
                    staged.append((table, _validate(item, kind, table, staged, plugin_name, source)))

                impl(register=register)
        except Exception as exc:
            self.registry.broken.append(BrokenPlugin(plugin_name, source, _error_text(exc)))
            return  # nothing of a failing plugin is kept
        for table, reg in staged:
            table[reg.item.name] = reg


def _validate(item: object, kind: type, table: dict, staged: list, plugin: str, source: str) -> Registered:
    label = kind.__name__.lower()
    if not isinstance(item, kind):
        raise FtguiError(f"registered {item!r}, which is not an ftgui.{kind.__name__} instance")
    if not isinstance(item.name, str) or not item.name.strip():
        raise FtguiError(f"registered a {label} without a name")
    holders = [r for r in table.values() if r.item.name == item.name]
    holders += [r for t, r in staged if t is table and r.item.name == item.name]
    if holders:
        first = holders[0]
        raise FtguiError(
            f"{label} '{item.name}' is registered twice: by {first.plugin} ({first.source}) "
            f"and by {plugin} ({source})"
        )
    return Registered(item, plugin, source)


def _unknown_hooks(pm: pluggy.PluginManager, module: object) -> str:
    """A message naming hook implementations that match no hook specification, or ''."""
    for attr in dir(module):
        if pm.parse_hookimpl_opts(module, attr) is not None and attr not in _HOOKS:
            close = difflib.get_close_matches(attr, list(_HOOKS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"unknown hook '{attr}'{hint}; ftgui's hooks are: {', '.join(_HOOKS)}"
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
