"""Data and HTML for the batch report (results/reports/cohort.html)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import pandas as pd

from precex.profile.host import DOMAINS
from precex.reporting.patient import environment

SUMMARY_FIELDS = ("status", "triage", "supervision", "max_intensity", "aerobic_intensity")


def _counts(series: pd.Series) -> list[dict[str, Any]]:
    counts = series.fillna("unknown").astype(str).value_counts().sort_index()
    total = max(int(counts.sum()), 1)
    return [{"label": k, "n": int(v), "pct": round(100 * v / total, 1)}
            for k, v in counts.items()]


def rule_titles(provenance: dict[str, Any]) -> dict[str, str]:
    """Rule id -> title from the rule base the batch used, for human labels."""
    from precex.config import load_yaml
    from precex.paths import resource_path

    path = (provenance.get("config") or {}).get("rulebase") or str(
        resource_path("rules", "rulebase.yaml"))
    try:
        return {r["id"]: r["title"] for r in load_yaml(path)["rules"]}
    except Exception:  # noqa: BLE001 - labels only; the ids still show
        return {}


def review_queue(prescriptions: pd.DataFrame) -> list[dict[str, Any]]:
    """Patients a clinician must look at first: not simply prescribed, or data to obtain."""
    if prescriptions.empty:
        return []
    rx = prescriptions.fillna("")
    to_obtain = pd.to_numeric(rx.get("data_to_obtain", 0), errors="coerce").fillna(0)
    waiting = rx[(rx["status"] != "prescribed") | (to_obtain > 0)]
    order = {"deferred": 0, "clearance_required": 1, "prescribed": 2}
    rows = [{"id": r["patient_id"], "href": quote(str(r["patient_id"])) + ".html",
             "status": str(r["status"]).replace("_", " "), "triage": r["triage"],
             "supervision": r["supervision"], "max_intensity": r["max_intensity"],
             "data_to_obtain": int(float(r.get("data_to_obtain") or 0)),
             "rank": order.get(r["status"], 3)} for _, r in waiting.iterrows()]
    return sorted(rows, key=lambda r: (r["rank"], r["id"]))


def cohort_context(profiles: pd.DataFrame, prescriptions: pd.DataFrame,
                   exclusions: pd.DataFrame, problems: pd.DataFrame,
                   provenance: dict[str, Any], report_dir: str) -> dict[str, Any]:
    domains = []
    for d in DOMAINS:
        col = f"domain_{d.name}"
        comp = f"domain_{d.name}_completeness"
        domains.append({
            "name": d.name, "grade": d.grade,
            "completeness": round(100 * float(profiles[comp].mean()), 1) if len(profiles) else 0,
            "categories": _counts(profiles[col]) if col in profiles else [],
        })
    flags = prescriptions["safety_rules_fired"].fillna("").astype(str).str.split(";")
    flag_counts = pd.Series([f for fs in flags for f in fs if f]).value_counts().sort_index()
    titles = rule_titles(provenance)
    links = []
    for pid in prescriptions["patient_id"].astype(str):
        exists = os.path.exists(os.path.join(report_dir, f"{pid}.html"))
        links.append({"id": pid, "href": quote(pid) + ".html", "exists": exists})
    problem_counts = (problems.groupby(["stage", "file"]).size().reset_index(name="n")
                      .to_dict("records") if len(problems) else [])
    return {
        "n_sheet": len(set(profiles.index) | set(exclusions["patient_id"])),
        "n_processed": len(prescriptions),
        "n_excluded_patients": exclusions["patient_id"].nunique(),
        "exclusions": exclusions.sort_values(["stage", "patient_id"]).to_dict("records"),
        "domains": domains,
        "summaries": {f: _counts(prescriptions[f]) for f in SUMMARY_FIELDS},
        "flags": [{"rule": k, "title": titles.get(k, k), "n": int(v)}
                  for k, v in flag_counts.items()],
        "review_queue": review_queue(prescriptions),
        "links": links,
        "problem_counts": problem_counts,
        "problems": problems.head(200).fillna("").to_dict("records"),
        "n_problems": len(problems),
        "provenance": provenance,
    }


def render_cohort_report(profiles_path: str, prescriptions_path: str, exclusions_path: str,
                         problems_paths: list[str], provenance_path: str,
                         report_dir: str, trial_path: str = "") -> str:
    profiles = pd.read_csv(profiles_path, sep="\t", index_col="patient_id", dtype=str)
    for d in DOMAINS:
        comp = f"domain_{d.name}_completeness"
        profiles[comp] = pd.to_numeric(profiles[comp])
    prescriptions = pd.read_csv(prescriptions_path, sep="\t", dtype=str, keep_default_na=False)
    exclusions = pd.read_csv(exclusions_path, sep="\t", dtype=str, keep_default_na=False)
    frames = [pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in problems_paths
              if os.path.exists(p)]
    problems = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["stage", "file", "row", "column", "patient_id", "message", "fix"])
    with open(provenance_path, encoding="utf-8") as handle:
        provenance = json.load(handle)
    context = cohort_context(profiles, prescriptions, exclusions, problems, provenance,
                             report_dir)
    context["trial"] = trial_balance(trial_path, set(prescriptions["patient_id"])) if (
        trial_path) else None
    return environment().get_template("cohort.html.j2").render(**context)


def trial_balance(trial_path: str, prescribed: set[str]) -> dict[str, Any]:
    """Arm balance by stratum in the allocation log, and among this batch's patients."""
    from precex.trial.allocation import ARMS, balance, read_log_rows

    log = read_log_rows(trial_path)  # the chain of every row is verified
    batch = log[log["patient_id"].isin(prescribed)]
    rows = []
    for name, frame in (("all allocated", log), ("prescribed in this batch", batch)):
        table = balance(frame) if len(frame) else None
        if table is None:
            continue
        for stratum, counts in table.iterrows():
            rows.append({"scope": name, "stratum": stratum,
                         **{arm: int(counts[arm]) for arm in ARMS}})
    return {"arms": list(ARMS), "rows": rows}
