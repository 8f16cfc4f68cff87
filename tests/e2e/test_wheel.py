"""A plain (non-editable) wheel install runs the workflow from any directory."""

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_wheel_carries_the_workflow_and_runs_from_any_directory(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(wheel_dir), str(REPO)], check=True)
    wheel = next(wheel_dir.glob("precex-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True)
    # The dependencies come from this environment's site-packages (a PYTHONPATH entry, whose
    # .pth files, such as an editable precex, are not processed); precex is the wheel's.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"],
           "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    where = subprocess.run([str(python), "-c", "import precex.paths as p; "
                            "print(p.__file__); print(p.workflow_root())"],
                           capture_output=True, text=True, check=True, env=env).stdout.split()
    assert where[0].startswith(str(env_dir)) and where[1].endswith("_workflow")
    work = tmp_path / "elsewhere"
    work.mkdir()
    # an installed precex never runs the demo by accident: without a config it stops, saying
    # how to run the demo on purpose (issue 42)
    refused = subprocess.run([str(env_dir / "bin" / "precex"), "run", "--cores", "2"], cwd=work,
                             capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "precex run --demo" in refused.stderr
    assert not (work / "results").exists()
    result = subprocess.run([str(env_dir / "bin" / "precex"), "run", "--demo", "--cores", "2",
                             "--quiet"], cwd=work, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "results/prescriptions/prescriptions.tsv").exists()
    assert (work / "results/reports/cohort.html").exists()
    assert len(list((work / "results/reports").glob("P*.html"))) == 30
