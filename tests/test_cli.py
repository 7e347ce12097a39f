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
    args = ["demo", "-o", str(out), "--branches", "1", "--synapses", "8", "--patterns", "40",
            "--epochs", "1", "--dataset", "synthetic", "--no-progress"]
    assert main(args) == 0
    for name in ("l5pc.nc", "units.nc", "train_fitted.nc", "train_leaky_relu.nc", "report.md",
                 "figures/learning_curves.png", "figures/morphology_types.png", "figures/fit/integration_by_type.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "synthetic image task" in report and "fitted units" in report and "simulations in" in report
    stamp = (out / "l5pc.nc").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "l5pc.nc").stat().st_mtime_ns == stamp
    assert "simulations in" not in (out / "report.md").read_text()   # nothing was simulated again


def test_demo_rejects_bad_settings(tmp_path, capsys):
    from bridge.cli import main

    assert main(["demo", "-o", str(tmp_path / "d"), "--branches", "0"]) == 2
    assert "--branches must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
