"""An upgrade reruns what it changes (issue 43): a finished demo run in a copy of the workflow,
then one engine module and one reference file changed in that copy. Only the stages whose code
or reference data changed run again (with the batch merges and reports that read their
outputs); no other modality, the sheet check or the report provenance runs; provenance.json
shows the new digests of exactly the changed stages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "resources", "envs")


def snakemake(copy: Path, cwd: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile",
                             str(copy / "Snakefile"), "--cores", "2", *args], cwd=cwd,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def rules_run(log: str) -> set[str]:
    return set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", log, re.MULTILINE))


def test_an_upgrade_reruns_the_stages_whose_code_or_reference_data_changed(tmp_path):
    copy = tmp_path / "precex"
    copy.mkdir()
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, copy / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, copy / part)
    batch = tmp_path / "batch"
    batch.mkdir()
    snakemake(copy, batch)
    before = json.loads((batch / "results/provenance.json").read_text())
    assert "Nothing to be done" in snakemake(copy, batch, "-n")

    # the upgrade: an engine module and the microbiome's guild table change (neither changes
    # a result: a comment, and a blank line pandas skips)
    engine = copy / "workflow/precex/prescription/engine.py"
    engine.write_text(engine.read_text() + "\n# precex 0.2: the engine changed\n")
    guilds = copy / "resources/microbiome/guilds.tsv"
    guilds.write_text(guilds.read_text() + "\n")
    log = snakemake(copy, batch)

    ran = rules_run(log)
    assert {"microbiome", "prescribe_shard", "collect_prescriptions", "adapt_shard"} <= ran, ran
    untouched = {"validate", "clinical", "blood", "epigenetics", "genetics", "wearables",
                 "report_provenance"}
    assert not ran & untouched, ran & untouched
    assert re.search(r"reason: .*[Pp]arams have changed", log), log[-3000:]

    after = json.loads((batch / "results/provenance.json").read_text())
    old, new = before["stage_code_digests"], after["stage_code_digests"]
    changed = {stage for stage in new if new[stage] != old[stage]}
    assert {"microbiome", "prescribe_shard", "collect_prescriptions", "adapt_shard",
            "split_followup"} <= changed
    assert not changed & untouched, changed & untouched
    assert after["inputs"] == before["inputs"] and after["config"] == before["config"]
