"""Every follow-up week adapted (issue 30): the split by week, the weekly blood-count re-check
(a recovered count lifts its cap, a new low or unreadable count adds one), and the chain of
weeks (each from the week before, its sign-off lapsing when a past week changes)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from builders import RB, REF, patient_row
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.adaptation.blood_recheck import newest_counts, read_followup_counts
from precex.adaptation.engine import adapt
from precex.adaptation.stage import (
    FOLLOWUP_KINDS,
    SplitInputs,
    SplitOutputs,
    SplitParams,
    split_followup,
    week_numbers,
)
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.rules import INTENSITIES, STATUSES
from precex.prescription.signoff import prescription_digest

COUNTS = {"platelets_10e9_l": 220.0, "hemoglobin_g_dl": 12.5, "neutrophils_10e9_l": 3.0,
          "wbc_10e9_l": 6.0}


def patient(**changes) -> dict:
    return patient_row(**{**COUNTS, **{f"{n}_date": "2026-01-02" for n in (
        "platelets", "hemoglobin", "neutrophils", "wbc")}, **changes})


def prescribed(**changes) -> tuple[dict, dict]:
    row = patient(**changes)
    return prescribe(pd.DataFrame([row], index=["A"]), RB, EngineSettings(REF))[0], row


def counts_of(rows: list[dict]) -> dict:
    table = pd.DataFrame(rows)
    found, problems = read_followup_counts(table, "lab.tsv", {"A": REF})
    return newest_counts(found, "lab.tsv").get("A", {}), problems


def recheck(prescription: dict, counts: dict, week_end=REF + dt.timedelta(days=7)) -> dict:
    """The week's plan with the week's counts and no wearable data (the plan holds)."""
    return adapt(prescription, {"followup_days": 0}, RB, week_end, [], counts)


def test_week_numbers_count_whole_weeks_after_the_reference_date():
    dates = pd.Series(["2026-01-06", "2026-01-12", "2026-01-13", "2026-01-26", "2026-01-27",
                       "2026-01-05", "06/01/2026", ""])
    assert week_numbers(dates, REF).tolist() == [1, 1, 2, 3, 4, 1, 1, 1]


def test_split_writes_each_week_and_who_is_adapted_through_which_day(tmp_path):
    days = [REF + dt.timedelta(days=d) for d in range(1, 18)]  # weeks 1, 2 and 3 days 15-17
    table = pd.DataFrame({"patient_id": "A", "date": [d.isoformat() for d in days],
                          "mvpa_min": 30})
    table.loc[len(table)] = {"patient_id": "B", "date": "2026-01-08", "mvpa_min": 10}
    table.loc[len(table)] = {"patient_id": "B", "date": "2026-03-30", "mvpa_min": 10}  # week 12
    source = tmp_path / "followup.tsv"
    table.to_csv(source, sep="\t", index=False)
    paths = [str(tmp_path / "shard0001" / "followup" / f"week-{w}.{k}.tsv")
             for w in (1, 2, 3, 4) for k in FOLLOWUP_KINDS]
    split_followup(inputs=SplitInputs(wearables=str(source)),
                   outputs=SplitOutputs(tables=paths, problems=str(tmp_path / "problems.tsv")),
                   params=SplitParams(shards={"shard0001": ["A", "B"]},
                                      reference_date=REF.isoformat(), weeks=4))

    def read(week, kind):
        return pd.read_csv(tmp_path / "shard0001" / "followup" / f"week-{week}.{kind}.tsv",
                           sep="\t", dtype=str)

    assert read(1, "patients").values.tolist() == [["A", "2026-01-12"], ["B", "2026-01-08"]]
    assert read(2, "patients").values.tolist() == [["A", "2026-01-19"]]
    assert read(3, "patients").values.tolist() == [["A", "2026-01-22"]]  # the newest day
    assert read(4, "patients").empty
    assert read(2, "wearables")["source_row"].tolist() == [str(r) for r in range(8, 15)]
    problems = pd.read_csv(tmp_path / "problems.tsv", sep="\t")
    assert problems["row"].tolist() == [19] and "after week 4" in problems["message"][0]
    assert problems["patient_id"].tolist() == ["B"]


def test_a_recovered_neutrophil_count_lifts_its_cap_and_says_so():
    base, _ = prescribed(neutrophils_10e9_l=1.1)
    assert "group_sessions" in base["excluded"]
    counts, problems = counts_of([{"patient_id": "A", "marker": "ANC", "value": "2,6",
                                   "unit": "10*9/L", "date": "2026-01-09"}])
    assert not problems and counts["neutrophils"]["value"] == 2.6
    adapted = recheck(base, counts)
    assert "SAFETY_NEUTROPENIA" not in adapted["adaptation"]["safety_rules"]
    assert "group_sessions" not in adapted["excluded"]
    lifted = [t for t in adapted["trace"] if t["rule_id"] == "SAFETY_NEUTROPENIA"]
    assert lifted and not lifted[0]["applied"] and "2.6 on 2026-01-09" in lifted[0]["note"]
    assert "lab.tsv row 1" in lifted[0]["note"]
    assert adapted["safety_inputs"]["neutrophils"]["value"] == 2.6
    assert adapted["safety_inputs"]["neutrophils"]["date"] == "2026-01-09"
    assert any("cap lifted" in c for c in adapted["adaptation"]["changes"])


def test_a_new_low_platelet_count_adds_its_cap_in_the_trace():
    base, _ = prescribed()
    counts, _ = counts_of([{"patient_id": "A", "marker": "Platelets", "value": "35",
                            "unit": "x10^9/L", "date": "2026-01-10"}])
    adapted = recheck(base, counts)
    assert "SAFETY_PLATELETS_20_50" in adapted["adaptation"]["safety_rules"]
    assert "vigorous" in adapted["excluded"] and adapted["max_intensity"] != "vigorous"
    assert any(t["rule_id"] == "SAFETY_PLATELETS_20_50" and t["applied"]
               and "weekly re-check" in t["note"] for t in adapted["trace"])


def test_no_new_count_keeps_the_caps_as_they_are():
    base, _ = prescribed(neutrophils_10e9_l=1.1)
    adapted = recheck(base, {})
    assert adapted["excluded"] == base["excluded"]
    assert not [t for t in adapted["trace"] if "weekly re-check" in t["note"]]
    assert not [c for c in adapted["adaptation"]["changes"] if c.startswith("cap")]


def test_an_unreadable_count_during_chemotherapy_is_capped_never_read_as_normal():
    base, _ = prescribed(in_chemotherapy=True, myelosuppressive_therapy=True)
    counts, problems = counts_of([{"patient_id": "A", "marker": "platelets", "value": "see lab",
                                   "unit": "10^9/L", "date": "2026-01-09"}])
    assert counts["platelets"]["state"] == "rejected" and problems
    assert problems[0].patient_id == "A" and not problems[0].excludes and problems[0].row == 1
    adapted = recheck(base, counts)
    assert "SAFETY_CBC_MISSING_IN_CHEMO" in adapted["adaptation"]["safety_rules"]
    assert INTENSITIES.index(adapted["max_intensity"]) <= INTENSITIES.index("moderate")
    assert adapted["safety_inputs"]["platelets"]["state"] == "rejected"


def test_same_day_counts_that_differ_use_the_lowest_and_are_flagged():
    counts, _ = counts_of([
        {"patient_id": "A", "marker": "platelets", "value": "140", "unit": "10^9/L",
         "date": "2026-01-09"},
        {"patient_id": "A", "marker": "platelets", "value": "45", "unit": "10^9/L",
         "date": "2026-01-09"},
        {"patient_id": "A", "marker": "platelets", "value": "30", "unit": "10^9/L",
         "date": "2026-01-07"}])
    assert counts["platelets"]["value"] == 45 and counts["platelets"]["state"] == "conflicting"


@settings(max_examples=25, deadline=None)
@given(low=st.floats(5, 400), high=st.floats(5, 400))
def test_a_lower_platelet_count_never_relaxes_the_week(low, high):
    low, high = sorted((low, high))
    base, _ = prescribed()
    plans = {}
    for value in (low, high):
        counts, _ = counts_of([{"patient_id": "A", "marker": "platelets", "value": str(value),
                                "unit": "10^9/L", "date": "2026-01-09"}])
        plans[value] = recheck(base, counts)
    worse, better = plans[low], plans[high]
    assert INTENSITIES.index(worse["max_intensity"]) <= INTENSITIES.index(
        better["max_intensity"])
    assert STATUSES.index(worse["status"]) >= STATUSES.index(better["status"])
    assert set(better["excluded"]) <= set(worse["excluded"])
    assert (worse["this_week"] or {}).get("weekly_met_minutes", 0) <= (
        better["this_week"] or {}).get("weekly_met_minutes", 0)


def test_each_week_is_adapted_from_the_week_before_and_names_it():
    base, _ = prescribed()
    week1 = adapt(base, {"followup_days": 7, "aerobic_adherence_pct": 95.0}, RB,
                  REF + dt.timedelta(days=7))
    week2 = adapt(week1, {"followup_days": 7, "aerobic_adherence_pct": 95.0}, RB,
                  REF + dt.timedelta(days=14))
    assert week2["adaptation"]["week"] == 2
    assert week2["adaptation"]["data_from"] == "2026-01-13"
    assert week2["adaptation"]["based_on"] == prescription_digest(week1)
    assert [h["week"] for h in week2["adaptation_history"]] == [1, 2]
    assert "signoff" not in week2  # each week is signed on its own


def test_a_count_names_its_file_not_where_the_batch_lives():
    """Outputs never depend on the batch's folder: the re-check names the file, not its path
    (the demo's adapted weeks differed between two checkouts by the path alone)."""
    counts = pd.DataFrame({"patient_id": ["A"], "marker": ["platelets"], "value": [35.0],
                           "date": [dt.date(2026, 1, 21)], "state": ["measured"], "row": [3]})
    entry = newest_counts(counts, "/data/site/batch7/followup_blood.tsv")["A"]["platelets"]
    assert entry["source"] == "followup_blood.tsv row 3"


def test_a_red_flag_is_acted_on_in_the_run_that_receives_it(tmp_path):
    """Chest pain reported on Friday 16 January, in the middle of follow-up week 2 (data
    through that Friday): this run's week-2 plan stops, dated that Friday, in the plan, the
    handout, the FHIR bundle and the review queue - not the next week's."""
    import json

    from precex.adaptation.stage import ShardInputs, ShardOutputs, ShardParams, run_shard
    from precex.paths import resource_path
    from precex.prescription.review import latest_weeks

    base, _ = prescribed()
    (tmp_path / "rx").mkdir()
    (tmp_path / "rx" / "A.json").write_text(json.dumps(base))
    days = [REF + dt.timedelta(days=d) for d in range(1, 12)]  # through Fri 16 Jan
    wear = pd.DataFrame({"Patient ID": "A", "Date": [d.strftime("%Y/%m/%d") for d in days],
                         "Intensity Minutes": 30, "Resting HR": 60})
    wear_path = tmp_path / "garmin.csv"
    wear.to_csv(wear_path, index=False)
    symptoms = pd.DataFrame({"patient_id": ["A", "A"], "date": ["2026-01-08", "2026-01-16"],
                             "chest_pain": ["no", "yes"]})
    sym_path = tmp_path / "epro.tsv"
    symptoms.to_csv(sym_path, sep="\t", index=False)
    folder = tmp_path / "shard" / "followup"
    tables = [str(folder / f"week-{w}.{k}.tsv") for w in (1, 2) for k in FOLLOWUP_KINDS]
    split_followup(inputs=SplitInputs(wearables=str(wear_path), symptoms=str(sym_path)),
                   outputs=SplitOutputs(tables=tables, problems=str(tmp_path / "split.tsv")),
                   params=SplitParams(shards={"shard": ["A"]}, reference_date=REF.isoformat(),
                                      weeks=2))
    summary = tmp_path / "summary.tsv"
    pd.DataFrame({"patient_id": ["A"]}).to_csv(summary, sep="\t", index=False)
    results = tmp_path / "results" / "adaptations" / "prescriptions"
    previous = tmp_path / "rx"
    for week in (1, 2):
        out = tmp_path / f"week{week}"
        run_shard(inputs=ShardInputs(
            summary=str(summary), profiles=str(tmp_path / "profiles"),
            prescriptions=str(previous),
            followup_wearables=str(folder / f"week-{week}.wearables.tsv"),
            followup_symptoms=str(folder / f"week-{week}.symptoms.tsv"),
            patients=str(folder / f"week-{week}.patients.tsv"),
            rulebase=str(resource_path("rules", "rulebase.yaml")), provenance=""),
            outputs=ShardOutputs(adaptations=str(out / "adaptations"),
                                 reports=str(out / "reports"), table=str(out / "t.tsv"),
                                 exclusions=str(out / "e.tsv"), problems=str(out / "p.tsv"),
                                 handouts=str(out / "handouts")),
            params=ShardParams(wearables_source=str(wear_path), symptoms_source=str(sym_path),
                               week=week, care_team_phone="020 7946 0000"))
        previous = out / "adaptations"
    plan = json.loads((previous / "A.week-2.json").read_text())
    assert plan["adaptation"]["decision"] == "stop"
    assert plan["adaptation"]["data_through"] == "2026-01-16"
    assert plan["adaptation"]["features"]["red_flags"] == "chest pain on 2026-01-16"
    assert plan["schedule"][0]["date"] == "2026-01-17"  # from the day after the report
    handout = (tmp_path / "week2" / "handouts" / "A.week-2.html").read_text()
    assert "you reported chest pain on Fri 16 Jan" in handout
    bundle = json.loads((previous / "A.week-2.fhir.json").read_text())
    assert bundle["entry"][0]["resource"]["status"] == "on-hold"
    assert "chest pain on Fri 16 Jan" in bundle["entry"][1]["resource"]["patientInstruction"]
    results.mkdir(parents=True)
    for path in previous.glob("A.week-2*"):
        (results / path.name).write_text(path.read_text())
    row = latest_weeks(tmp_path / "results", {})["A"]
    assert row["status"] == "stopped" and "chest pain on 2026-01-16" in row["needs"]
