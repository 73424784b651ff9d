"""The one exception type of the losslab command.

A ``CliError`` carries a one-line message that says what is wrong and how to
fix it; ``losslab.cli.main`` prints it as ``losslab <cmd>: error: <message>``
and exits with status 2 (no traceback).
"""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """Bad input to the command line tool; ``str(err)`` is the one-line message."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split("\n")))

    @property
    def message(self) -> str:
        return self.args[0]
