"""precex adapt for one patient, and the batch job behind the Snakemake `adapt` target."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
from jsonschema import Draft202012Validator

from precex.adaptation.engine import adapt
from precex.adaptation.features import adaptation_features, issue_date, validate_days
from precex.config import load_yaml
from precex.io.files import json_dumps, read_delimited, write_text, write_tsv
from precex.io.stage_output import write_stage_outputs
from precex.paths import schema_path
from precex.prescription.rules import load_rulebase
from precex.problems import InputError, Problem
from precex.profile.host import known_features

SUMMARY = ["patient_id", "week", "decision", "current_week", "status", "data_through", "file"]


def read_table(path: str, what: str) -> pd.DataFrame:
    return read_delimited(path, "adaptation", what)


def load_prescription(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputError([Problem(path, f"cannot be read as JSON ({err}).",
                                  "give a prescription written by precex.",
                                  stage="adaptation")]) from None
    errors = list(Draft202012Validator(load_yaml(schema_path("prescription.schema.yaml")))
                  .iter_errors(data))
    if errors:
        raise InputError([Problem(path, f"not a precex prescription: {e.message} (at "
                                  f"{'/'.join(map(str, e.absolute_path)) or 'top level'}).",
                                  "give a results/prescriptions/<patient>.json file.",
                                  stage="adaptation") for e in errors[:5]])
    return data


def _last_day(*frames: pd.DataFrame | None) -> dt.date | None:
    days = [d for f in frames if f is not None and len(f) for d in f["day"].dropna()]
    return max(days) if days else None


def read_followup(wearables_path: str, symptoms_path: str | None, issued: dict[str, dt.date]
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[Problem]]:
    """The follow-up wearable (and symptom) days, validated against each patient's date."""
    wear, problems = validate_days(read_table(wearables_path, "wearables"), wearables_path,
                                   issued, "wearables")
    sym = None
    if symptoms_path:
        sym, found = validate_days(read_table(symptoms_path, "symptoms"), symptoms_path, issued,
                                   "symptoms")
        problems += found
    return wear, sym, problems


def adapt_one(prescription_path: str, wearables_path: str, symptoms_path: str | None,
              out_path: str, rulebase_path: str) -> dict[str, Any]:
    """CLI use: every problem in the inputs is an error (nothing silently ignored)."""
    prescription = load_prescription(prescription_path)
    issued = {prescription["patient_id"]: issue_date(prescription)}
    wear, sym, problems = read_followup(wearables_path, symptoms_path, issued)
    if problems:
        raise InputError(problems)
    rulebase = load_rulebase(rulebase_path, known_features())
    features = adaptation_features(prescription, wear, sym, symptoms_path or "")
    through = _last_day(wear, sym) or issue_date(prescription)
    adapted = adapt(prescription, features, rulebase, through)
    write_text(out_path, json_dumps(adapted))
    return adapted


def run_batch(prescriptions_tsv: str, results: str, wearables_path: str,
              symptoms_path: str | None, rulebase_path: str, out_dir: str, out_table: str,
              out_exclusions: str, out_problems: str, report_dir: str | None = None,
              notebook: str | None = None, provenance: str | None = None) -> None:
    """The batch: a patient whose data has a problem is excluded (stage adaptation)."""
    ids = pd.read_csv(prescriptions_tsv, sep="\t", dtype=str, keep_default_na=False)[
        "patient_id"].tolist()
    rx_dir = Path(results) / "prescriptions"
    prescriptions = {pid: load_prescription(str(rx_dir / f"{pid}.json")) for pid in ids}
    issued = {pid: issue_date(p) for pid, p in prescriptions.items()}
    wear, sym, problems = read_followup(wearables_path, symptoms_path, issued)
    rulebase = load_rulebase(rulebase_path, known_features())
    excluded = {p.patient_id for p in problems if p.patient_id}
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    # Split each table by patient once (a filter per patient would cost patients x rows).
    wear_by = dict(tuple(wear.groupby("patient_id", sort=False)))
    sym_by = dict(tuple(sym.groupby("patient_id", sort=False))) if sym is not None else {}
    empty_wear = wear.iloc[0:0]
    empty_sym = sym.iloc[0:0] if sym is not None else None
    for pid, prescription in prescriptions.items():
        if pid in excluded:
            continue
        mine = wear_by.get(pid, empty_wear)
        their_sym = sym_by.get(pid, empty_sym) if sym is not None else None
        try:
            features = adaptation_features(prescription, mine, their_sym, symptoms_path or "")
        except InputError as err:
            problems += [Problem(q.file, q.message, q.fix, q.row, q.column, pid, "adaptation")
                         for q in err.problems]
            continue
        through = _last_day(mine, their_sym) or issue_date(prescription)
        adapted = adapt(prescription, features, rulebase, through)
        week = adapted["adaptation"]["week"]
        name = f"{pid}.week-{week}.json"
        write_text(Path(out_dir) / name, json_dumps(adapted))
        rows.append({"patient_id": pid, "week": week,
                     "decision": adapted["adaptation"]["decision"],
                     "current_week": adapted["adaptation"]["current_week"],
                     "status": adapted["status"], "data_through": through.isoformat(),
                     "file": f"adaptations/prescriptions/{name}"})
    if report_dir and notebook and provenance:
        problems += render_reports(rows, results, out_dir, report_dir, notebook, provenance)
    write_tsv(out_table, pd.DataFrame(rows, columns=SUMMARY))
    write_stage_outputs(problems, "adaptation", out_exclusions, out_problems)


def render_reports(rows: list[dict[str, Any]], results: str, out_dir: str, report_dir: str,
                   notebook: str, provenance: str) -> list[Problem]:
    """Each adapted prescription rendered with the patient-report notebook (one warm kernel);
    the report then shows the plan for the coming week and the history of adaptations."""
    from precex.reporting.runner import RenderJob, render_many

    os.makedirs(report_dir, exist_ok=True)
    jobs = [RenderJob(r["patient_id"], {
        "profile_path": os.path.abspath(Path(results) / "profiles" / f"{r['patient_id']}.json"),
        "prescription_path": os.path.abspath(Path(out_dir) / Path(r["file"]).name),
        "provenance_path": os.path.abspath(provenance),
    }, str(Path(report_dir) / Path(r["file"]).with_suffix(".html").name)) for r in rows]
    failures = render_many(notebook, jobs) if jobs else {}
    return [Problem(notebook, message, "see the job log.", patient_id=pid, stage="adaptation")
            for pid, message in sorted(failures.items())]
