"""The one error type users see: a clear message, shown without a traceback by the CLI and
the editor alike. Each phase raises a subclass named for what went wrong."""


class MlrError(Exception):
    """An expected failure with a message meant for the user."""
