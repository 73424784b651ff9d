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
import difflib
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


class _ArgumentError(Exception):
    """An argparse usage error, raised instead of printing usage + exiting."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog
        self.message = message


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors become ONE line (the issue asks for a
    one-line error naming the fix, exit 2, for an unknown option too): main()
    prints ``<prog>: error: <message>; see `<prog> --help` `` instead of
    argparse's usage block. Subparsers inherit the class."""

    def error(self, message):
        raise _ArgumentError(self.prog, message)


def _closest_options(parser, unknown: list) -> str:
    """' (did you mean --x?)' for unknown --options close to a known one."""
    known = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    hints = []
    for tok in unknown:
        if tok.startswith("--"):
            m = difflib.get_close_matches(tok.split("=", 1)[0], known, n=1, cutoff=0.75)
            if m:
                hints.append(m[0])
    return f" (did you mean {' / '.join(hints)}?)" if hints else ""


def build_parser(modules=None):
    """(parser, {command: module})."""
    modules = _load_commands() if modules is None else modules
    try:
        from losslab import __version__
    except Exception:  # pragma: no cover - the extension is missing
        __version__ = "?"
    parser = _Parser(
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


def _subparser(parser, name):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


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
            sub = _subparser(parser, cmd)
            raise _ArgumentError(
                f"losslab {cmd}",
                f"unrecognized arguments: {' '.join(extra)}{_closest_options(sub, extra) if sub else ''}",
            )
        args.extra = extra
    except _ArgumentError as e:
        print(f"{e.prog}: error: {_one_line(e.message)}; see `{e.prog} --help`", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help / --version
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
