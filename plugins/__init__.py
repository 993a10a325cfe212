"""ftgui's bundled plugins. Installed as ``ftgui.bundled_plugins``; each module is an
ordinary plugin, loaded through the same registry as a third-party one."""
