"""Data and HTML for the batch report (results/reports/cohort.html)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import pandas as pd

from precex.io.tables import merge_sorted
from precex.problems import PROBLEM_COLUMNS
from precex.profile.host import DOMAINS
from precex.reporting.numbers import number
from precex.reporting.patient import environment

SUMMARY_FIELDS = ("status", "triage", "supervision", "aerobic_intensity")
# Rows written into the page itself (it works without JavaScript); the table script pages
# through all rows from the embedded JSON, so 10,000 patients never make 10,000 DOM rows.
FIRST_PAGE = 100
# Per-modality QC in the MultiQC spirit: (host-profile column(s), label, unit, low threshold,
# why the threshold). A patient below it is named as an outlier.
QC_METRICS = (
    ("depth_reads", "Microbiome read depth", "reads", 10_000.0,
     "samples under {min_depth:,} reads (microbiome_min_depth) are excluded from the stage; "
     "between that and 10,000 reads diversity estimates are less stable"),
    (("horvath2013_cpg_coverage", "hannum2013_cpg_coverage", "phenoage2018_cpg_coverage"),
     "Clock CpG coverage (lowest of the clocks)", "fraction of clock CpGs", 0.9,
     "clocks with under 90% of their CpGs are withheld or imprecise"),
    ("wear_days", "Wearable days worn", "days", 4.0,
     "under 4 valid days the activity and resting-HR summaries are unreliable"),
    ("blood_markers_measured", "Safety blood markers measured", "of 5 (platelets, "
     "haemoglobin, neutrophils, WBC, CRP)", 3.0, "missing safety markers cap the plan"),
)
SAFETY_MARKERS = ("platelets_10e9_l", "hemoglobin_g_dl", "neutrophils_10e9_l", "wbc_10e9_l",
                  "crp_mg_l")


def _counts(series: pd.Series) -> list[dict[str, Any]]:
    counts = series.fillna("unknown").astype(str).value_counts().sort_index()
    total = max(int(counts.sum()), 1)
    return [{"label": k, "n": int(v), "pct": round(100 * v / total, 1)}
            for k, v in counts.items()]


def rule_titles(rulebase_path: str = "") -> dict[str, str]:
    """Rule id -> title from the rule base the batch used (the bundled one when not given),
    for human labels."""
    from precex.config import load_yaml
    from precex.paths import resource_path

    path = rulebase_path or str(resource_path("rules", "rulebase.yaml"))
    try:
        return {r["id"]: r["title"] for r in load_yaml(path)["rules"]}
    except Exception:  # noqa: BLE001 - labels only; the ids still show
        return {}


def _count(table: pd.DataFrame, column: str) -> pd.Series:
    """A count column as integers (0 where absent or blank; older tables lack it)."""
    if column not in table:
        return pd.Series(0, index=table.index, dtype=int)
    return pd.to_numeric(table[column], errors="coerce").fillna(0).astype(int)


def intensity_now(rx: pd.DataFrame) -> pd.Series:
    """What each patient may do now (this week's highest intensity, never above the cap);
    the cap alone for a table written before max_intensity_now existed."""
    if "max_intensity_now" not in rx:
        return rx["max_intensity"]
    return rx["max_intensity_now"].where(rx["max_intensity_now"] != "", rx["max_intensity"])


def review_queue(prescriptions: pd.DataFrame, stopped: list[dict[str, Any]] | None = None
                 ) -> list[dict[str, Any]]:
    """Patients a clinician must look at first: an adaptation that stopped, not simply
    prescribed, safety data to obtain, or data issues (rejected, conflicting, stale values)."""
    rows = [{"id": s["id"], "href": s["href"], "status": "stopped by a weekly adaptation",
             "triage": "", "supervision": "", "max_intensity": "none", "data_to_obtain": 0,
             "data_issues": 0, "rank": -1} for s in stopped or []]
    if not prescriptions.empty:
        rx = prescriptions.fillna("")
        to_obtain, issues = _count(rx, "data_to_obtain"), _count(rx, "data_issues")
        waiting = rx[(rx["status"] != "prescribed") | (to_obtain > 0) | (issues > 0)]
        order = {"deferred": 0, "clearance_required": 1, "prescribed": 2}
        rows += [{"id": r["patient_id"], "href": quote(str(r["patient_id"])) + ".html",
                  "status": str(r["status"]).replace("_", " "), "triage": r["triage"],
                  "supervision": r["supervision"],
                  "max_intensity": r.get("max_intensity_now") or r["max_intensity"],
                  "data_to_obtain": int(float(r.get("data_to_obtain") or 0)),
                  "data_issues": int(float(r.get("data_issues") or 0)),
                  "rank": order.get(r["status"], 3)} for _, r in waiting.iterrows()]
    return sorted(rows, key=lambda r: (r["rank"], r["id"]))


def _mean_completeness(profiles: pd.DataFrame) -> pd.Series:
    cols = [f"domain_{d.name}_completeness" for d in DOMAINS
            if f"domain_{d.name}_completeness" in profiles]
    if not cols:
        return pd.Series(0.0, index=profiles.index)
    return (100 * profiles[cols].apply(pd.to_numeric, errors="coerce").mean(axis=1)).round(0)


def patient_table(profiles: pd.DataFrame, prescriptions: pd.DataFrame,
                  titles: dict[str, str], reported: set[str]) -> list[dict[str, Any]]:
    """One row per prescribed patient for the sortable, filterable table (one vectorised
    pass); `reported`: the patients whose report was rendered."""
    if prescriptions.empty:
        return []
    rx = prescriptions.fillna("").astype(str)
    completeness = _mean_completeness(profiles).reindex(rx["patient_id"]).fillna(0)
    flags = rx["safety_rules_fired"].str.split(";").map(
        lambda ids: "; ".join(titles.get(i, i) for i in ids if i))
    counts = {c: _count(rx, c) for c in ("data_to_obtain", "data_issues")}
    frame = pd.DataFrame({
        "id": rx["patient_id"], "status": rx["status"].str.replace("_", " "),
        "triage": rx["triage"], "supervision": rx["supervision"],
        "max_intensity": intensity_now(rx), "flags": flags,
        "obtain": counts["data_to_obtain"], "issues": counts["data_issues"],
        "signoff": rx["signoff"].str.replace("_", " ") if "signoff" in rx else "draft",
        "complete": completeness.astype(int).to_numpy(),
    })
    frame["href"] = frame["id"].map(lambda pid: quote(pid) + ".html")
    frame["report"] = frame["id"].isin(reported).to_numpy()
    return frame.sort_values("id", kind="stable").to_dict("records")


def table_json(rows: list[dict[str, Any]]) -> str:
    """The rows as JSON that is safe inside <script type="application/json">."""
    text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _histogram(values: pd.Series, threshold: float) -> dict[str, Any]:
    """An SVG-ready histogram: 12 bins with their counts, axis labels at min, threshold, max."""
    import numpy as np

    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:  # every patient the same: a narrow band around the value
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    counts, edges = np.histogram(values.to_numpy(dtype=float), bins=12, range=(lo, hi))
    top = max(int(counts.max()), 1)
    bars = [{"x": round(10 + 300 * i / 12, 1), "w": round(300 / 12 - 2, 1),
             "h": round(90 * int(c) / top, 1), "n": int(c),
             "lo": _short(edges[i]), "hi": _short(edges[i + 1])} for i, c in enumerate(counts)]
    mark = 10 + 300 * (threshold - lo) / (hi - lo)
    return {"bars": bars, "top": top, "min": _short(lo), "max": _short(hi),
            "mark": round(mark, 1) if lo <= threshold <= hi else None}


def _short(value: float) -> str:
    """Axis labels and QC values: two decimals below 10, whole numbers above (0 shows as 0)."""
    return number(value, 2 if abs(value) < 10 else 0, trim=True)


def qc_panels(profiles: pd.DataFrame, min_depth: int | None = None) -> list[dict[str, Any]]:
    """Per-modality QC distributions with the patients below each threshold named; the read
    depth's line names the run's exclusion depth (`min_depth`, the config's)."""
    if min_depth is None:
        from precex.config import config_default

        min_depth = int(config_default("microbiome_min_depth"))
    data = profiles.copy()
    present = [c for c in SAFETY_MARKERS if c in data]
    if present:
        data["blood_markers_measured"] = data[present].apply(
            pd.to_numeric, errors="coerce").notna().sum(axis=1)
    panels = []
    for column, label, unit, threshold, why in QC_METRICS:
        cols = [column] if isinstance(column, str) else list(column)
        cols = [c for c in cols if c in data]
        if not cols:
            continue
        values = data[cols].apply(pd.to_numeric, errors="coerce").min(axis=1).dropna()
        if values.empty:
            continue
        low = values[values < threshold].sort_values()
        panels.append({"label": label, "unit": unit, "n": int(len(values)),
                       "missing": int(len(data) - len(values)), "threshold": _short(threshold),
                       "why": why.format(min_depth=min_depth),
                       "median": _short(float(values.median())),
                       "histogram": _histogram(values, threshold),
                       "outliers": [{"id": str(i), "value": _short(float(v))}
                                    for i, v in low.head(25).items()],
                       "n_outliers": int(len(low))})
    return panels


def adaptation_summary(path: str) -> dict[str, Any] | None:
    if not path or not os.path.exists(path):
        return None
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    stopped = table.loc[table["decision"] == "stop", "patient_id"].tolist()
    return {"n": len(table), "decisions": _counts(table["decision"]),
            "stopped": [{"id": pid, "href": "../adaptations/reports/" + quote(
                str(f).rsplit("/", 1)[-1].removesuffix(".json")) + ".html"}
                for pid, f in table.loc[table["decision"] == "stop",
                                        ["patient_id", "file"]].itertuples(index=False)],
            "n_stopped": len(stopped)}


def model_summary(path: str) -> dict[str, Any] | None:
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        card = json.load(handle)
    outcomes = [{"name": name, "label": o.get("label", name), "patients": o.get("patients"),
                 "fitted": o.get("fitted"), "skill": bool(o.get("skill")),
                 "improvement": (o.get("cross_validation") or {}).get(
                     "rmse_improvement_over_best_null")}
                for name, o in sorted((card.get("outcomes") or {}).items())]
    return {"model": card.get("model", ""), "intended_use": card.get("intended_use", ""),
            "outcomes": outcomes}


def cohort_context(profiles: pd.DataFrame, prescriptions: pd.DataFrame,
                   exclusions: pd.DataFrame, problems: pd.DataFrame,
                   provenance: dict[str, Any], reported: set[str], rulebase_path: str = ""
                   ) -> dict[str, Any]:
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
    titles = rule_titles(rulebase_path)
    rows = patient_table(profiles, prescriptions, titles, reported)
    problem_counts = (problems.groupby(["stage", "file"]).size().reset_index(name="n")
                      .to_dict("records") if len(problems) else [])
    return {
        "n_sheet": len(set(profiles.index) | set(exclusions["patient_id"])),
        "n_processed": len(prescriptions),
        "n_excluded_patients": exclusions["patient_id"].nunique(),
        "exclusions": exclusions.sort_values(["stage", "patient_id"]).to_dict("records"),
        "domains": domains,
        # the intensity each patient may do now, as the table shows it (the cap alone counted
        # 'vigorous: 15' above a table that never showed vigorous, issue 42)
        "summaries": {**{f: _counts(prescriptions[f]) for f in SUMMARY_FIELDS},
                      "max_intensity_now": _counts(intensity_now(prescriptions))},
        "flags": [{"rule": k, "title": titles.get(k, k), "n": int(v)}
                  for k, v in flag_counts.items()],
        "review_queue": review_queue(prescriptions),
        "patients": rows[:FIRST_PAGE],
        "n_patients": len(rows),
        "patients_json": table_json(rows),
        "page_size": FIRST_PAGE,
        "qc": qc_panels(profiles, (provenance.get("config") or {}).get("microbiome_min_depth")),
        "problem_counts": problem_counts,
        "problems": problems.head(200).fillna("").to_dict("records"),
        "n_problems": len(problems),
        "provenance": provenance,
    }


def render_cohort_report(profiles_path: str, prescriptions_path: str, exclusions_path: str,
                         problems_paths: list[str], provenance_path: str,
                         report_index_paths: list[str], trial_path: str = "",
                         adaptations_path: str = "", model_card_path: str = "",
                         rulebase_path: str = "") -> str:
    profiles = pd.read_csv(profiles_path, sep="\t", index_col="patient_id", dtype=str)
    for d in DOMAINS:
        comp = f"domain_{d.name}_completeness"
        profiles[comp] = pd.to_numeric(profiles[comp])
    prescriptions = pd.read_csv(prescriptions_path, sep="\t", dtype=str, keep_default_na=False)
    exclusions = pd.read_csv(exclusions_path, sep="\t", dtype=str, keep_default_na=False)
    problems = merge_sorted(problems_paths, (), columns=PROBLEM_COLUMNS)  # in stage order
    reported = set(merge_sorted(report_index_paths, ["patient_id"],
                                columns=["patient_id", "report"])["patient_id"])
    with open(provenance_path, encoding="utf-8") as handle:
        provenance = json.load(handle)
    context = cohort_context(profiles, prescriptions, exclusions, problems, provenance,
                             reported, rulebase_path)
    context["trial"] = trial_balance(trial_path, set(prescriptions["patient_id"])) if (
        trial_path) else None
    context["adaptation"] = adaptation_summary(adaptations_path)
    if context["adaptation"]:
        context["review_queue"] = review_queue(prescriptions, context["adaptation"]["stopped"])
    context["model"] = model_summary(model_card_path)
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
