"""Example ftgui plugins (plugin API 2): one initialiser, one strategy and one callback.

Each module is found through its entry point in group ``ftgui`` (see pyproject.toml) and
implements one of ftgui's hooks. torch is imported inside the methods, so loading the plugins
(which ``ftgui --help`` and ``ftgui plugins`` do) stays fast.
"""
