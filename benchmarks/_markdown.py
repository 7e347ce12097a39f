"""Markdown output for the benchmark scripts: each writes its result table as one section
file under docs/benchmarks/ (or FILE given to --markdown), so docs/benchmarks.md is made
by the scripts, not copied by hand.

    .venv/bin/python benchmarks/fit_speed.py --markdown            # docs/benchmarks/fit_speed.md
    .venv/bin/python benchmarks/fit_speed.py --markdown /tmp/x.md  # elsewhere

A section names the script, the date, the command line and the machine (cores, load
average at the start), then the table. The file is replaced atomically on each run: it
holds the latest measurement; earlier figures stay in docs/benchmarks.md and CHANGELOG.md.
"""
from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "benchmarks")


def add_argument(parser, name: str) -> None:
    default = os.path.join(DOCS, f"{name}.md")
    parser.add_argument("--markdown", nargs="?", const=default, default=None, metavar="FILE",
                        help=f"also write the results as Markdown (default FILE: {os.path.relpath(default)})")


def machine() -> str:
    try:
        load = "load average %.2f" % os.getloadavg()[0]
    except OSError:
        load = "load average unknown"
    return f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, {load}"


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def write(path: str | None, title: str, lines: list[str], notes: list[str] = (), start_machine: str | None = None) -> None:
    """Write one section (title, date, command, machine, `lines`, `notes`) to `path`."""
    if not path:
        return
    script = os.path.basename(sys.argv[0])
    text = [f"### {title}", "",
            f"- date: {datetime.date.today().isoformat()}",
            f"- command: `{script} {shlex.join(sys.argv[1:])}`".rstrip(),
            f"- machine: {start_machine or machine()}", "", *lines]
    if notes:
        text += ["", *notes]
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write("\n".join(text) + "\n")
    os.replace(tmp, path)
    print(f"wrote {path}")
