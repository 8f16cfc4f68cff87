"""Free text in context, judged by the prescription (issue 37): through the sheet reader, the
clinical features, the host profile and the engine, exactly as a run reads a history cell.

Over every class of history term and every way a note says it does not count (denied,
ruled out, a relative's, hypothetical, planned, long past): such a mention gives the same
prescription as no mention. A possible mention ("?DVT") is at least as cautious as no mention,
and an affirmed, current one at least as cautious as the possible one."""

from __future__ import annotations

import pytest
from builders import RB
from precex.clinical.features import clinical_features
from precex.clinical.sheet import read_patient_sheet
from precex.clinical.validated import read_validated, write_validated
from precex.io.tables import write_features
from precex.paths import resource_rows
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.rules import INTENSITIES, STATUSES, SUPERVISION, TRIAGE
from precex.profile.host import merge_modalities
from precex.profile.stage import _read
from vignettes import COLUMNS, DEFAULT, REF

# One or two ways clinics write each class (conditions, devices, medicines, events).
TERMS = {"venous_thromboembolism": ["DVT", "pulmonary embolism"],
         "atrial_fibrillation": ["AF", "atrial fibrillation"],
         "beta_blocker": ["bisoprolol", "atenolol"],
         "rate_control": ["verapamil", "digoxin"],
         "anticoagulation": ["warfarin", "apixaban"],
         "insulin": ["insulin"], "heart_failure": ["heart failure"],
         "coronary_artery_disease": ["angina"], "recent_surgery": ["mastectomy"],
         "central_line": ["PICC line"], "pregnancy": ["pregnant"],
         "seizure": ["seizure"], "osteoporosis": ["osteoporosis"],
         "cardiac_symptoms": ["chest pain", "syncope"],
         "bone_metastases": ["bone mets", "osseous metastases"],
         "pulmonary_hypertension": ["pulmonary hypertension"],
         "valvular_heart_disease": ["aortic stenosis"],
         "interstitial_lung_disease": ["ILD"]}
NOT_COUNTING = {"negated": "no {t}", "denied": "denies {t}", "no history": "no history of {t}",
                "ruled out": "{t} ruled out", "relative": "mother had {t}",
                "family": "family history of {t}", "hypothetical": "if {t}",
                "planned": "{t} planned 2026-03-01", "long past": "{t} 2009",
                "stopped": "stopped {t}"}
# A stop or removal still ahead: the medicine, line or condition is there now.
ENDING = {"to be discontinued": "{t} to be discontinued next month",
          "plan to stop": "plan to stop {t}", "until": "{t} until 2026-03-01",
          "weaning off": "weaning off {t}", "to come out": "{t} to come out next week"}
OTHER = "HTN"  # every row has another, affirmed history term beside the one tested


def _row(pid: str, history: str) -> list[str]:
    cells = {**DEFAULT, "patient_id": pid, "comorbidities": history,
             "treatment_phase": "survivorship"}
    return [cells.get(c, "") for c in COLUMNS]


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, dict]:
    """The prescription of every variant: P-none, then per term P-<i>-<kind>."""
    tmp = tmp_path_factory.mktemp("context")
    rows, self_ids = [_row("P-NONE", OTHER)], {}
    for i, (code, words) in enumerate((c, w) for c, ws in TERMS.items() for w in ws):
        for kind, template in [("possible", "?{t}"), ("affirmed", "{t}"),
                               *NOT_COUNTING.items(), *ENDING.items()]:
            pid = f"T{i:02d}-{kind.replace(' ', '_')}"
            rows.append(_row(pid, f"{OTHER}; {template.format(t=words)}"))
            self_ids[pid] = (code, words, kind)
    sheet_path = tmp / "patients.tsv"
    sheet_path.write_text("\n".join("\t".join(r) for r in [COLUMNS, *rows]) + "\n")
    sheet = read_patient_sheet(sheet_path, reference_date=REF)
    assert not [p for p in sheet.problems if p.excludes], sheet.problems
    write_validated(tmp / "validated.tsv", sheet.patients)
    validated = read_validated(tmp / "validated.tsv")
    write_features(tmp / "clinical.tsv", clinical_features(validated, REF))
    flat = merge_modalities(validated, {"clinical": _read(str(tmp / "clinical.tsv"))})
    out = {p["patient_id"]: p for p in prescribe(flat, RB, EngineSettings(REF))}
    out["_variants"] = self_ids  # type: ignore[assignment]
    return out


def _dose(p: dict) -> tuple:
    return (p["status"], p["triage"], p["supervision"], p["max_intensity"],
            tuple(p["excluded"]), p["intensity_guidance"], p["aerobic"], p["resistance"],
            tuple(p["referrals"]), tuple(d["item"] for d in p["data_to_obtain"]))


def _at_least_as_cautious(a: dict, b: dict) -> bool:
    return (STATUSES.index(a["status"]) >= STATUSES.index(b["status"])
            and TRIAGE.index(a["triage"]) >= TRIAGE.index(b["triage"])
            and SUPERVISION.index(a["supervision"]) >= SUPERVISION.index(b["supervision"])
            and INTENSITIES.index(a["max_intensity"]) <= INTENSITIES.index(b["max_intensity"])
            and set(b["excluded"]) <= set(a["excluded"]))


def _variants(plans: dict, kind: str) -> list[str]:
    return [pid for pid, (_, _, k) in plans["_variants"].items() if k == kind]


# A dated past mention counts only within its code's window (comorbidities.tsv window_weeks);
# a lasting condition ("AF 2009": diagnosed then) has none and still counts.
WINDOWED = {row["code"] for row in resource_rows("clinical", "comorbidities.tsv")
            if row["window_weeks"].strip()}


@pytest.mark.parametrize("kind", sorted(NOT_COUNTING))
def test_a_mention_that_does_not_count_gives_the_prescription_of_no_mention(plans, kind):
    none = _dose(plans["P-NONE"])
    checked = 0
    for pid in _variants(plans, kind):
        code = plans["_variants"][pid][0]
        if kind == "long past" and code not in WINDOWED:
            assert _at_least_as_cautious(plans[pid], plans["P-NONE"]), pid
            continue
        assert _dose(plans[pid]) == none, (pid, plans["_variants"][pid])
        checked += 1
    assert checked >= 10


def test_a_possible_mention_is_at_least_as_cautious_as_none_and_asks_to_confirm(plans):
    changed = 0
    for pid in _variants(plans, "possible"):
        code, words, _ = plans["_variants"][pid]
        assert _at_least_as_cautious(plans[pid], plans["P-NONE"]), pid
        assert any(words.lower() in issue.lower() or code in issue
                   for issue in plans[pid]["data_issues"]), (pid, plans[pid]["data_issues"])
        changed += _dose(plans[pid]) != _dose(plans["P-NONE"])
    assert changed >= 10  # most classes change the plan: the check compares something


def test_an_affirmed_mention_is_at_least_as_cautious_as_a_possible_one(plans):
    for pid in _variants(plans, "affirmed"):
        possible = pid.replace("affirmed", "possible")
        assert _at_least_as_cautious(plans[pid], plans[possible]), pid
        assert _at_least_as_cautious(plans[pid], plans["P-NONE"]), pid


@pytest.mark.parametrize("kind", sorted(ENDING))
def test_a_mention_with_its_end_ahead_counts_as_current_and_asks_to_confirm(plans, kind):
    """'apixaban to be discontinued next month', 'PICC line to come out next week': current
    now, so at least as cautious as the affirmed mention, with an item to confirm the stop."""
    for pid in _variants(plans, kind):
        code, words, _ = plans["_variants"][pid]
        affirmed = pid.split("-", 1)[0] + "-affirmed"  # the same term, affirmed
        assert plans["_variants"][affirmed][:2] == (code, words)
        assert _at_least_as_cautious(plans[pid], plans[affirmed]), (pid, words)
        assert any(words.lower() in issue.lower() and "until it has stopped" in issue
                   for issue in plans[pid]["data_issues"]), (pid, plans[pid]["data_issues"])


def test_bone_metastases_named_in_the_history_are_bone_metastases_of_unknown_stability(plans):
    """A history naming bone metastases, with no bone status in the sheet: the bone rules of
    unknown stability (clearance; no vigorous, high-impact or spinal loading work)."""
    for pid, (code, _, kind) in plans["_variants"].items():
        if code == "bone_metastases" and kind in ("affirmed", "possible", *ENDING):
            assert plans[pid]["status"] == "clearance_required", pid
            assert {"vigorous", "high_impact", "spinal_loading"} <= set(plans[pid]["excluded"])
            assert any("names bone metastases" in i for i in plans[pid]["data_issues"]), pid


def test_cardiopulmonary_disease_named_in_the_history_needs_clearance(plans):
    """Pulmonary hypertension, valve disease and interstitial lung disease are cardiopulmonary
    disease (NCCN high triage): clearance and supervision. 'Pulmonary hypertension' is not
    the blood-pressure code."""
    for pid, (code, _, kind) in plans["_variants"].items():
        if code in ("pulmonary_hypertension", "valvular_heart_disease",
                    "interstitial_lung_disease") and kind == "affirmed":
            assert plans[pid]["status"] == "clearance_required", pid
            assert plans[pid]["triage"] == "high" and plans[pid]["supervision"] == "supervised"
            fired = {t["rule_id"] for t in plans[pid]["trace"] if t["applied"]}
            assert "TRIAGE_HIGH" in fired, pid
    assert plans["P-NONE"]["status"] == "prescribed"


def test_every_variant_was_read(plans):
    expected = 1 + sum(len(ws) for ws in TERMS.values()) * (2 + len(NOT_COUNTING) + len(ENDING))
    assert len(plans) - 1 == expected
