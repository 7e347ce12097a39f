"""Strict SWC reader.

Format: one sample per line, `id type x y z radius parent` (um), `#` starts a comment,
blank lines are skipped, parent -1 marks the (single) root. Parents may appear after
their children. SWC types: 1 soma, 2 axon, 3 basal, 4 apical; 0 and types >= 5 take the
type of their parent, except off the soma, where there is nothing to inherit (refused).
The root must be a soma sample, and every soma sample must be connected to the root
through soma samples: a second root or a second soma group is refused, not guessed at
(joining trees would invent geometry). docs/cells.md has the table of file kinds.

Any problem raises SWCError("{path}:{line}: {what is wrong}") (or "{path}: ..." when no
line is to blame), which the command line prints as one line. What the reader changes
(contour soma, dendrites moved off the axon; see assemble.py) is in
`Morphology.warnings` and is also issued as a `MorphologyWarning`, which the command
line prints as one line "bridge CMD: warning: ...".

Why our own parser and not MorphIO (the field's standard reader, which also reads
Neurolucida .asc and .h5): this parser already gives every outcome in the table a
defined one-line result with the file and line; adopting MorphIO would mean mapping each
of its errors, warnings and repairs onto that table and testing it again, which did not
fit this change. So only SWC is read; convert .asc/.h5 reconstructions to SWC first
(NeuroMorpho.org serves a standardised SWC of each of its cells).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import warnings
from pathlib import Path

import numpy as np

from dendritic_errors import InputError, InputWarning
from .assemble import build_morphology
from .tree import Morphology


class SWCError(InputError):
    """Malformed or unusable SWC file; the message is `path:line: problem`."""


class MorphologyWarning(InputWarning):
    """The reader accepted a file but changed something; the message is `path:line: what`."""


def _integer(text: str, what: str, where: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise SWCError(f"{where}: {what} {text!r} is not a number") from None
    if not value.is_integer():
        raise SWCError(f"{where}: {what} {text!r} is not an integer")
    return int(value)


def _real(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SWCError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SWCError(f"{where}: {what} {text!r} is not finite")
    return value


def parse_swc(text: str, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse and validate SWC text. Returns (kinds, xyzr, parent index, line numbers):
    samples in file order, `kinds` resolved to 1..4, `parent` -1 for the root."""
    rows = text.splitlines()
    try:
        return _parse(rows, path)
    except SWCError as err:
        # a bad last line without a line end: the file was probably cut short
        if rows and not text.endswith(("\n", "\r")) and str(err).startswith(f"{path}:{len(rows)}: "):
            raise SWCError(f"{err} (the file ends inside this line: truncated?)") from None
        raise


def _parse(rows: list[str], path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids, types, xyzr, parents, lines = [], [], [], [], []
    line_of: dict[int, int] = {}
    root_line = None
    for lineno, raw in enumerate(rows, start=1):
        body = raw.split("#", 1)[0].strip()
        if not body:
            continue
        where = f"{path}:{lineno}"
        cols = body.split()
        if len(cols) != 7:
            raise SWCError(f"{where}: expected 7 columns (id type x y z radius parent), got {len(cols)}")
        sid = _integer(cols[0], "sample id", where)
        stype = _integer(cols[1], "type", where)
        x, y, z, r = (_real(c, name, where) for c, name in zip(cols[2:6], ("x", "y", "z", "radius")))
        par = _integer(cols[6], "parent id", where)
        if sid < 0:
            raise SWCError(f"{where}: sample id {sid} is negative")
        if stype < 0:
            raise SWCError(f"{where}: type {stype} is negative")
        if r <= 0:
            raise SWCError(f"{where}: radius {cols[5]} must be positive")
        if sid in line_of:
            raise SWCError(f"{where}: duplicate sample id {sid} (first on line {line_of[sid]})")
        if par == -1:
            if root_line is not None:
                raise SWCError(f"{where}: second root (parent -1); the first is on line {root_line} "
                               "(one tree per file: join the trees or remove the stray samples)")
            root_line = lineno
        line_of[sid] = lineno
        ids.append(sid)
        types.append(stype)
        xyzr.append((x, y, z, r))
        parents.append(par)
        lines.append(lineno)
    if not ids:
        raise SWCError(f"{path}: no samples")

    index = {sid: i for i, sid in enumerate(ids)}
    parent = np.full(len(ids), -1, dtype=int)
    for i, par in enumerate(parents):
        if par == -1:
            continue
        if par not in index:
            raise SWCError(f"{path}:{lines[i]}: parent id {par} of sample {ids[i]} is not in the file")
        parent[i] = index[par]

    # Reachability from the root; anything unreached hangs off a cycle.
    children: list[list[int]] = [[] for _ in ids]
    for i, p in enumerate(parent):
        if p >= 0:
            children[p].append(i)
    order: list[int] = []
    if root_line is not None:
        stack = [int(np.flatnonzero(parent < 0)[0])]
        while stack:
            s = stack.pop()
            order.append(s)
            stack.extend(children[s])
    if len(order) < len(ids):
        reached = set(order)
        s = next(i for i in range(len(ids)) if i not in reached)
        seen: list[int] = []
        while s not in seen:
            seen.append(s)
            s = int(parent[s])
        cycle = seen[seen.index(s):]
        first = min(cycle, key=lambda i: lines[i])
        members = ", ".join(str(ids[i]) for i in sorted(cycle, key=lambda i: lines[i]))
        raise SWCError(f"{path}:{lines[first]}: cycle in parent links (samples {members})")

    kinds = np.array(types, dtype=int)
    if not np.any(kinds == 1):
        found = ", ".join(str(t) for t in sorted(set(types)))
        raise SWCError(f"{path}: no soma sample (type 1); types in the file: {found}")
    root = order[0]
    if kinds[root] != 1:
        raise SWCError(f"{path}:{lines[root]}: the root sample has type {kinds[root]}; "
                       "it must be a soma sample (type 1)")
    for s in order[1:]:                     # parents first: resolve custom types
        p = parent[s]
        if kinds[s] == 1 and kinds[p] != 1:
            raise SWCError(f"{path}:{lines[s]}: soma sample {ids[s]} is attached to a non-soma sample "
                           f"(type {kinds[p]}): the soma samples must form one connected group")
        if kinds[s] == 0 or kinds[s] >= 5:
            if kinds[p] == 1:   # inheriting would make it soma
                raise SWCError(f"{path}:{lines[s]}: sample {ids[s]} has type {kinds[s]} and hangs off "
                               "the soma, so it has no type to inherit; give it 2 (axon), 3 (basal) "
                               "or 4 (apical)")
            kinds[s] = kinds[p]
    return kinds, np.array(xyzr, dtype=float), parent, np.array(lines)


def read_swc(path: str | Path) -> Morphology:
    """Read an SWC file into a Morphology named after the file stem."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise SWCError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise SWCError(f"{path}: is a directory, not an SWC file") from None
    except OSError as exc:
        raise SWCError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")   # tolerate a byte-order mark
    except UnicodeDecodeError:
        raise SWCError(f"{path}: not a UTF-8 text file") from None
    kinds, xyzr, parent, lines = parse_swc(text, str(path))
    morph = build_morphology(name=p.stem, source=str(path), sha256=hashlib.sha256(data).hexdigest(),
                             kinds=kinds, xyzr=xyzr, parent=parent, lines=lines)
    # source is the resolved path; the warnings name the file as the caller gave it
    for message in morph.warnings:
        warnings.warn(message, MorphologyWarning, stacklevel=2)
    return dataclasses.replace(morph, source=str(p.resolve()))
