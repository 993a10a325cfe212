"""Hook specifications: the only ways a plugin can extend ftgui.

Both hooks follow the register-callback pattern: ftgui calls the hook with a ``register``
function, and the plugin calls ``register(obj)`` once for each thing it provides. ftgui
validates every object as it is registered and remembers which plugin registered it.
"""
from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("ftgui")


@hookspec
def ftgui_register_initializers(register: Callable[[object], None]) -> None:
    """Register weight initialisers.

    Call ``register(initializer)`` with an instance of :class:`ftgui.Initializer` for each
    initialiser. Its ``name`` is what users type (``--init NAME``) and must be unique.
    """


@hookspec
def ftgui_register_strategies(register: Callable[[object], None]) -> None:
    """Register fine-tuning strategies.

    Call ``register(strategy)`` with an instance of :class:`ftgui.Strategy` for each
    strategy. Its ``name`` is what users type (``--strategy NAME``) and must be unique.
    """
