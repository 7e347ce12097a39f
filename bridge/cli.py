"""The `bridge` command line: one entry point, one module per subcommand.

Each module in `bridge.commands` defines `NAME`, `HELP`, `add_arguments(parser)` and
`run(args) -> int`. Heavy imports (NEURON, torch) happen inside `run`, so `bridge --help`
stays fast and a subcommand never pays for another's dependencies.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Order is the order shown in --help: the data flow of the project.
COMMANDS = ("validate", "compare", "characterize", "fit", "train", "demo")


from dendritic_errors import InputError as UserError  # noqa: E402  (one error type for bad input)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="From detailed pyramidal cells (NEURON, Brian2) to trainable dendritic units (PyTorch).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"bridge.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
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
    try:
        return int(args._module.run(args) or 0)
    except UserError as err:
        print(f"bridge {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bridge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
