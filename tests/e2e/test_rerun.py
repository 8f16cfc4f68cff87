"""Reruns are scoped: one patient's changed input reruns that patient's shard of each stage and
the batch-level jobs only; a deleted per-patient output is put back by a plain rerun, with
nothing else run (issue 17). Shards of 15: the demo's 30 patients are 2 shards, P001-P015 the
first one, which every edit below touches (P010, P012, P015), so the second shows what does not
rerun. The tests run in order on one batch folder, each leaving it up to date."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SHARD_JOBS = ("prescribe_shard", "report_shard", "adapt_shard", "publish_shard")
MODALITIES = ("microbiome", "epigenetics", "genetics", "blood", "wearables", "clinical")
SHARD_SIZE = 15  # two shards: the edited patients' and another (the fewest jobs that show it)
EDITED_SHARD = "shard0001"


def run(cwd: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "precex.cli", "run", "--cores", "2",
                             "--configfile", "config.yaml", *args, "--config",
                             f"shard_size={SHARD_SIZE}"],
                            cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def jobs(log: str) -> Counter:
    """(rule, shard or '') of every job a Snakemake log shows starting."""
    found: Counter = Counter()
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", log):
        head = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        if head:
            shard = re.search(r"wildcards: shard=(\w+)", block)
            found[(head.group(1), shard.group(1) if shard else "")] += 1
    return found


def edit(path: Path, patient: str, column: str, change, **where: str) -> None:
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    mask = table["patient_id"] == patient
    for key, value in where.items():
        mask &= table[key] == value
    rows = table.index[mask]
    table.loc[rows[0], column] = change(table.loc[rows[0], column])
    time.sleep(1.1)  # a new modification time for the edited file
    table.to_csv(path, sep="\t", index=False)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rerun")
    for path in (REPO / "resources/demo").iterdir():
        shutil.copy(path, folder / path.name)
    run(folder)
    return folder


def assert_one_shard(ran: Counter, rules: tuple[str, ...]) -> None:
    for rule in rules:
        assert {s for r, s in ran if r == rule} == {EDITED_SHARD}, (rule, ran)
    assert not [k for k in ran if k[0] in SHARD_JOBS and k[1] != EDITED_SHARD], ran


def test_a_blood_change_reruns_only_its_shard(batch):
    before = {p: p.stat().st_mtime_ns for p in (batch / "results/prescriptions").glob("P*.json")}
    edit(batch / "blood.tsv", "P010", "value", lambda v: str(round(float(v) * 0.9, 3)),
         marker="hemoglobin")
    ran = jobs(run(batch))
    assert_one_shard(ran, SHARD_JOBS)
    for rule in ("blood", "host_profile", "collect_prescriptions", "cohort_report", "manifest"):
        assert (rule, "") in ran, rule
    for rule in ("microbiome", "epigenetics", "wearables", "validate", "split_followup"):
        assert (rule, "") not in ran, rule
    changed = {p.name.split(".")[0] for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed == {f"P{i:03d}" for i in range(1, 16)}  # only the first shard's files


def test_a_follow_up_change_reruns_only_its_shards_adaptation(batch):
    edit(batch / "followup_wearables.tsv", "P010", "mvpa_min", lambda v: str(int(v) + 7))
    ran = jobs(run(batch))
    assert_one_shard(ran, ("adapt_shard", "publish_shard"))
    assert ("split_followup", "") in ran and ("adapt", "") in ran
    for rule in ("prescribe_shard", "report_shard", "host_profile", "validate", *MODALITIES):
        assert not [k for k in ran if k[0] == rule], rule


def test_a_sheet_row_change_reruns_only_its_shard(batch):
    edit(batch / "patients.tsv", "P012", "resting_hr", lambda v: str(int(float(v or 70)) + 4))
    ran = jobs(run(batch))
    assert_one_shard(ran, SHARD_JOBS)
    for rule in ("validate", "clinical", "host_profile", "exclusions", "cohort_report"):
        assert (rule, "") in ran, rule
    # The modality stages read the roster (IDs, exclusions, ages), which a resting-HR edit does
    # not change; they run again as batch jobs, never per shard.
    assert not [k for k in ran if k[0] in MODALITIES and k[1]]


CONTRACT_FILES = ("profiles/P003.json", "prescriptions/P010.json",
                  "prescriptions/P017.fhir.json", "reports/P022.html", "handouts/P029.html",
                  "handouts/P001.ics", "adaptations/prescriptions/P011.week-1.json",
                  "adaptations/prescriptions/P024.week-1.fhir.json",
                  "adaptations/reports/P030.week-1.html")


def test_a_deleted_or_replaced_output_is_restored_with_nothing_else_run(batch):
    results = batch / "results"
    wanted = {name: (results / name).read_bytes() for name in CONTRACT_FILES}
    for name in CONTRACT_FILES[:-1]:
        (results / name).unlink()
    # A contract file overwritten by another file (an editor saving a copy) is stale.
    stale = results / CONTRACT_FILES[-1]
    stale.unlink()
    stale.write_text("edited by hand")
    ran = jobs(run(batch))
    assert set(ran) == {("publish_shard", f"shard000{i}") for i in (1, 2)} | {("all", "")}
    for name, content in wanted.items():
        assert (results / name).read_bytes() == content, name
    assert "Nothing to be done" in run(batch, "-n")


def test_one_deleted_report_reruns_one_publish_job(batch):
    (batch / "results/reports/P015.html").unlink()
    dry = run(batch, "-n")
    assert set(jobs(dry)) == {("publish_shard", EDITED_SHARD), ("all", "")}
    assert set(jobs(run(batch))) == {("publish_shard", EDITED_SHARD), ("all", "")}
    assert (batch / "results/reports/P015.html").is_file()


def adapt_weeks(log: str) -> set[tuple[str, str]]:
    """(shard, week) of every adapt_shard job a Snakemake log shows starting."""
    return set(re.findall(r"rule adapt_shard:.*?wildcards: shard=(\w+), week=(\d+)", log,
                          re.S))


def signoff(batch: Path, patient: str, week: int, decision: str = "approve") -> None:
    password = "correct horse battery staple\n"
    if not (batch / "review_users.tsv").exists():
        added = subprocess.run([sys.executable, "-m", "precex.cli", "users", "add",
                                "--configfile", "config.yaml", "--user", "dr.ward",
                                "--password-stdin"], cwd=batch, input=password,
                               capture_output=True, text=True)
        assert added.returncode == 0, added.stderr
    result = subprocess.run([sys.executable, "-m", "precex.cli", "signoff", "--configfile",
                             "config.yaml", "--patient", patient, "--week", str(week), "--by",
                             "dr.ward", "--decision", decision, "--password-stdin"], cwd=batch,
                            input=password, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _prescribed(results: Path) -> set[str]:
    table = pd.read_csv(results / "prescriptions/prescriptions.tsv", sep="\t", dtype=str)
    return set(table["patient_id"])


def test_every_week_is_adapted_and_a_new_week_reruns_only_that_week(batch):
    """Issue 30: the demo's 3 weeks in one run; week 4's data adapts week 4 only (weeks 1-3
    are the same files, signed ones stay signed); a changed past week makes the weeks after
    it changed_since_signoff."""
    import json

    results = batch / "results"
    adapted = results / "adaptations/prescriptions"
    weeks = {p.name.split(".week-")[1][0] for p in adapted.glob("P010.week-*.json")}
    assert weeks == {"1", "2", "3"}
    for week in (2, 3):
        signoff(batch, "P010", week)
    run(batch)  # the decisions reach the plans and their FHIR bundles
    for week in (2, 3):
        plan = json.loads((adapted / f"P010.week-{week}.json").read_text())
        assert plan["signoff"]["state"] == "approved"
        bundle = json.loads((adapted / f"P010.week-{week}.fhir.json").read_text())
        careplan = [e["resource"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "CarePlan"][0]
        assert careplan["status"] == ("active" if plan["status"] == "prescribed" else "draft")
    before = {p: (p.stat().st_ino, p.read_bytes()) for p in adapted.iterdir()}

    for name in ("followup_wearables.tsv", "followup_symptoms.tsv"):
        table = pd.read_csv(batch / name, sep="\t", dtype=str, keep_default_na=False)
        last = table[table["date"] >= "2026-01-20"].copy()  # week 3's days
        last["date"] = (pd.to_datetime(last["date"]) + pd.Timedelta(days=7)).dt.strftime(
            "%Y-%m-%d")
        time.sleep(1.1)
        pd.concat([table, last]).to_csv(batch / name, sep="\t", index=False)
    log = run(batch)
    assert adapt_weeks(log) and {w for _, w in adapt_weeks(log)} == {"4"}, adapt_weeks(log)
    assert not [k for k in jobs(log) if k[0] in ("prescribe_shard", "report_shard")]
    for path, (inode, content) in before.items():
        assert path.stat().st_ino == inode and path.read_bytes() == content, path.name
    summary = pd.read_csv(results / "adaptations/adaptations.tsv", sep="\t", dtype=str)
    per_patient = summary.groupby("patient_id")["week"].apply(set).to_dict()
    followed = set(pd.read_csv(batch / "followup_wearables.tsv", sep="\t",
                               dtype=str)["patient_id"])
    assert {p for p in per_patient if p in followed} == followed & _prescribed(results)
    for pid, weeks in per_patient.items():  # without follow-up data: week 1 only, a hold
        assert weeks == ({"1", "2", "3", "4"} if pid in followed else {"1"}), pid
    assert json.loads((adapted / "P010.week-2.json").read_text())["signoff"]["state"] == \
        "approved"

    # A late correction to week 2 changes weeks 2-4: the sign-offs of weeks 2 and 3 lapse.
    edit(batch / "followup_wearables.tsv", "P010", "mvpa_min", lambda v: "0",
         date="2026-01-14")
    log = run(batch)
    assert {w for s, w in adapt_weeks(log)} == {"2", "3", "4"}
    for week in (2, 3):
        plan = json.loads((adapted / f"P010.week-{week}.json").read_text())
        assert plan["signoff"]["state"] == "changed_since_signoff", week
