"""The command line: help, and bad input as one clear line with a non-zero exit."""
import subprocess
import sys

import pytest

from bridge.cli import main


def test_help_lists_validate(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "validate" in capsys.readouterr().out


def test_unknown_cell_is_one_line(capsys):
    assert main(["validate", "purkinje"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown cell 'purkinje'" in err


def test_malformed_swc_names_file_and_line(tmp_path):
    swc = tmp_path / "bad.swc"
    swc.write_text("# a cell\n1 1 0 0 0 10 -1\n2 3 0 -10 0 1 1\n3 3 0 -20 0 -1 2\n")
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "validate", "l5pc", "--morphology", str(swc)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0
    assert f"{swc}:4:" in err and "radius" in err


def test_unknown_protocol(capsys):
    assert main(["validate", "l5pc", "--protocols", "bap,nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end_small(tmp_path):
    """The main job with tiny settings: every step writes its output, the report names them,
    and a second run reuses the characterization instead of recomputing it."""
    from bridge.cli import main

    out = tmp_path / "demo"
    args = ["demo", "-o", str(out), "--quick", "--dataset", "synthetic", "--no-progress"]
    assert main(args) == 0
    for name in ("l5pc.nc", "units.nc", "train_fitted.nc", "train_leaky_relu.nc", "report.md",
                 "figures/learning_curves.png", "figures/morphology_types.png", "figures/fit/integration_by_type.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "synthetic image task" in report and "fitted units" in report and "simulations in" in report
    assert "Quick settings" in report
    from bridge.schema import open_characterization

    groups = open_characterization(out / "l5pc.nc")            # --quick's sizes reached the protocols
    assert groups["fi"].sizes["current_nA"] == 2 and groups["integration"].sizes["n_synapses"] == 8
    stamp = (out / "l5pc.nc").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "l5pc.nc").stat().st_mtime_ns == stamp
    assert "simulations in" not in (out / "report.md").read_text()   # nothing was simulated again
    # `bridge fit` on the real characterization the demo wrote: a units file PyTorch reads
    import numpy as np
    import torch

    from bridge.nn import DendriticLayer
    from bridge.schema import open_units

    units_path = tmp_path / "units.nc"
    assert main(["fit", str(out / "l5pc.nc"), "-o", str(units_path), "--skip-bad"]) == 0
    u = open_units(units_path)
    assert u.attrs["cell"] == "l5pc" and u.attrs["simulator"] == "neuron"
    assert u.sizes["branch"] >= 1 and np.all(u["r2"].values > 0.9)
    assert np.all(np.isfinite(u["two_layer_variance_explained_train"].sel(target="soma_peak_mV").values))
    layer = DendriticLayer.from_units(units_path, 16, 2, 2, 4, branch_type=str(u["branch_type"].values[0]))
    assert torch.all(torch.isfinite(layer(torch.rand(3, 16))))


def test_demo_sizes_full_quick_and_explicit():
    """--quick swaps the defaults for tiny ones; an explicit option wins either way."""
    from bridge.characterize.protocols import Settings
    from bridge.cli import build_parser
    from bridge.commands import demo

    def sizes(*argv):
        args = build_parser().parse_args(["demo", *argv])
        demo._sizes(args)
        return args

    full, quick, mixed = sizes(), sizes("--quick"), sizes("--quick", "--synapses", "12")
    assert (full.branches, full.synapses, full.patterns, full.epochs) == (4, 30, 500, 3)
    assert full.pattern_branches == Settings.pattern_branches
    assert {k: getattr(quick, k) for k in demo.QUICK} == demo.QUICK
    assert mixed.synapses == 12 and mixed.branches == demo.QUICK["branches"]
    s = demo._settings(quick)
    assert s.fi_currents_nA == (0.8, 1.4) and s.fi_step_ms == demo.QUICK_FI_STEP_MS and s.passive_sites_per_type == 1
    assert demo._settings(full).fi_currents_nA is None and demo._settings(full).passive_sites_per_type == 2


def test_demo_rejects_bad_settings(tmp_path, capsys):
    from bridge.cli import main

    assert main(["demo", "-o", str(tmp_path / "d"), "--branches", "0"]) == 2
    assert "--branches must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def _fake_report():
    """Shaped like cells.validation.Report / Row (duck-typed, so no cell code is imported)."""
    from types import SimpleNamespace

    def Row(feature, target, measured, passed, source, unit):
        return SimpleNamespace(feature=feature, target=target, measured=measured, passed=passed,
                               source=source, unit=unit)

    def Report(**kw):
        return SimpleNamespace(**kw)

    rows = [Row("bAP amplitude at 660 um", "45 ± 10", 46.2, True, "Hay et al. 2011 | Fig. 2", "mV"),
            Row("abolished by NMDA block", "yes", 0.0, False, "Schiller et al. 2000", "bool")]
    return Report(cell="l5pc", morphology="built-in morphology", simulator="neuron", rows=rows, seconds=187.4)


def test_validate_markdown_table():
    from bridge.commands.validate import markdown_table

    text = markdown_table(_fake_report(), date="2026-12-01", fast=True)
    lines = text.splitlines()
    assert lines[0].startswith("### l5pc on built-in morphology (neuron)")
    for want in ("- date: 2026-12-01", "- wall time: 187 s (`--fast`)", "- simulator: neuron",
                 "- result: 1 passed, 1 failed", "| feature | target | measured | result | source |"):
        assert want in lines, want
    assert "| bAP amplitude at 660 um | 45 ± 10 | 46.2 mV | pass | Hay et al. 2011 \\| Fig. 2 |" in lines
    assert "| abolished by NMDA block | yes | no | **FAIL** | Schiller et al. 2000 |" in lines


def test_validate_markdown_refuses_existing_file(tmp_path, capsys):
    existing = tmp_path / "v.md"
    existing.write_text("keep me\n")
    assert main(["validate", "l5pc", "--markdown", str(existing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--overwrite" in err and "exists" in err
    assert existing.read_text() == "keep me\n"
    from bridge.io import check_output

    check_output(str(existing), overwrite=True, option="--markdown")   # allowed with --overwrite
    assert main(["validate", "l5pc", "--markdown", str(tmp_path / "no" / "v.md")]) == 2


def test_every_subcommand_is_registered():
    from bridge.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


# --- exit status: 0 success, 1 a check failed, 2 bad input, 3 internal error, 130 interrupted ---

def _break_fit(monkeypatch, exc):
    import bridge.commands.fit as fit_cmd

    def boom(args):
        raise exc
    monkeypatch.setattr(fit_cmd, "run", boom)


def test_internal_error_is_one_line_exit_3(monkeypatch, capsys, tmp_path):
    _break_fit(monkeypatch, RuntimeError("the flux capacitor\nsecond line"))
    assert main(["fit", str(tmp_path / "c.nc"), "-o", str(tmp_path / "u.nc")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("bridge fit: internal error: RuntimeError: the flux capacitor")
    assert "--debug" in err and "second line" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_prints_the_traceback(monkeypatch, capsys, tmp_path, where):
    _break_fit(monkeypatch, RuntimeError("the flux capacitor"))
    rest = ["fit", str(tmp_path / "c.nc"), "-o", str(tmp_path / "u.nc")]
    argv = ["--debug", *rest] if where == "before" else [*rest, "--debug"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in boom" in err
    assert err.strip().splitlines()[-1] == "bridge fit: internal error: RuntimeError: the flux capacitor"


def test_debug_after_subcommand_does_not_unset_global_flag():
    from bridge.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--debug", "fit", "c.nc", "-o", "u.nc"]).debug is True
    assert parser.parse_args(["fit", "c.nc", "-o", "u.nc", "--debug"]).debug is True
    assert parser.parse_args(["fit", "c.nc", "-o", "u.nc"]).debug is False


def test_input_error_stays_exit_2_and_interrupt_130(monkeypatch, capsys, tmp_path):
    from dendritic_errors import InputError

    argv = ["fit", str(tmp_path / "c.nc"), "-o", str(tmp_path / "u.nc")]
    _break_fit(monkeypatch, InputError("c.nc: no such characterization file"))
    assert main(argv) == 2
    assert capsys.readouterr().err == "bridge fit: error: c.nc: no such characterization file\n"
    _break_fit(monkeypatch, KeyboardInterrupt())
    assert main(argv) == 130


def test_internal_error_exit_3_from_a_fresh_process(tmp_path):
    """Through a real process and sys.exit, not only main()'s return value: the command is
    broken on purpose (a bug, not bad input)."""
    code = ("import sys, bridge.commands.fit as f\n"
            "def boom(args): raise ZeroDivisionError('division by zero')\n"
            "f.run = boom\n"
            "from bridge.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    argv = [sys.executable, "-c", code, "fit", "c.nc", "-o", str(tmp_path / "u.nc")]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.strip() == ("bridge fit: internal error: ZeroDivisionError: division by zero "
                                   "(run with --debug for the traceback)")
    proc = subprocess.run(argv + ["--debug"], capture_output=True, text=True)
    assert proc.returncode == 3 and "Traceback" in proc.stderr


def test_validate_exits_1_on_a_failed_target(monkeypatch, capsys):
    import cells.validation

    report = _fake_report()
    report.passed = False
    report.table = lambda: "table"
    report.sources = lambda: "sources"
    monkeypatch.setattr(cells.validation, "validate", lambda *a, **k: report)
    assert main(["validate", "l5pc"]) == 1
    report.passed = True
    assert main(["validate", "l5pc"]) == 0


def test_compare_exits_1_on_a_tolerance_miss(monkeypatch, capsys):
    from types import SimpleNamespace

    import cells.equivalence

    rows = [SimpleNamespace(passed=True), SimpleNamespace(passed=False)]
    monkeypatch.setattr(cells.equivalence, "compare", lambda *a, **k: (rows, {"neuron": 1.0, "brian2": 2.0}))
    monkeypatch.setattr(cells.equivalence, "table", lambda rows: "table")
    assert main(["compare", "l5pc"]) == 1
    rows.pop()
    assert main(["compare", "l5pc"]) == 0
