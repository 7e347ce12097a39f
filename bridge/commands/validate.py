"""Run a cell's validation protocols and compare them with published targets.

Prints one row per feature: the target (mean ± SD, or a range) and its source, the
measured value, pass/fail. With --markdown FILE the same table is also written as
Markdown (cell, morphology, simulator, date, wall time, then feature | target | measured |
result | source), so docs/validation.md can be made by the command itself.
Exit status 1 when any feature fails, 2 on bad input.

examples:
  bridge validate l5pc
  bridge validate ca1 --morphology ../shared/morphologies/ca1_n120.swc
  bridge validate l5pc --protocols bap,bac
  bridge validate l5pc --fast --simulator brian2
  bridge validate l5pc --fast --markdown docs/validation-l5pc.md --overwrite
"""
from __future__ import annotations

import datetime
import os
import sys

NAME = "validate"
HELP = "check a cell model against published dendritic physiology"


def add_arguments(parser) -> None:
    parser.add_argument("cell", help="cell model: l5pc or ca1")
    parser.add_argument("--morphology", metavar="FILE.swc", help="SWC reconstruction instead of the built-in morphology")
    parser.add_argument("--simulator", default="neuron", choices=["neuron", "brian2"],
                        help="simulator backend (default: neuron)")
    parser.add_argument("--protocols", help="comma-separated subset of protocols (default: all for this cell)")
    parser.add_argument("--fast", action="store_true", help="shorter protocols (as in the test suite)")
    parser.add_argument("--markdown", metavar="FILE.md", help="also write the table as Markdown to FILE.md")
    parser.add_argument("--overwrite", action="store_true", help="let --markdown replace an existing file")


def _measured(row) -> str:
    if row.unit == "bool":
        return "yes" if row.measured == 1.0 else "no"
    unit = f" {row.unit}" if row.unit and row.unit not in ("1", "") else ""
    return f"{row.measured:.3g}{unit}"


def _cell(text) -> str:
    """One Markdown table cell: pipes escaped, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(report, *, date: str | None = None, fast: bool = False, protocols=None) -> str:
    """The validation `report` (cells.validation.Report) as a Markdown section."""
    date = date or datetime.date.today().isoformat()
    n_fail = sum(not r.passed for r in report.rows)
    settings = "`--fast`" if fast else "full protocols"
    if protocols:
        settings += f", protocols {', '.join(protocols)}"
    lines = [f"### {report.cell} on {report.morphology} ({report.simulator})", "",
             f"- cell: `{report.cell}`",
             f"- morphology: {report.morphology}",
             f"- simulator: {report.simulator}",
             f"- date: {date}",
             f"- wall time: {report.seconds:.0f} s ({settings})",
             f"- result: {len(report.rows) - n_fail} passed, {n_fail} failed", "",
             "| feature | target | measured | result | source |",
             "|---|---|---|---|---|"]
    for r in report.rows:
        lines.append(f"| {_cell(r.feature)} | {_cell(r.target)} | {_cell(_measured(r))} | "
                     f"{'pass' if r.passed else '**FAIL**'} | {_cell(r.source)} |")
    return "\n".join(lines) + "\n"


def write_markdown(text: str, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def run(args) -> int:
    if args.markdown:   # before anything is simulated
        from bridge.io import check_output

        check_output(args.markdown, args.overwrite, option="--markdown")
    from cells import InputError, get_cell_type
    from cells.validation import protocol_plan, validate

    get_cell_type(args.cell)                      # InputError naming the known types
    protocols = None
    if args.protocols:
        protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
        unknown = set(protocols) - set(protocol_plan(args.cell))
        if unknown:
            raise InputError(f"unknown protocol(s) {', '.join(sorted(unknown))} for {args.cell}: "
                             f"choose from {', '.join(protocol_plan(args.cell))}")

    def progress(name):
        print(f"  running {name} ...", file=sys.stderr, flush=True)

    report = validate(args.cell, morphology=args.morphology, simulator=args.simulator,
                      fast=args.fast, protocols=protocols, progress=progress)
    print(report.table())
    print("sources:")
    print(report.sources())
    if args.markdown:
        write_markdown(markdown_table(report, fast=args.fast, protocols=protocols), args.markdown)
        print(f"wrote {args.markdown}")
    return 0 if report.passed else 1
