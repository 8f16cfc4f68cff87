"""Every stage entry point, called as its rule calls it: `run(*, inputs, outputs, params)` with
the dataclasses of the stage, in a temporary folder, on a 12-patient cohort kept in
tests/data/stage_cohort/ and cut into two shards. The stages run in pipeline order
(module-scoped fixtures), each test checking what its stage wrote, and every file written is
compared with its snapshot (tests/data/snapshots/stages.json, as nf-test snapshots do).
test_every_rule_gives_its_stage_exactly_its_fields checks the other half: that each rule of
the workflow names what its stage's dataclasses ask for."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import MISSING, fields
from pathlib import Path
from typing import get_type_hints

import pandas as pd
import pytest
from precex.config import apply_defaults, load_yaml, resolve_config
from precex.paths import resource_path
from precex.sharding import assign_shards
from precex.version import current_version

REPO = Path(__file__).resolve().parents[2]
COHORT = REPO / "tests/data/stage_cohort"
SNAPSHOT = REPO / "tests/data/snapshots/stages.json"
N, SHARD_SIZE = 12, 7


def read(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    """The cohort, its resolved config, the shards and a results folder."""
    root = tmp_path_factory.mktemp("stages")
    shutil.copytree(COHORT, root / "in", ignore=shutil.ignore_patterns("README.md"))
    config = {k: v for k, v in load_yaml(root / "in/config.yaml").items()}
    config.update(reference_date=str(config["reference_date"]), shard_size=SHARD_SIZE,
                  base_dir=str(root / "in"))
    config = resolve_config(apply_defaults(config))
    ids = read(config["patients"])["patient_id"].tolist()
    assert len(ids) == N
    return {"root": root, "config": config, "results": root / "results",
            "shards": assign_shards(ids, SHARD_SIZE)}


def out(batch: dict, *parts: str) -> str:
    path = batch["results"].joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


@pytest.fixture(scope="module")
def validated(batch) -> dict:
    from precex.clinical import validate_stage as stage

    paths = {k: out(batch, "validated", f"{k}.tsv")
             for k in ("patients", "roster", "exclusions", "problems")}
    stage.run(inputs=stage.Inputs(sheet=batch["config"]["patients"]),
              outputs=stage.Outputs(**paths), params=stage.Params(strict=False))
    return paths


def test_validate_writes_the_validated_sheet_and_a_roster_of_every_id(batch, validated):
    roster = read(validated["roster"])
    sheet = read(batch["config"]["patients"])
    assert sorted(roster["patient_id"]) == sorted(sheet["patient_id"])
    excluded = set(read(validated["exclusions"])["patient_id"])
    assert set(roster.loc[roster["status"] == "excluded", "patient_id"]) == excluded
    valid = roster[roster["status"] == "valid"]
    assert set(read(validated["patients"])["patient_id"]) == set(valid["patient_id"])
    assert (pd.to_numeric(valid["age"]) >= 18).all()


@pytest.fixture(scope="module")
def modalities(batch, validated) -> dict[str, str]:
    """Every modality stage run from its registry entry's module: {stage: features table}."""
    from precex.modalities import REGISTRY, resolve

    config = batch["config"]
    made = {}
    for modality in REGISTRY:
        entry = resolve(modality.entry)
        module = __import__(entry.__module__, fromlist=["Inputs"])
        name = modality.name
        outputs = {f.name: out(batch, name, f"{f.name}.tsv") for f in fields(module.Outputs)}
        inputs = {"roster": validated["roster"], "patients": validated["patients"],
                  "tables": config.get("microbiome") or [], "matrix": [config["methylation"]],
                  "gtf": config["genome_gtf"], "vcf": config.get("variants"),
                  "blood": [config["blood"]], "wearables": config.get("wearables"),
                  "id_map": None, "taxonomy": None, "sample_map": None, "tree": None,
                  "reference": None, "manifest": config["methylation_manifest"]}
        params = {"min_depth": config["microbiome_min_depth"],
                  "cache_dir": str(batch["root"] / "pyensembl"),
                  "value_type": config["methylation_values"],
                  "residual_min_batch": config["clock_residual_min_batch"],
                  "panel": config["gene_panel"],
                  "max_missing": config["clock_max_missing_fraction"],
                  "detection_p": config["methylation_detection_p"],
                  "max_abs_acceleration": config["clock_max_abs_acceleration"],
                  "reference_date": config["reference_date"],
                  "window_days": config["blood_window_days"], "identifier_system": None,
                  "date_format": config["date_format"],
                  "previous_prescriptions": None, "time_zone": "UTC"}
        entry(inputs=module.Inputs(**{f.name: inputs[f.name] for f in fields(module.Inputs)}),
              outputs=module.Outputs(**outputs),
              params=module.Params(**{f.name: params[f.name] for f in fields(module.Params)}))
        made[name] = outputs["features"]
    return made


@pytest.mark.parametrize("stage,column", [
    ("clinical", "bmi_kg_m2"), ("microbiome", "shannon"), ("epigenetics", "phenoage2018_age"),
    ("genetics", "rs1815739_genotype"), ("blood", "hemoglobin_g_dl"),
    ("wearables", "mvpa_min_per_week")])
def test_each_modality_stage_writes_features_of_valid_patients(batch, validated, modalities,
                                                               stage, column):
    features = read(modalities[stage])
    valid = set(read(validated["patients"])["patient_id"])
    assert set(features["patient_id"]) <= valid and len(features) >= N // 2
    assert column in features.columns
    assert features["patient_id"].tolist() == sorted(features["patient_id"])
    folder = Path(modalities[stage]).parent
    if stage != "clinical":  # every other modality names its problems and exclusions
        problems = read(folder / "problems.tsv")
        assert list(problems.columns) == ["stage", "file", "row", "column", "patient_id",
                                          "message", "fix"]
        assert set(read(folder / "exclusions.tsv")["patient_id"]) <= set(read(
            validated["roster"])["patient_id"])


@pytest.fixture(scope="module")
def profiles(batch, validated, modalities) -> dict:
    from precex.profile import stage

    shards = batch["shards"]
    paths = {"profiles": out(batch, "profiles", "host_profiles.tsv"),
             "shard_features": [out(batch, "shards", s, "features.jsonl") for s in shards],
             "shard_domains": [out(batch, "shards", s, "domains.jsonl") for s in shards]}
    names = list(modalities)
    stage.run(inputs=stage.Inputs(patients=validated["patients"],
                                  features=[modalities[n] for n in names]),
              outputs=stage.Outputs(**paths), params=stage.Params(modalities=names,
                                                                  shards=shards))
    return paths


def test_host_profile_splits_the_batch_into_shard_tables(batch, validated, profiles):
    valid = set(read(validated["patients"])["patient_id"])
    assert set(read(profiles["profiles"])["patient_id"]) == valid
    for ids, path in zip(batch["shards"].values(), profiles["shard_features"], strict=True):
        records = [json.loads(line) for line in Path(path).read_text().splitlines()]
        assert [r["patient_id"] for r in records] == [p for p in ids if p in valid]


@pytest.fixture(scope="module")
def prescribed(batch, profiles) -> dict[str, dict]:
    from precex.prescription import stage

    made = {}
    for i, shard in enumerate(batch["shards"]):
        paths = {"profiles": out(batch, "shards", shard, "profiles"),
                 "prescriptions": out(batch, "shards", shard, "prescriptions"),
                 "summary": out(batch, "shards", shard, "prescriptions.tsv"),
                 "exclusions": out(batch, "shards", shard, "prescription_exclusions.tsv"),
                 "problems": out(batch, "shards", shard, "prescription_problems.tsv")}
        stage.run(inputs=stage.Inputs(features=profiles["shard_features"][i],
                                      domains=profiles["shard_domains"][i],
                                      rulebase=batch["config"]["rulebase"]),
                  outputs=stage.Outputs(**paths),
                  params=stage.Params(reference_date=batch["config"]["reference_date"],
                                      evidence_floor="G2", research_mode=False))
        made[shard] = paths
    return made


def test_prescribe_shard_writes_every_patients_files_into_the_shard_folders(prescribed):
    from precex.prescription.fhir import validate_bundle
    from precex.prescription.schema import read_prescription

    for paths in prescribed.values():
        ids = read(paths["summary"])["patient_id"].tolist()
        assert ids
        assert sorted(p.name for p in Path(paths["profiles"]).iterdir()) == sorted(
            f"{p}.json" for p in ids)
        assert sorted(p.name for p in Path(paths["prescriptions"]).iterdir()) == sorted(
            [f"{p}.json" for p in ids] + [f"{p}.fhir.json" for p in ids])
        first = Path(paths["prescriptions"]) / f"{ids[0]}"
        assert read_prescription(str(first) + ".json", "test")["patient_id"] == ids[0]
        validate_bundle(json.loads(Path(str(first) + ".fhir.json").read_text()))
        assert read(paths["exclusions"]).empty


def test_prescribe_shard_on_two_workers_writes_the_same_bytes(batch, profiles, prescribed,
                                                              tmp_path, monkeypatch):
    """A lone shard's job splits its patients over two forked workers (precex.workers): every
    file and table is the same as the one-process run's, row for row."""
    from precex import workers
    from precex.prescription import stage

    monkeypatch.setattr(workers, "MIN_PER_WORKER", 2)  # the stage cohort's shards are small
    for i, (shard, paths) in enumerate(prescribed.items()):
        mine = {k: str(tmp_path / shard / Path(v).name) for k, v in paths.items()}
        stage.run(inputs=stage.Inputs(features=profiles["shard_features"][i],
                                      domains=profiles["shard_domains"][i],
                                      rulebase=batch["config"]["rulebase"]),
                  outputs=stage.Outputs(**mine),
                  params=stage.Params(reference_date=batch["config"]["reference_date"],
                                      evidence_floor="G2", research_mode=False), threads=2)
        for key, path in paths.items():
            if Path(path).is_dir():
                names = sorted(p.name for p in Path(path).iterdir())
                assert names == sorted(p.name for p in Path(mine[key]).iterdir())
                for name in names:
                    assert (Path(mine[key]) / name).read_bytes() == (
                        Path(path) / name).read_bytes(), (key, name)
            else:
                assert Path(mine[key]).read_bytes() == Path(path).read_bytes(), key


def test_a_trial_patient_without_an_arm_is_excluded_by_the_problem_writer(batch, validated,
                                                                          profiles, tmp_path):
    from precex.clinical.validated import read_validated
    from precex.prescription import stage
    from precex.trial.allocation import Settings, allocate

    patients = read_validated(validated["patients"])
    first = [p for p in batch["shards"]["shard0001"] if p in patients.index]
    log = tmp_path / "allocation.tsv"
    allocate(patients.loc[first[:2]], Settings(7, ("subtype",), (2, 4)), str(log))
    paths = {k: str(tmp_path / k) for k in ("profiles", "prescriptions")}
    paths.update({k: str(tmp_path / f"{k}.tsv") for k in ("summary", "exclusions", "problems")})
    stage.run(inputs=stage.Inputs(features=profiles["shard_features"][0],
                                  domains=profiles["shard_domains"][0],
                                  rulebase=batch["config"]["rulebase"], trial=str(log)),
              outputs=stage.Outputs(**paths),
              params=stage.Params(reference_date=batch["config"]["reference_date"],
                                  evidence_floor="G2", research_mode=False))
    assert read(paths["summary"])["patient_id"].tolist() == first[:2]
    excluded = read(paths["exclusions"])
    assert excluded["patient_id"].tolist() == first[2:]
    assert all("not allocated to a trial arm" in r and "allocation.tsv" in r
               for r in excluded["reason"])
    assert sorted(p.name for p in Path(paths["profiles"]).iterdir()) == [
        f"{p}.json" for p in first[:2]]


def test_the_prescription_job_uses_only_decisions_of_a_log_that_verifies(batch, profiles,
                                                                         prescribed, tmp_path):
    """A signed approval makes the plan approved; the same log with its last row forged (a
    recomputed chain, no valid signature) gives every plan of the shard `draft`, and the
    problem, by row, is in the stage's problems.tsv (issue 39)."""
    import json as jsonlib

    from precex.io.chained_log import link
    from precex.prescription import stage
    from precex.prescription.signoff import append_signoff
    from precex.review_app.users import add_user, user_signing_key

    shard, rx = next(iter(prescribed.items()))
    pid = read(rx["summary"])["patient_id"].iloc[0]
    plan = jsonlib.loads((Path(rx["prescriptions"]) / f"{pid}.json").read_text())
    users, log = str(tmp_path / "users.tsv"), str(tmp_path / "signoffs.tsv")
    add_user(users, user="dr.a", password="correct horse battery staple")
    append_signoff(log, users_path=users,
                   key=user_signing_key(users, "dr.a", "correct horse battery staple"),
                   patient_id=pid, digest=plan["signoff"]["digest"], decision="approve",
                   signed_by="dr.a")

    def run(name: str) -> dict:
        paths = {k: str(tmp_path / name / k) for k in ("profiles", "prescriptions")}
        paths.update({k: str(tmp_path / name / f"{k}.tsv")
                      for k in ("summary", "exclusions", "problems")})
        stage.run(inputs=stage.Inputs(features=profiles["shard_features"][0],
                                      domains=profiles["shard_domains"][0],
                                      rulebase=batch["config"]["rulebase"], signoff=log,
                                      signoff_users=users),
                  outputs=stage.Outputs(**paths),
                  params=stage.Params(reference_date=batch["config"]["reference_date"],
                                      evidence_floor="G2", research_mode=False))
        return paths

    signed = run("signed")
    state = jsonlib.loads((Path(signed["prescriptions"]) / f"{pid}.json").read_text())
    assert state["signoff"]["state"] == "approved"
    lines = Path(log).read_text().splitlines()
    fields = ["2", "2026-01-06T10:00:00+00:00", pid, "f" * 64, "approve", "dr.a", ""]
    forged = fields + [link(lines[-1].split("\t")[-2], fields), lines[-1].split("\t")[-1]]
    Path(log).write_text("\n".join(lines + ["\t".join(forged)]) + "\n")
    damaged = run("damaged")
    states = {f.name: jsonlib.loads(f.read_text())["signoff"]["state"]
              for f in Path(damaged["prescriptions"]).glob("*.json")
              if not f.name.endswith(".fhir.json")}
    assert set(states.values()) == {"draft"} and len(states) > 1
    problems = read(damaged["problems"])
    assert problems["message"].str.contains("does not verify").any()
    assert read(damaged["exclusions"]).empty  # nobody is excluded for it


def test_collect_prescriptions_sorts_the_shards_rows(batch, prescribed):
    from precex.prescription import collect

    table = out(batch, "prescriptions", "prescriptions.tsv")
    collect.run(inputs=collect.Inputs(summaries=[p["summary"] for p in
                                                 reversed(prescribed.values())]),
                outputs=collect.Outputs(table=table), params=collect.Params())
    ids = read(table)["patient_id"].tolist()
    assert ids == sorted(ids) and len(ids) == sum(len(read(p["summary"])) for p in
                                                  prescribed.values())


@pytest.fixture(scope="module")
def reported(batch, prescribed) -> dict[str, dict]:
    from precex.provenance import (
        ProvenanceOutputs,
        ProvenanceParams,
        ReportProvenanceInputs,
        write_report_provenance,
    )
    from precex.reporting import stage

    provenance = out(batch, "reports", "report_provenance.json")
    write_report_provenance(inputs=ReportProvenanceInputs(rulebase=batch["config"]["rulebase"]),
                            outputs=ProvenanceOutputs(provenance=provenance),
                            params=ProvenanceParams(config=batch["config"]))
    made = {}
    for shard, rx in prescribed.items():
        paths = {"reports": out(batch, "shards", shard, "reports"),
                 "handouts": out(batch, "shards", shard, "handouts"),
                 "index": out(batch, "shards", shard, "reports.tsv"),
                 "exclusions": out(batch, "shards", shard, "report_exclusions.tsv"),
                 "problems": out(batch, "shards", shard, "report_problems.tsv")}
        stage.run_shard(inputs=stage.ShardInputs(
            summary=rx["summary"], profiles=rx["profiles"], prescriptions=rx["prescriptions"],
            provenance=provenance,
            notebook=str(REPO / "workflow/notebooks/patient_reports.ipynb")),
            outputs=stage.ShardOutputs(**paths), params=stage.ShardParams(pdf=False))
        made[shard] = paths
    return made


def test_report_shard_renders_reports_and_handouts_of_every_prescribed_patient(prescribed,
                                                                             reported):
    for shard, paths in reported.items():
        ids = read(prescribed[shard]["summary"])["patient_id"].tolist()
        assert read(paths["index"])["patient_id"].tolist() == ids
        assert sorted(p.name for p in Path(paths["reports"]).iterdir()) == sorted(
            f"{p}.html" for p in ids)
        assert sorted(p.name for p in Path(paths["handouts"]).iterdir()) == sorted(
            [f"{p}.html" for p in ids] + [f"{p}.ics" for p in ids])
        assert ids[0] in (Path(paths["reports"]) / f"{ids[0]}.html").read_text()
        assert read(paths["exclusions"]).empty and read(paths["problems"]).empty


def test_a_patient_whose_report_fails_gets_no_handout_and_is_excluded(batch, prescribed,
                                                                       reported, tmp_path,
                                                                       monkeypatch):
    """The handouts are written while the kernel renders the reports; those of a patient whose
    report then fails are removed (the patient is excluded), the others stay."""
    from precex.reporting import stage

    shard, rx = next(iter(prescribed.items()))
    ids = read(rx["summary"])["patient_id"].tolist()
    failing = ids[1]

    def render_batch(notebook, jobs):
        for job in jobs:
            if job.key != failing:
                Path(job.out_html).write_text(f"<p>{job.key}</p>\n")
        return {failing: "report cell failed (ValueError: broken)"}

    monkeypatch.setattr(stage, "render_batch", render_batch)
    paths = {k: str(tmp_path / k) for k in ("reports", "handouts")}
    paths.update({k: str(tmp_path / f"{k}.tsv") for k in ("index", "exclusions", "problems")})
    stage.run_shard(inputs=stage.ShardInputs(
        summary=rx["summary"], profiles=rx["profiles"], prescriptions=rx["prescriptions"],
        provenance=out(batch, "reports", "report_provenance.json"),
        notebook=str(REPO / "workflow/notebooks/patient_reports.ipynb")),
        outputs=stage.ShardOutputs(**paths), params=stage.ShardParams(pdf=False))
    kept = [p for p in ids if p != failing]
    assert sorted(p.name for p in Path(paths["handouts"]).iterdir()) == sorted(
        [f"{p}.html" for p in kept] + [f"{p}.ics" for p in kept])
    assert read(paths["index"])["patient_id"].tolist() == kept
    excluded = read(paths["exclusions"])
    assert excluded["patient_id"].tolist() == [failing]
    assert "broken" in excluded["reason"].iloc[0] and excluded["stage"].iloc[0] == "report"


def test_no_excluded_mode_or_exercise_reaches_what_the_demo_patients_read(prescribed, reported):
    """Over the demo cohort's written handouts and calendars (the vignettes: test_vignettes):
    nothing the plan's exclusions rule out is named where the patient reads."""
    from builders import excluded_words, what_the_patient_reads

    checked = 0
    for shard, paths in reported.items():
        for plan in Path(prescribed[shard]["prescriptions"]).glob("*.json"):
            if plan.name.endswith(".fhir.json"):
                continue
            p = json.loads(plan.read_text(encoding="utf-8"))
            handouts = Path(paths["handouts"])
            read = what_the_patient_reads(
                (handouts / f"{p['patient_id']}.html").read_text(encoding="utf-8"),
                (handouts / f"{p['patient_id']}.ics").read_text(encoding="utf-8"))
            if p["status"] == "prescribed" and any(day["sessions"] for day in p["schedule"]):
                assert read.strip(), p["patient_id"]  # the check reads something
            for words in excluded_words(p):
                assert words.lower() not in read.lower(), (p["patient_id"], words)
            checked += bool(excluded_words(p))
    assert checked >= 1  # demo patients whose exclusions rule modes or exercises out


@pytest.fixture(scope="module")
def adapted(batch, prescribed, reported) -> dict:
    from precex.adaptation import stage, week_report

    shards = batch["shards"]
    # Week 1 of the demo's follow-up, from the split's weekly tables (weeks 2 and 3 are the
    # pipeline's: tests/e2e/test_rerun.py).
    week = {kind: [out(batch, "shards", s, "followup", f"week-1.{kind}.tsv") for s in shards]
            for kind in stage.FOLLOWUP_KINDS}
    split = {"wearables": week["wearables"], "symptoms": week["symptoms"],
             "patients": week["patients"],
             "problems": out(batch, "adaptations", "split_problems.tsv")}
    config = batch["config"]
    tables = [out(batch, "shards", s, "followup", f"week-{w}.{kind}.tsv")
              for s in shards for w in (1, 2, 3) for kind in stage.FOLLOWUP_KINDS]
    stage.split_followup(inputs=stage.SplitInputs(wearables=config["followup_wearables"],
                                                  symptoms=config["followup_symptoms"]),
                         outputs=stage.SplitOutputs(tables=tables, problems=split["problems"]),
                         params=stage.SplitParams(shards=shards,
                                                  reference_date=config["reference_date"],
                                                  weeks=3))
    made = {}
    for i, (shard, rx) in enumerate(prescribed.items()):
        paths = {"adaptations": out(batch, "shards", shard, "adaptations"),
                 "table": out(batch, "shards", shard, "adaptations.tsv"),
                 "exclusions": out(batch, "shards", shard, "adaptation_exclusions.tsv"),
                 "problems": out(batch, "shards", shard, "adaptation_problems.tsv")}
        # As the pipeline runs them: the week's plans (adapt_shard), then its reports and
        # handouts in their own job (adapt_report).
        stage.run_shard(inputs=stage.ShardInputs(
            summary=rx["summary"], prescriptions=rx["prescriptions"],
            followup_wearables=split["wearables"][i], followup_symptoms=split["symptoms"][i],
            patients=split["patients"][i], rulebase=config["rulebase"]),
            outputs=stage.ShardOutputs(**paths),
            params=stage.ShardParams(wearables_source=config["followup_wearables"],
                                     symptoms_source=config["followup_symptoms"]))
        rendered = {"reports": out(batch, "shards", shard, "adapted_reports"),
                    "handouts": out(batch, "shards", shard, "adapted_handouts"),
                    "problems": out(batch, "shards", shard, "adapted_report_problems.tsv")}
        week_report.render_week(inputs=week_report.WeekReportInputs(
            table=paths["table"], adaptations=paths["adaptations"], profiles=rx["profiles"],
            provenance=out(batch, "reports", "report_provenance.json"),
            notebook=str(REPO / "workflow/notebooks/patient_reports.ipynb")),
            outputs=week_report.WeekReportOutputs(**rendered),
            params=week_report.WeekReportParams())
        made[shard] = {**paths, "reports": rendered["reports"],
                       "handouts": rendered["handouts"],
                       "report_problems": rendered["problems"]}
    merged = {k: out(batch, "adaptations", f"{k}.tsv")
              for k in ("adaptations", "exclusions", "problems")}
    stage.merge_shards(inputs=stage.MergeInputs(
        tables=[p["table"] for p in made.values()],
        exclusions=[p["exclusions"] for p in made.values()],
        problems=[split["problems"]] + [p["problems"] for p in made.values()]),
        outputs=stage.MergeOutputs(table=merged["adaptations"], exclusions=merged["exclusions"],
                                   problems=merged["problems"]), params=stage.MergeParams())
    return {"split": split, "shards": made, "merged": merged}


def test_split_followup_writes_each_shards_rows_with_the_users_row_numbers(batch, adapted):
    user = read(batch["config"]["followup_wearables"])
    for ids, path in zip(batch["shards"].values(), adapted["split"]["wearables"], strict=True):
        part = read(path)
        assert set(part["patient_id"]) <= set(ids)
        rows = part["source_row"].astype(int) - 1
        assert (user.loc[rows, "patient_id"].to_numpy() == part["patient_id"].to_numpy()).all()


def test_adapt_shard_and_merge_adapt_every_prescribed_patient_or_exclude_them(prescribed,
                                                                             adapted):
    merged = read(adapted["merged"]["adaptations"])
    excluded = set(read(adapted["merged"]["exclusions"])["patient_id"])
    everyone = {p for rx in prescribed.values() for p in read(rx["summary"])["patient_id"]}
    assert set(merged["patient_id"]) | excluded == everyone
    assert merged["patient_id"].tolist() == sorted(merged["patient_id"])
    for paths in adapted["shards"].values():
        for row in read(paths["table"]).itertuples():
            name = Path(row.file).name
            assert (Path(paths["adaptations"]) / name).is_file()
            assert (Path(paths["reports"]) / name.replace(".json", ".html")).is_file()
            assert (Path(paths["handouts"]) / name.replace(".json", ".html")).is_file()
        assert read(paths["report_problems"]).empty


def test_research_fits_the_model_and_writes_no_shard_files_outside_research_mode(
        batch, profiles, prescribed):
    from precex.research import stage

    paths = {k: out(batch, "research", f"{k}.tsv")
             for k in ("interactions", "predictions", "problems")}
    paths["card"] = out(batch, "research", "model_card.json")
    table = out(batch, "prescriptions", "prescriptions.tsv")
    stage.run(inputs=stage.Inputs(outcomes=batch["config"]["outcomes"],
                                  profiles=profiles["profiles"], prescriptions=table,
                                  shard_prescriptions=[]),
              outputs=stage.Outputs(shards=[], **paths),
              params=stage.Params(shards=batch["shards"], research_mode=False, features=None,
                                  bootstrap=20))
    card = json.loads(Path(paths["card"]).read_text())
    assert set(card["outcomes"]) and read(paths["predictions"]).empty
    written = {p.name for p in Path(paths["card"]).parent.iterdir()}
    assert written == {"model_card.json", "interactions.tsv", "predictions.tsv", "problems.tsv"}


@pytest.fixture(scope="module")
def merged_exclusions(batch, validated, modalities, prescribed, reported, adapted) -> str:
    from precex import exclusions
    from precex.modalities import REGISTRY

    parts = [validated["exclusions"]] + [
        str(Path(modalities[m.name]).parent / "exclusions.tsv") for m in REGISTRY if m.excludes]
    parts += [p["exclusions"] for p in prescribed.values()]
    parts += [p["exclusions"] for p in reported.values()]
    parts.append(adapted["merged"]["exclusions"])
    path = out(batch, "exclusions.tsv")
    exclusions.run(inputs=exclusions.Inputs(parts=parts, roster=validated["roster"],
                                            prescriptions=out(batch, "prescriptions",
                                                              "prescriptions.tsv")),
                   outputs=exclusions.Outputs(exclusions=path),
                   params=exclusions.Params(sheet=batch["config"]["patients"]))
    return path


def _written_files(*outputs) -> list[Path]:
    """Every file under the given output paths (files, folders, or dicts/lists of them)."""
    found: list[Path] = []
    for item in outputs:
        if isinstance(item, dict):
            found += _written_files(*item.values())
        elif isinstance(item, list | tuple):
            found += _written_files(*item)
        elif Path(item).is_dir():
            found += [p for p in Path(item).rglob("*") if p.is_file()]
        elif Path(item).is_file():
            found.append(Path(item))
    return found


def test_every_stage_output_matches_its_snapshot(batch, validated, modalities, profiles,
                                                 prescribed, reported, adapted,
                                                 merged_exclusions):
    """The SHA-256 of every file the stages wrote from the stage cohort equals the stored
    snapshot: no stage output changes unless a commit rewrites the snapshot on purpose
    (PRECEX_UPDATE_SNAPSHOTS=1; tests/data/stage_cohort/README.md)."""
    folders = [Path(f).parent for f in modalities.values()]
    files = sorted(set(_written_files(validated, folders, profiles, prescribed, reported,
                                      adapted, merged_exclusions)))
    # Reports show the version that made them (git-derived: it changes with every commit),
    # so it is masked; everything else counts byte for byte.
    version = current_version().encode()
    digests = {p.relative_to(batch["results"]).as_posix():
               hashlib.sha256(p.read_bytes().replace(version, b"<version>")).hexdigest()
               for p in files}
    assert len(digests) > 100
    if os.environ.get("PRECEX_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    stored = json.loads(SNAPSHOT.read_text())
    changed = sorted(k for k in digests.keys() & stored.keys() if digests[k] != stored[k])
    new, gone = sorted(digests.keys() - stored.keys()), sorted(stored.keys() - digests.keys())
    assert (changed, new, gone) == ([], [], []), (
        "stage outputs differ from tests/data/snapshots/stages.json; if intended, rewrite it "
        "with PRECEX_UPDATE_SNAPSHOTS=1 and review its diff")


def test_exclusions_merge_orders_stages_as_a_patient_meets_them(merged_exclusions):
    from precex.modalities import stage_order

    table = read(merged_exclusions)
    rank = {s: i for i, s in enumerate(stage_order())}
    keys = [(r.patient_id, rank[r.stage], r.reason) for r in table.itertuples()]
    assert keys == sorted(keys)


def test_provenance_and_the_batch_report(batch, validated, modalities, profiles, reported,
                                         adapted, merged_exclusions):
    from precex.provenance import (
        ProvenanceInputs,
        ProvenanceOutputs,
        ProvenanceParams,
        write_provenance,
    )
    from precex.reporting import stage

    provenance = out(batch, "provenance.json")
    write_provenance(inputs=ProvenanceInputs(files=[batch["config"]["patients"]]),
                     outputs=ProvenanceOutputs(provenance=provenance),
                     params=ProvenanceParams(config=batch["config"]))
    assert json.loads(Path(provenance).read_text())["inputs"]["patients"][0]["name"] == \
        "patients.tsv"
    html = out(batch, "reports", "cohort.html")
    stage.run_cohort(inputs=stage.CohortInputs(
        profiles=profiles["profiles"], prescriptions=out(batch, "prescriptions",
                                                         "prescriptions.tsv"),
        exclusions=merged_exclusions, problems=[validated["problems"]],
        provenance=provenance, reports=[p["index"] for p in reported.values()],
        notebook=str(REPO / "workflow/notebooks/cohort_report.ipynb"),
        rulebase=batch["config"]["rulebase"], adaptations=adapted["merged"]["adaptations"]),
        outputs=stage.CohortOutputs(html=html), params=stage.CohortParams())
    text = Path(html).read_text()
    first = read(out(batch, "prescriptions", "prescriptions.tsv"))["patient_id"].iloc[0]
    assert f'href="{first}.html"' in text


CONTRACT = {"profiles": "profiles", "prescriptions": "prescriptions", "reports": "reports",
            "handouts": "handouts", "adaptations": "adaptations/prescriptions",
            "adapted_reports": "adaptations/reports"}


def publish_shard(batch, prescribed, reported, adapted, shard, generation, members=None):
    from precex import publish

    folders = {**{k: prescribed[shard][k] for k in ("profiles", "prescriptions")},
               **{k: reported[shard][k] for k in ("reports", "handouts")},
               "adaptations": adapted["shards"][shard]["adaptations"],
               "adapted_reports": adapted["shards"][shard]["reports"]}
    index = out(batch, "shards", shard, "published", f"{generation}.tsv")
    publish.run(inputs=publish.Inputs(**folders), outputs=publish.Outputs(index=index),
                params=publish.Params(members=members or batch["shards"][shard],
                                      targets={k: str(batch["results"] / v)
                                               for k, v in CONTRACT.items()}))
    return index


def test_publish_links_every_file_to_its_contract_path_and_restores_a_deleted_one(
        batch, prescribed, reported, adapted):
    from precex.publish import is_current, publish_target

    shard = next(iter(batch["shards"]))
    index = publish_shard(batch, prescribed, reported, adapted, shard, 1)
    rows = read(index)
    assert len(rows) == sum(len(list(Path(p).iterdir())) for p in
                            (prescribed[shard]["profiles"], prescribed[shard]["prescriptions"],
                             reported[shard]["reports"], reported[shard]["handouts"],
                             adapted["shards"][shard]["adaptations"],
                             adapted["shards"][shard]["reports"]))
    for row in rows.itertuples():
        assert Path(row.contract).samefile(row.source)
    folder = Path(index).parent
    assert is_current(index) and publish_target(folder) == index
    first = Path(rows["contract"].iloc[0])
    first.unlink()
    assert not is_current(index) and publish_target(folder) == str(folder / "2.tsv")
    again = publish_shard(batch, prescribed, reported, adapted, shard, 2)
    assert first.is_file() and is_current(again) and sorted(
        p.name for p in folder.iterdir()) == ["2.tsv"]  # the older generation is gone
    # A contract file replaced by another file is stale too.
    first.unlink()
    first.write_text("edited")
    assert not is_current(again)


def test_a_published_file_edited_in_place_is_noticed_and_never_published_again(tmp_path):
    """Issue 39: a published prescription edited in place (a hard link to the shard's own
    file) was not noticed: the run said "Nothing to be done". Now published files are
    read-only, and a contract file still the shard's own but changed after the shard was
    published (its index's time) makes the shard's publish target the next generation; that
    job stops, naming the file and the rebuild. Nothing machine-specific enters the index."""
    import os

    from precex import publish
    from precex.problems import InputError

    shard = tmp_path / "shards/shard0001"
    folders = {name: shard / name for name in ("profiles", "prescriptions", "reports",
                                               "handouts")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    (folders["prescriptions"] / "P1.json").write_text('{"weekly_met_minutes": 450}\n')
    targets = {name: str(tmp_path / "results" / name) for name in folders}

    def run(generation: int) -> str:
        index = str(shard / "published" / f"{generation}.tsv")
        publish.run(inputs=publish.Inputs(**{k: str(v) for k, v in folders.items()}),
                    outputs=publish.Outputs(index=index),
                    params=publish.Params(members=["P1"], targets=targets))
        return index

    index = run(1)
    assert Path(index).read_text().splitlines()[0] == "contract\tsource"
    contract = tmp_path / "results/prescriptions/P1.json"
    assert contract.stat().st_mode & 0o222 == 0  # an edit needs a chmod first
    assert publish.publish_target(shard / "published") == index
    os.chmod(contract, 0o644)
    with open(contract, "a") as handle:  # edited in place: the shard's file changes too
        handle.write(" ")
    os.utime(contract, ns=(Path(index).stat().st_mtime_ns + 10**9,) * 2)  # after publishing
    assert publish.publish_target(shard / "published") == str(shard / "published/2.tsv")
    with pytest.raises(InputError) as err:
        run(2)
    problem = err.value.problems[0]
    assert problem.file == str(contract) and "edited after the run" in problem.message
    assert "--forcerun prescribe_shard" in problem.fix
    # a rebuilt file (a new inode, as every job writes) is published again as usual
    os.unlink(folders["prescriptions"] / "P1.json")
    (folders["prescriptions"] / "P1.json").write_text('{"weekly_met_minutes": 450}\n')
    assert Path(run(2)).is_file() and contract.read_text() == '{"weekly_met_minutes": 450}\n'


def test_publish_removes_the_files_of_a_patient_no_longer_produced(batch, prescribed,
                                                                   reported, adapted):
    shard = list(batch["shards"])[-1]
    gone = "ZZ-former"  # a member whose files this run did not produce
    stale = [batch["results"] / "reports" / f"{gone}.html",
             batch["results"] / "adaptations/prescriptions" / f"{gone}.week-2.json"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old")
    other = batch["results"] / "reports" / "YY-other-shard.html"
    other.write_text("not this shard's")
    publish_shard(batch, prescribed, reported, adapted, shard, 1,
                  members=batch["shards"][shard] + [gone])
    assert not any(p.exists() for p in stale) and other.exists()


def test_manifest_lists_batch_and_contract_files_with_their_digests(batch, prescribed,
                                                                    reported):
    from precex.io.files import sha256
    from precex.provenance import ManifestInputs, ManifestOutputs, ManifestParams, write_manifest

    shard = next(iter(batch["shards"]))
    folders = [prescribed[shard]["prescriptions"], reported[shard]["reports"]]
    manifest = out(batch, "manifest.json")
    write_manifest(inputs=ManifestInputs(provenance=out(batch, "provenance.json"),
                                         outputs=[out(batch, "exclusions.tsv")],
                                         shard_folders=folders),
                   outputs=ManifestOutputs(manifest=manifest,
                                           summary=out(batch, "manifest.html")),
                   params=ManifestParams())
    listed = json.loads(Path(manifest).read_text())["outputs"]
    first = read(prescribed[shard]["summary"])["patient_id"].iloc[0]
    assert listed["exclusions.tsv"] == sha256(out(batch, "exclusions.tsv"))
    assert listed[f"reports/{first}.html"] == sha256(
        Path(reported[shard]["reports"]) / f"{first}.html")
    assert f"prescriptions/{first}.fhir.json" in listed


def _stage_entry(script: Path):
    """The function a rule's shim hands to run_stage."""
    import importlib

    text = script.read_text()
    name = re.search(r"^run_stage\(snakemake, (\w+)\)", text, flags=re.M).group(1)
    module = re.search(rf"^from (\S+) import {name}$", text, flags=re.M).group(1)
    return getattr(importlib.import_module(module), name)


def test_every_rule_gives_its_stage_exactly_its_fields(tmp_path):
    """Load the workflow as Snakemake does (the demo config) and compare each rule's named
    input, output and params with its stage's dataclasses: nothing missing, nothing unused
    but the `code` param every rule has, which only reruns the job when its code changes."""
    from precex.stage_code import stage_digests
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    digests = stage_digests()
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(snakefile=REPO / "Snakefile",
                                resource_settings=ResourceSettings(cores=1),
                                workdir=tmp_path)._workflow
        folders = workflow.globals["get_shard_folder_names"]()
        checked = 0
        for rule in workflow.rules:
            if not rule.script:
                continue
            entry = _stage_entry((REPO / "workflow/rules" / rule.script).resolve())
            hints = get_type_hints(entry)
            given = {"inputs": set(rule.input._names) or set(folders),
                     "outputs": set(rule.output._names),
                     "params": set(rule.params._names) - {"code"}}
            assert "code" in rule.params._names, rule.name
            # provenance records the same digest that reruns the rule (the notebook included)
            assert rule.params.code == digests[Path(rule.script).stem], rule.name
            for what, names in given.items():
                declared = fields(hints[what])
                required = {f.name for f in declared if f.default is MISSING
                            and f.default_factory is MISSING}
                assert required <= names, (rule.name, what, required - names)
                assert names <= {f.name for f in declared}, (rule.name, what,
                                                             names - {f.name for f in declared})
            checked += 1
    assert checked >= 20


def test_run_stage_names_the_rule_and_the_missing_field():
    from precex.prescription.collect import run
    from precex.script_runner import stage_arguments

    with pytest.raises(RuntimeError, match="rule collect_prescriptions has no input 'summaries'"):
        stage_arguments(run, "collect_prescriptions", {"inputs": {}, "outputs": {"table": "t"},
                                                       "params": {}})
    built = stage_arguments(run, "collect_prescriptions",
                            {"inputs": {"summaries": "one.tsv"}, "outputs": {"table": ["t"]},
                             "params": {}})
    assert built["inputs"].summaries == ["one.tsv"] and built["outputs"].table == "t"


def test_demo_inputs_come_from_the_registry_writers(batch):
    from precex.modalities import REGISTRY

    written = {m.config_key for m in REGISTRY if m.demo}
    assert written <= set(batch["config"]) and (resource_path("demo") / "config.yaml").is_file()


@pytest.mark.parametrize("modules, why", [
    (["precex.config", "precex.run_monitor"], "`precex run` starts Snakemake sooner"),
    (["precex.provenance"], "provenance, report_provenance and manifest jobs"),
    (["precex.reporting.stage"], "the batch report's job, at the end of every run"),
    (["precex.publish"], "one publish job per shard"),
])
def test_light_jobs_do_not_import_pandas(modules, why):
    """Importing pandas costs about 0.3 s of CPU in every job that does; these jobs, and the
    CLI before it starts Snakemake, do not need it (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = f"import sys, {', '.join(modules)}; print('pandas' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "False", why


def test_jobs_on_the_critical_path_start_first(tmp_path):
    """With fewer cores than ready jobs, Snakemake starts the higher priority first: the sheet
    check, then the modalities and the host profile every shard waits for, then the
    prescriptions (and the small merge the research job waits for), then the longest shard
    jobs; merges, publishing and provenance fill the gaps."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(snakefile=REPO / "Snakefile",
                                resource_settings=ResourceSettings(cores=1),
                                workdir=tmp_path)._workflow
        priority = {rule.name: rule.priority for rule in workflow.rules}
    modalities = ["microbiome", "epigenetics", "genetics", "blood", "clinical", "wearables"]
    fillers = ["split_followup", "provenance", "report_provenance", "publish_shard",
               "exclusions", "adapt", "manifest"]
    assert priority["validate"] > max(priority[m] for m in modalities + ["host_profile"])
    assert min(priority[m] for m in modalities + ["host_profile"]) > priority["prescribe_shard"]
    # the longest modality jobs first, so the host profile waits for a short one
    assert min(priority["blood"], priority["microbiome"]) > max(
        priority["epigenetics"], priority["wearables"]) > max(priority["genetics"],
                                                              priority["clinical"])
    assert priority["prescribe_shard"] == priority["collect_prescriptions"]
    assert priority["collect_prescriptions"] > priority["research"]
    assert priority["adapt_shard"] > priority["report_shard"]
    # the chain of weekly plans first, then each week's reports beside the next week's plans
    assert priority["adapt_shard"] > priority["adapt_report"] > priority["report_shard"]
    assert min(priority[r] for r in ("adapt_shard", "adapt_report", "report_shard",
                                     "research")) > max(priority[r] for r in fillers)


def test_a_stage_leaves_its_heap_out_of_the_exit_collection(tmp_path):
    """run_step freezes the garbage collector's view before and after the step, so the
    interpreter's exit does not scan a shard job's millions of objects (0.15-0.3 s per job
    between its end and the next job's start). Checked in a fresh interpreter: what the step
    built is frozen, and the step still ran and logged."""
    import subprocess
    import sys

    code = f"""
import gc, types
from precex.script_runner import run_step
snakemake = types.SimpleNamespace(log=[{str(tmp_path / "step.log")!r}], rule="demo")
kept = []
def step():
    kept.extend([{{"i": i, "self": kept}} for i in range(1000)])
before = gc.get_freeze_count()
run_step(snakemake, step)
print(before, gc.get_freeze_count() - before >= 1000, len(kept))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1:] == ["True", "1000"]
