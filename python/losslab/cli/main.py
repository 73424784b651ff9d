"""The ``losslab`` command: argument parsing and error handling.

Each subcommand lives in ``losslab/cli/cmd_<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``; a module may set
``ACCEPTS_EXTRA = True`` to receive unrecognised ``--name value`` options in
``args.extra`` (``eval`` uses it for loss parameters). A missing module is
skipped, so the command works while parts are being written.

Exit status: 0 success; 2 bad input (one line ``losslab <cmd>: error: ...``
on stderr, no traceback; argparse's usage errors too; also a file that
cannot be read or written); 130 interrupted
(Ctrl-C; finished results are kept). ``LOSSLAB_DEBUG=1`` re-raises errors
with their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import CliError

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = ("list", "explain", "eval", "train", "compare", "recommend", "landscape", "plot")


def _load_commands() -> dict:
    modules = {}
    for name in COMMANDS:
        modname = f"losslab.cli.cmd_{name}"
        try:
            modules[name] = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
    return modules


def build_parser(modules=None):
    """(parser, {command: module})."""
    modules = _load_commands() if modules is None else modules
    try:
        from losslab import __version__
    except Exception:  # pragma: no cover - the extension is missing
        __version__ = "?"
    parser = argparse.ArgumentParser(
        prog="losslab",
        description="Pick the right loss for your data: describe, evaluate, train, compare and visualize "
        "losslab's losses. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"losslab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if name in modules:
            modules[name].add_parser(sub)
    return parser, modules


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _message(err: BaseException) -> str:
    if isinstance(err, FileNotFoundError):
        name = err.filename or ""
        return _one_line(f"{name}: no such file; check the path" if name else str(err))
    if isinstance(err, OSError) and err.strerror:
        where = f"{err.filename}: " if err.filename else ""
        return _one_line(f"{where}{err.strerror}; check the path and its permissions")
    return _one_line(err) or type(err).__name__


def main(argv=None) -> int:
    """Runs the command line ``argv`` (default sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, modules = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        cmd = args.command
        if cmd is None:
            parser.print_help(sys.stderr)
            return 2
        module = modules[cmd]
        if extra and not getattr(module, "ACCEPTS_EXTRA", False):
            parser.parse_args(argv)  # reports the unrecognized arguments, exit 2
        args.extra = extra
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    debug = os.environ.get("LOSSLAB_DEBUG") == "1"
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"losslab {cmd}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `losslab list | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except (CliError, OSError, ValueError, TypeError) as e:
        if debug:
            raise
        print(f"losslab {cmd}: error: {_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
