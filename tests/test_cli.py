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
