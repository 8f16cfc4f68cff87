"""precex deployed the way catalog workflows are: `snakedeploy deploy-workflow` from a clone,
then a plain `snakemake` run on the user's own config (slow; run in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def test_snakedeploy_deploy_workflow_then_a_run_on_a_users_config(tmp_path):
    source = tmp_path / "precex"
    _run(["git", "clone", "--quiet", str(REPO), str(source)], tmp_path)
    # a tagged release, as users deploy catalog workflows (the clone's own tags when present)
    tags = _run(["git", "tag", "--list", "v[0-9]*", "--points-at", "HEAD"], source).stdout
    tag = tags.split()[0] if tags.split() else "v9.9.9"
    if not tags.split():
        _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "tag", "-a", tag, "-m", tag],
             source)
    deployment = tmp_path / "deployment"
    _run([str(Path(sys.executable).with_name("snakedeploy")), "deploy-workflow", str(source),
          str(deployment), "--tag", tag, "--name", "precex"], tmp_path)
    snakefile = deployment / "workflow" / "Snakefile"
    text = snakefile.read_text()
    assert "module precex:" in text and "use rule * from precex" in text
    assert (deployment / "config" / "README.md").is_file()
    # the deployed config is a template to fill in, not the demo's (issue 42), and a run on
    # it unfilled stops on its config, naming the key
    template = (deployment / "config" / "config.yaml").read_text()
    assert "YYYY-MM-DD" in template and "resources/demo" not in template
    # snakedeploy's local provider writes the module's path relative to the source repository,
    # while Snakemake reads it relative to the deployment; from GitHub it writes github(...).
    snakefile.write_text(text.replace('"workflow/Snakefile"',
                                      f'"{source / "workflow" / "Snakefile"}"'))

    # The user's data in a folder of the deployment, and their own config.
    _run([sys.executable, "-m", "precex.cli", "demo", "--patients", "12", "--seed", "5",
          "--out", str(deployment / "data")], tmp_path)
    demo = yaml.safe_load((deployment / "data" / "config.yaml").read_text())
    config = {key: ([f"data/{v}" for v in value] if isinstance(value, list) else
                    f"data/{value}" if (deployment / "data" / str(value)).is_file() else value)
              for key, value in demo.items()}
    (deployment / "config" / "config.yaml").write_text(yaml.safe_dump(config))

    _run([sys.executable, "-m", "snakemake", "--cores", "2", "--quiet"], deployment)
    results = deployment / "results"
    sheet = pd.read_csv(deployment / "data" / "patients.tsv", sep="\t", dtype=str)
    prescribed = pd.read_csv(results / "prescriptions" / "prescriptions.tsv", sep="\t",
                             dtype=str)["patient_id"]
    excluded = pd.read_csv(results / "exclusions.tsv", sep="\t", dtype=str)["patient_id"]
    assert set(prescribed) | set(excluded) == set(sheet["patient_id"]) and len(prescribed)
    for pid in prescribed:
        assert (results / "reports" / f"{pid}.html").is_file()
        assert (results / "prescriptions" / f"{pid}.fhir.json").is_file()
    assert (results / "reports" / "cohort.html").is_file()
    # the module read the user's 12 patients, not the bundled demo's 30
    assert len(sheet) == 12 and len(set(prescribed) | set(excluded)) == 12
