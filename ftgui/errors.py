"""The one exception type whose message is meant for the person using ftgui."""


class FtguiError(Exception):
    """A problem the user can fix; its message is one line that says what to do.

    The CLI prints it as ``ftgui: error: <message>`` without a traceback, the GUI shows it
    in place. Anything else escaping the engine is a bug.
    """
