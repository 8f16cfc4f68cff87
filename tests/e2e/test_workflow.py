"""End-to-end runs of the workflow on the bundled demo cohort (slow; run in CI)."""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from jsonschema import Draft202012Validator
from precex.prescription.fhir import validate_bundle

from .conftest import precex_run

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BLOCKING = {"sheet", "prescription"}




def per_patient_files(results: Path) -> list[str]:
    files = []
    for sub in ("profiles", "prescriptions", "reports", "handouts",
                "adaptations/prescriptions", "adaptations/reports"):
        files += [f"{sub}/{p.name}" for p in sorted((results / sub).glob("*"))
                  if p.is_file()]
    return files


def test_a_run_writes_patient_data_owner_only(demo_run):
    """Issue 39: prescriptions, reports, profiles, problem tables and logs of a run are
    readable by their owner only (precex run adds 077 to the umask of everything it starts)."""
    import stat

    checked = [p for p in demo_run.rglob("*") if p.is_file()]
    assert len(checked) > 100
    loose = [p for p in checked if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == [], loose[:5]


def test_every_demo_patient_has_outputs_or_an_exclusion(demo_run):
    sheet = pd.read_csv(REPO / "resources/demo/patients.tsv", sep="\t", dtype=str)
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    exclusions = pd.read_csv(demo_run / "exclusions.tsv", sep="\t", dtype=str)
    blocked = set(exclusions.loc[exclusions["stage"].isin(BLOCKING), "patient_id"])
    assert set(sheet["patient_id"]) == set(summary["patient_id"]) | blocked
    schema = yaml.safe_load((REPO / "workflow/schemas/prescription.schema.yaml").read_text())
    validator = Draft202012Validator(schema)
    for pid in summary["patient_id"]:
        profile = json.loads((demo_run / f"profiles/{pid}.json").read_text())
        assert set(profile["domains"]) >= {"inflammation", "haematology", "cardiac", "bone",
                                           "microbiome", "epigenetic_age", "activity"}
        prescription = json.loads((demo_run / f"prescriptions/{pid}.json").read_text())
        errors = list(validator.iter_errors(prescription))
        assert errors == [], (pid, errors[:2])
        validate_bundle(json.loads((demo_run / f"prescriptions/{pid}.fhir.json").read_text()))
        html = (demo_run / f"reports/{pid}.html").read_text()
        assert pid in html and "<script" not in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
        handout = (demo_run / f"handouts/{pid}.html").read_text()
        assert pid in handout and 'id="stop-signs"' in handout and "<script" not in handout
        assert (demo_run / f"handouts/{pid}.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")
    profiles = pd.read_csv(demo_run / "profiles/host_profiles.tsv", sep="\t", dtype=str)
    assert set(profiles["patient_id"]) == set(summary["patient_id"])
    manifest = json.loads((demo_run / "manifest.json").read_text())
    assert {"precex_version", "config_digest", "inputs", "outputs", "created_utc"} <= set(
        manifest)
    assert "reports/cohort.html" in manifest["outputs"]
    cohort = (demo_run / "reports/cohort.html").read_text()
    assert all(f'href="{pid}.html"' in cohort for pid in summary["patient_id"])
    # The weekly adaptation (sharded like the reports) covers every prescribed patient.
    adapted = pd.read_csv(demo_run / "adaptations/adaptations.tsv", sep="\t", dtype=str)
    not_adapted = pd.read_csv(demo_run / "adaptations/exclusions.tsv", sep="\t", dtype=str)
    assert set(adapted["patient_id"]) | set(not_adapted["patient_id"]) == set(
        summary["patient_id"])
    for row in adapted.itertuples():
        assert (demo_run / row.file).is_file()
        assert (demo_run / row.file.replace("prescriptions/", "reports/")
                .replace(".json", ".html")).is_file()


def test_every_demo_plan_baseline_and_weekly_is_coherent(demo_run):
    """The coherence check holds for every prescription the demo wrote, baseline and every
    adapted week (the stages check each before writing; this reads the published files)."""
    from precex.prescription.coherence import coherence_problems

    plans = [p for folder in ("prescriptions", "adaptations/prescriptions")
             for p in (demo_run / folder).glob("*.json") if not p.name.endswith(".fhir.json")]
    weekly = [p for p in plans if ".week-" in p.name]
    assert len(weekly) >= 3 * 20 and len(plans) - len(weekly) >= 20
    for path in plans:
        assert coherence_problems(json.loads(path.read_text())) == [], path.name


def test_demo_exercises_safety_rules(demo_run):
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str,
                          keep_default_na=False)
    fired = set(";".join(summary["safety_rules_fired"]).split(";"))
    assert {"SAFETY_FEVER", "SAFETY_PLATELETS_BELOW_20", "SAFETY_PLATELETS_20_50",
            "SAFETY_HB_BELOW_8", "SAFETY_NEUTROPENIA", "SAFETY_BONE_METS_UNSTABLE",
            "SAFETY_BONE_METS_STABLE", "SAFETY_LVEF_BELOW_40", "SAFETY_LVEF_REDUCED",
            "SAFETY_NEUROPATHY", "SAFETY_LYMPHEDEMA", "SAFETY_BP_HIGH",
            "SAFETY_RESTING_HR_HIGH"} <= fired
    assert set(summary["status"]) == {"prescribed", "clearance_required", "deferred"}


def test_plain_snakemake_with_other_shards_gives_byte_identical_outputs(demo_run, tmp_path):
    """`snakemake` from the repository behaves like `precex run`, and neither the shard size
    nor the cores change an output: shards of 13 (13, 13 and 4 patients) on one core, byte
    for byte."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
                             "--cores", "1", "--quiet", "--config", "shard_size=13"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    other = tmp_path / "results"
    files = per_patient_files(demo_run)
    assert files == per_patient_files(other)
    batch = ["profiles/host_profiles.tsv", "prescriptions/prescriptions.tsv", "exclusions.tsv",
             "reports/cohort.html", "provenance.json", "adaptations/adaptations.tsv",
             "adaptations/exclusions.tsv", "adaptations/problems.tsv",
             "research/interactions.tsv", "research/predictions.tsv"]
    match, mismatch, errors = filecmp.cmpfiles(demo_run, other, files + batch, shallow=False)
    assert mismatch == [] and errors == []
    assert len(list((other / "shards").iterdir())) == 3  # 30 patients in shards of 13


def test_snakemake_report_packages_every_report(demo_run, tmp_path):
    """As the README words it: `precex run --report report.zip` in the batch's folder (a bare
    `snakemake --report` there finds no Snakefile); patient, adapted and batch reports."""
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--demo",
                             "--report", str(tmp_path / "report.zip")], cwd=demo_run.parent,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    import zipfile

    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    patients = {Path(n).name for n in names if re.search(r"/P\d+\.html$", n)}
    summary = pd.read_csv(demo_run / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    assert patients == {f"{p}.html" for p in summary["patient_id"]}
    assert any(n.endswith("cohort.html") for n in names)
    adapted = {Path(n).name for n in names if re.search(r"/P\d+\.week-\d+\.html$", n)}
    expected = {Path(f).with_suffix(".html").name for f in pd.read_csv(
        demo_run / "adaptations/adaptations.tsv", sep="\t", dtype=str)["file"]}
    assert adapted == expected and len(adapted) > 0


def test_a_users_config_with_underscored_ids_inherits_no_demo_input(tmp_path):
    """A user's config names only its own inputs: no demo input is inherited (no microbiome,
    methylation or variants stage runs). Its IDs are BC_001-style, common in clinics, which
    FHIR ids cannot hold: every patient is still prescribed, with valid FHIR (before, each
    bundle failed and the batch stopped)."""
    for name in ("patients.tsv", "blood.tsv", "wearables.tsv"):
        table = pd.read_csv(REPO / "resources/demo" / name, sep="\t", dtype=str,
                            keep_default_na=False)
        table["patient_id"] = table["patient_id"].str.replace("P0", "BC_0", regex=False)
        table.to_csv(tmp_path / name, sep="\t", index=False)
    (tmp_path / "my.yaml").write_text("patients: patients.tsv\nblood: blood.tsv\n"
                                      "wearables: wearables.tsv\nreference_date: '2026-01-05'\n")
    precex_run(tmp_path, "--configfile", "my.yaml")
    results = tmp_path / "results"
    for absent in ("microbiome", "epigenetics", "genetics"):
        assert not (results / absent).exists(), absent
    provenance = json.loads((results / "provenance.json").read_text())
    assert set(provenance["inputs"]) == {"patients", "blood", "wearables", "genome_gtf",
                                         "rulebase"}
    summary = pd.read_csv(results / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    excluded = pd.read_csv(results / "exclusions.tsv", sep="\t", dtype=str)
    assert len(summary) == 30 and not excluded["stage"].isin(BLOCKING).any()
    validate_bundle(json.loads((results / "prescriptions/BC_001.fhir.json").read_text()))
    assert (results / "reports/BC_001.html").is_file()


def test_dry_run_of_10000_patients_has_fewer_than_200_jobs(tmp_path):
    ids = [f"P{i:05d}" for i in range(10000)]
    pd.DataFrame({"patient_id": ids, "age": 60, "sex": "F"}).to_csv(
        tmp_path / "patients.tsv", sep="\t", index=False)
    shutil.copy(REPO / "resources/demo/blood.tsv", tmp_path / "blood.tsv")
    (tmp_path / "c.yaml").write_text("patients: patients.tsv\nblood: blood.tsv\n"
                                     "reference_date: '2026-01-05'\n")
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "-n", "--cores", "2",
                             "--configfile", "c.yaml"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    total = int(re.search(r"^total\s+(\d+)", result.stdout, flags=re.M).group(1))
    assert total < 200
    assert re.search(r"^prescribe_shard\s+10$", result.stdout, flags=re.M)  # 1,000 per shard


def test_trial_arms_and_research_mode_on_the_demo(tmp_path):
    """The demo allocated to arms and run in research_mode: each patient is prescribed by arm,
    the batch report shows arm balance, the model card is complete and every report carries the
    responder-model section (the 30-patient demo is too small for skill: it must say so)."""
    log = tmp_path / "allocation.tsv"
    alloc = subprocess.run([sys.executable, "-m", "precex.cli", "trial", "allocate",
                            "--patients", str(REPO / "resources/demo/patients.tsv"), "--log",
                            str(log), "--seed", "5"], capture_output=True, text=True)
    assert alloc.returncode == 0, alloc.stderr
    precex_run(tmp_path, "--demo", "--config", f"trial_allocation={log}",
               "research_mode=True")
    results = tmp_path / "results"
    arms = pd.read_csv(log, sep="\t", comment="#", dtype=str).set_index("patient_id")["arm"]
    summary = pd.read_csv(results / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    for pid in summary["patient_id"]:
        prescription = json.loads((results / f"prescriptions/{pid}.json").read_text())
        assert prescription["engine"]["trial_arm"] == arms[pid]
        if arms[pid] == "standard":
            assert not [t for t in prescription["trace"] if t["applied"] and
                        t["kind"] == "modifier"]
        html = (results / f"reports/{pid}.html").read_text()
        assert 'id="responder-model"' in html and "hypothesis-generating" in html
    cohort = (results / "reports/cohort.html").read_text()
    assert 'id="trial-arms"' in cohort and "prescribed in this batch" in cohort
    card = json.loads((results / "research/model_card.json").read_text())
    assert {"precex_version", "date_of_fit", "features", "outcomes", "limitations"} <= set(card)
    assert set(card["outcomes"]) == {"vo2peak", "six_mwt", "fatigue"}
    for outcome in card["outcomes"].values():
        assert outcome["patients"] == 30 and "cross_validation" in outcome
        if not outcome["skill"]:
            pid = summary["patient_id"].iloc[0]
            assert "no skill over the null model" in (results / f"reports/{pid}.html"
                                                      ).read_text()


def test_signoff_loop_through_the_pipeline(demo_run, tmp_path):
    """A prescription is a draft until signed; `precex signoff` plus a rerun makes its FHIR
    CarePlan active with the signer as author and its report say who signed; a tampered log
    gives no decision (every plan a draft again) and the run names the row (issue 39: a log
    that does not verify is never trusted, and never stops the batch)."""
    work = tmp_path / "batch"
    shutil.copytree(demo_run.parent, work, symlinks=True)
    results = work / "results"
    summary = pd.read_csv(results / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    assert set(summary["signoff"]) == {"draft"}
    pid = summary.loc[summary["status"] == "prescribed", "patient_id"].iloc[0]

    def careplan(patient):
        bundle = json.loads((results / f"prescriptions/{patient}.fhir.json").read_text())
        return bundle["entry"][0]["resource"]

    assert careplan(pid)["status"] == "draft"
    assert "DRAFT - not signed" in (results / f"reports/{pid}.html").read_text()
    password = "correct horse battery staple\n"
    added = subprocess.run([sys.executable, "-m", "precex.cli", "users", "add", "--user",
                            "dr.smith", "--password-stdin"], cwd=work, input=password,
                           capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    signed = subprocess.run([sys.executable, "-m", "precex.cli", "signoff", "--patient", pid,
                             "--by", "dr.smith", "--decision", "approve", "--password-stdin"],
                            cwd=work, input=password, capture_output=True, text=True)
    assert signed.returncode == 0, signed.stderr
    precex_run(work, "--demo")
    assert careplan(pid)["status"] == "active"
    assert careplan(pid)["author"]["display"] == "dr.smith"
    assert "Signed: approved by dr.smith" in (results / f"reports/{pid}.html").read_text()
    summary = pd.read_csv(results / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    assert summary.set_index("patient_id").loc[pid, "signoff"] == "approved"
    log = work / "signoffs.tsv"
    log.write_text(log.read_text().replace("approve", "reject"))
    tampered = precex_run(work, "--demo", check=False)
    assert tampered.returncode == 0 and "Traceback" not in tampered.stderr
    assert careplan(pid)["status"] == "draft"
    summary = pd.read_csv(results / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    assert set(summary["signoff"]) == {"draft"}
    named = "".join(f.read_text() for f in results.glob("shards/*/prescription_problems.tsv"))
    assert "signoffs.tsv" in named and "edited, removed or reordered" in named
