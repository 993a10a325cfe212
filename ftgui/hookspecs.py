"""Hook specifications: the only ways a plugin can extend ftgui.

Every hook follows the register-callback pattern: ftgui calls the hook with a ``register``
function, and the plugin calls ``register(obj)`` once for each thing it provides. ftgui
validates every object as it is registered and remembers which plugin registered it. Each
spec names the class its objects must be (``registers``); the registry reads the hooks and
their classes from here, so adding a hook is adding a spec.
"""
from __future__ import annotations

from collections.abc import Callable

import pluggy

from .callback_types import Callback
from .plugin_types import Initializer, Strategy

hookspec = pluggy.HookspecMarker("ftgui")


def _registers(kind: type) -> Callable[[Callable], Callable]:
    def mark(spec: Callable) -> Callable:
        spec.registers = kind  # type: ignore[attr-defined]
        return spec
    return mark


@hookspec
@_registers(Initializer)
def ftgui_register_initializers(register: Callable[[object], None]) -> None:
    """Register weight initialisers.

    Call ``register(initializer)`` with an instance of :class:`ftgui.Initializer` for each
    initialiser. Its ``name`` is what users type (``--init NAME``) and must be unique.
    """


@hookspec
@_registers(Strategy)
def ftgui_register_strategies(register: Callable[[object], None]) -> None:
    """Register fine-tuning strategies.

    Call ``register(strategy)`` with an instance of :class:`ftgui.Strategy` for each
    strategy. Its ``name`` is what users type (``--strategy NAME``) and must be unique.
    """


@hookspec
@_registers(Callback)
def ftgui_register_callbacks(register: Callable[[object], None]) -> None:
    """Register training callbacks.

    Call ``register(callback)`` with an instance of :class:`ftgui.Callback` for each
    callback. Its ``name`` is what users type (``--callback NAME``) and must be unique.
    """
