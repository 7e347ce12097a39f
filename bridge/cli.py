"""The `bridge` command line: one entry point, one module per subcommand.

Each module in `bridge.commands` defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Heavy imports (NEURON, torch) happen inside `run`, so `bridge --help`
stays fast and a subcommand never pays for another's dependencies.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings

INTERNAL_ERROR = 3   # exit status of anything that is not bad input, a failed check or ^C

# Order is the order shown in --help: the data flow of the project.
COMMANDS = ("validate", "adapt", "compare", "characterize", "fit", "train", "demo")


from dendritic_errors import InputError as UserError  # noqa: E402  (one error type for bad input)
from dendritic_errors import InputWarning  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="From detailed pyramidal cells (NEURON, Brian2) to trainable dendritic units (PyTorch).",
        epilog="Exit status: 0 success; 1 a check failed (validation target, tolerance); 2 bad input or "
               "usage (one line naming what is wrong); 3 internal error (one line; --debug prints the "
               "traceback); 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    # --debug is also accepted after the subcommand; SUPPRESS keeps the subparser from
    # overwriting a --debug given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"bridge.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__, parents=[common],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(args.command, warnings.showwarning)
            return int(args._module.run(args) or 0)
    except UserError as err:
        print(f"bridge {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"bridge {args.command}: interrupted{_notes(err)}", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, or an environment failure nobody anticipated
        if debug:
            traceback.print_exc()
        print(f"bridge {args.command}: internal error: {type(err).__name__}: {_one_line(err)}"
              + ("" if debug else " (run with --debug for the traceback)"), file=sys.stderr)
        return INTERNAL_ERROR


def _show_warning(command: str, default):
    """Input warnings as one line each, like errors; any other warning as Python shows it."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, InputWarning):
            print(f"bridge {command}: warning: {_one_line(message)}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def _notes(err: BaseException) -> str:
    """Notes added on the way up (e.g. what a rerun resumes from), as '; note' each."""
    return "".join(f"; {n}" for n in getattr(err, "__notes__", ()))


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else "(no message)") + _notes(err)


if __name__ == "__main__":
    sys.exit(main())
