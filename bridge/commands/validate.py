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
  bridge validate l5pc --fast --recipe my_l5.recipe.json        # a recipe from `bridge adapt`
  bridge validate l5pc --fast --morphology my_l5.swc --adapt --adapt-output my_l5.recipe.json

--recipe FILE validates the adapted recipe, on FILE's morphology unless --morphology is
given (a warning if that is not the tree it was adapted on). --adapt validates, and if a
target fails runs `bridge adapt` on the same tree (writing --adapt-output) and validates
the adapted cell; the exit status is the adapted cell's.
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
    parser.add_argument("--overwrite", action="store_true", help="let --markdown / --adapt-output replace an existing file")
    parser.add_argument("--recipe", metavar="RECIPE.json", help="an adapted recipe (bridge adapt) instead of the cell's own")
    parser.add_argument("--adapt", action="store_true", help="if a target fails, adapt the recipe to the morphology "
                        "(bridge adapt) and validate again")
    parser.add_argument("--adapt-output", metavar="RECIPE.json",
                        help="with --adapt: where the adapted recipe goes (default: MORPHOLOGY-STEM.CELL.recipe.json)")
    from cells.adapt import AdaptSettings
    from bridge.commands.adapt import add_optimizer_arguments

    group = parser.add_argument_group("with --adapt")
    add_optimizer_arguments(group, AdaptSettings())


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


def adapt_output(args) -> str:
    if args.adapt_output:
        return args.adapt_output
    stem = os.path.splitext(os.path.basename(args.morphology))[0] if args.morphology else "builtin"
    return f"{stem}.{args.cell}.recipe.json"


def recipe_and_morphology(args):
    """(recipe or None, morphology) for --recipe: the file's tree unless --morphology is given."""
    import warnings

    from cells import load_morphology
    from cells.adapt import read_adapted
    from dendritic_errors import InputError, InputWarning

    if not args.recipe:
        return None, args.morphology
    adapted = read_adapted(args.recipe)
    if adapted.cell != args.cell:
        raise InputError(f"--recipe {args.recipe}: adapted for {adapted.cell}, not {args.cell}")
    morphology = args.morphology
    if morphology is None:
        source = adapted.morphology_source
        if source.startswith("builtin:"):
            seed = int(source.split("seed=")[1]) if "seed=" in source else 0
            morphology = load_morphology(args.cell, None, seed)
        elif os.path.isfile(source):
            morphology = source
        else:
            raise InputError(f"--recipe {args.recipe}: its morphology {source} is not here; pass --morphology")
    morphology = load_morphology(args.cell, morphology)      # loaded once, validated as it is
    sha = morphology.sha256
    if sha != adapted.morphology_sha256:
        warnings.warn(f"--recipe {args.recipe} was adapted on another tree ({adapted.morphology_source}, sha256 "
                      f"{adapted.morphology_sha256[:12]}); validating it on sha256 {sha[:12]}", InputWarning)
    return adapted.recipe, morphology


def run(args) -> int:
    from dendritic_errors import InputError

    if args.recipe and args.adapt:
        raise InputError("--recipe and --adapt exclude each other (adapt starts from the cell's own recipe)")
    if args.adapt and args.protocols:
        raise InputError("--adapt validates every protocol; drop --protocols")
    if args.markdown:   # before anything is simulated
        from bridge.io import check_output

        check_output(args.markdown, args.overwrite, option="--markdown")
    if args.adapt:
        from bridge.commands.adapt import settings_from
        from bridge.io import check_output

        check_output(adapt_output(args), args.overwrite, option="--adapt-output")
        settings = settings_from(args)
    from cells import get_cell_type
    from cells.validation import protocol_plan, validate

    get_cell_type(args.cell)                      # InputError naming the known types
    protocols = None
    if args.protocols:
        protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
        unknown = set(protocols) - set(protocol_plan(args.cell))
        if unknown:
            raise InputError(f"unknown protocol(s) {', '.join(sorted(unknown))} for {args.cell}: "
                             f"choose from {', '.join(protocol_plan(args.cell))}")
    recipe, morphology = recipe_and_morphology(args)

    def progress(name):
        print(f"  running {name} ...", file=sys.stderr, flush=True)

    report = validate(args.cell, morphology=morphology, simulator=args.simulator,
                      fast=args.fast, protocols=protocols, progress=progress, recipe=recipe)
    print(report.table())
    if args.adapt and not report.passed:
        from bridge.commands.adapt import adapt_and_validate, summary

        output = adapt_output(args)
        print(f"{sum(not r.passed for r in report.rows)} target(s) failed: adapting the recipe to this tree "
              f"(writing {output})", flush=True)
        document, report = adapt_and_validate(args.cell, morphology, output, args.simulator, settings,
                                              workers=args.workers, scheduler=args.scheduler, fast=args.fast)
        print(summary(document, report))
        print(f"wrote {output}")
    print("sources:")
    print(report.sources())
    if args.markdown:
        write_markdown(markdown_table(report, fast=args.fast, protocols=protocols), args.markdown)
        print(f"wrote {args.markdown}")
    return 0 if report.passed else 1
