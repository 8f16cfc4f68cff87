"""Realistic messy clinical vignettes and the decisions a careful exercise-oncology clinician
would expect (issue 15). Shared by the in-process test (tests/unit/test_vignettes.py) and the
pipeline run (tests/e2e/test_vignettes_pipeline.py).

Each vignette is written the way a clinic exports it: lab unit spellings (x10E3/uL, G/L,
cells/mm3, mmol/L haemoglobin, UCUM codes), censored results ('<20'), decimal commas, blanks and
'n/a', free-text agents, comorbidities and bone sites, contradictions, past infusion dates and a
wearable with an acute resting-HR rise.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from precex.prescription.fhir import prescription_bundle, validate_bundle
from precex.prescription.rules import INTENSITIES, SUPERVISION
from precex.reporting.handout import render_handout

REF = dt.date(2026, 1, 5)
COLUMNS = ["patient_id", "age", "sex", "height_cm", "weight_kg", "stage", "treatment_phase",
           "agents", "next_infusion_date", "cycle_length_days", "bone_metastases",
           "bone_metastasis_sites", "lvef_pct", "fever", "temperature_c", "resting_hr",
           "blood_pressure", "vo2peak_ml_kg_min", "hr_max_measured", "gait_speed_m_s",
           "comorbidities", "surgery_date", "neuropathy_grade", "bmd_t_score"]
DEFAULT = {"age": "55", "sex": "F", "height_cm": "165", "weight_kg": "65", "stage": "II",
           "treatment_phase": "survivorship", "fever": "no", "resting_hr": "68",
           "blood_pressure": "124/78", "lvef_pct": "62"}
NORMAL_CBC = [("platelets", "240", "10^9/L"), ("hemoglobin", "13.1", "g/dL"),
              ("neutrophils", "4.1", "10^9/L"), ("wbc", "6.4", "10^9/L")]

# id: (sheet cells, blood rows (marker, value, unit[, date]), expectations)
VIGNETTES: dict[str, tuple[dict, list, dict]] = {
    "V01": ({"treatment_phase": "adjuvant chemotherapy", "agents": "paclitaxel"},
            [("PLT", "18", "x10E3/uL"), ("Hgb", "11.9", "g/dL"), ("ANC", "2.1", "10*3/uL")],
            {"status": "clearance_required", "max": "light", "excluded": {"resistance"}}),
    "V02": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "45", "G/L"), ("hemoglobin", "12", "g/dL"), ("neutrophils", "3", "G/L")],
            {"max": "moderate", "excluded": {"resistance"}}),
    "V03": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "42000", "/mm3"), ("hemoglobin", "125", "g/L"),
             ("neutrophils", "3100", "cells/mm3")],
            {"max": "moderate", "excluded": {"resistance"}}),
    "V04": ({}, [("haemoglobin", "4.3", "mmol/L")], {"status": "deferred", "max": "none"}),
    "V05": ({}, [("Hb", "72", "g/L")], {"status": "clearance_required", "max": "light"}),
    "V06": ({"treatment_phase": "neoadjuvant_chemo"},
            [("platelets", "18", "10^9/L"), ("platelets", "182", "10^9/L"),
             ("hemoglobin", "12", "g/dL"), ("neutrophils", "3", "10^9/L")],
            {"status": "clearance_required", "max": "light", "state": ("platelets",
                                                                        "conflicting")}),
    "V07": ({"treatment_phase": "n/a", "agents": "Paclitaxel 80 mg/m2 weekly"}, [],
            {"max": "moderate", "obtain": "Full blood count"}),
    "V08": ({"treatment_phase": "endocrine", "agents": "letrozole", "vo2peak_ml_kg_min": "31"},
            [], {"status": "prescribed", "no_obtain": True, "max": "vigorous"}),
    "V09": ({"treatment_phase": "", "agents": "AC-T", "lvef_pct": ""},
            NORMAL_CBC, {"max": "moderate", "obtain": "LVEF"}),
    "V10": ({"treatment_phase": "anti_her2", "agents": "Herceptin", "lvef_pct": "48"}, [],
            {"status": "clearance_required", "max": "moderate", "supervision": "supervised"}),
    "V11": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastasis_sites": "T7, L2"},
            [], {"status": "clearance_required", "max": "moderate",
                 "excluded": {"spinal_loading", "overhead_pressing", "high_impact"},
                 "obtain": "Bone metastasis status"}),
    "V12": ({"bone_metastases": "none", "bone_metastasis_sites": "left femur"}, [],
            {"status": "clearance_required", "max": "moderate",
             "excluded": {"lower_body_loading", "high_impact"}, "state": ("bone", "conflicting")}),
    "V13": ({"stage": "IV", "treatment_phase": "metastatic"}, [],
            {"status": "clearance_required", "max": "moderate", "excluded": {"vigorous"}}),
    "V14": ({"stage": "IV", "bone_metastases": "Stable", "bone_metastasis_sites": "ribs"}, [],
            {"status": "clearance_required", "excluded": {"upper_body_loading"},
             "supervision": "supervised"}),
    "V15": ({"comorbidities": "AF, on bisoprolol"}, [],
            {"status": "clearance_required", "guidance": "rpe", "no_hr_target": True}),
    "V16": ({"comorbidities": "T2DM on insulin"}, [("glucose", "15.2", "mmol/L")],
            {"status": "clearance_required", "max": "moderate", "obtain": "Ketones"}),
    "V17": ({}, [("Glucose", "290", "mg/dL")], {"status": "clearance_required"}),
    "V18": ({"comorbidities": "L ALND, drain in situ", "treatment_phase": "post-op"}, [],
            {"max": "moderate", "excluded": {"upper_body_loading", "overhead_pressing"},
             "supervision": "supervised", "no_exercise": "shoulder press"}),
    "V19": ({"weight_kg": "47"}, [],
            {"status": "clearance_required", "max": "moderate", "supervision": "supervised"}),
    "V20": ({}, [("albumin", "3.1", "g/dL")], {"status": "clearance_required", "max": "moderate"}),
    "V21": ({"age": "84"}, [], {"balance": True, "supervision": "supervised"}),
    "V22": ({"age": "74", "gait_speed_m_s": "0.7"}, [], {"balance": True}),
    "V23": ({"treatment_phase": "adjuvant_chemo", "agents": "EC",
             "next_infusion_date": "2025-12-20", "cycle_length_days": "21"}, NORMAL_CBC,
            {"infusion_day": "2026-01-10", "max": "vigorous_or_lower"}),
    "V24": ({"treatment_phase": "adjuvant_chemo", "next_infusion_date": "2025-12-20"},
            NORMAL_CBC, {"max": "moderate", "obtain": "infusion date"}),
    "V25": ({"resting_hr": "66"}, [],
            {"status": "clearance_required", "max": "light", "wearable_rise": True}),
    "V26": ({"resting_hr": "72 bpm", "lvef_pct": "60%", "vo2peak_ml_kg_min": "30"}, [],
            {"status": "prescribed", "no_obtain": True}),
    "V27": ({"fever": "yes"}, [], {"status": "deferred", "max": "none"}),
    "V28": ({"fever": "", "temperature_c": "101.3 F"}, [], {"status": "deferred"}),
    "V29": ({"fever": "maybe"}, [],
            {"status": "clearance_required", "state": ("fever", "rejected")}),
    "V30": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "200", "10*9/L"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "0.4", "10*9/L")],
            {"status": "clearance_required", "max": "light", "excluded": {"public_facilities"}}),
    "V31": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "200", "10^9/L"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "12", "%"), ("WBC", "3.0", "x10^9/L")],
            {"status": "clearance_required", "max": "light"}),
    "V32": ({}, [("WBC", "1,8", "G/L")], {"max": "moderate", "excluded": {"public_facilities"}}),
    "V33": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "<20", "10^9/L"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "3", "10^9/L")],
            {"status": "clearance_required", "max": "light"}),
    "V34": ({"blood_pressure": "212/104"}, [], {"status": "clearance_required", "max": "light"}),
    "V35": ({"resting_hr": "80", "hr_max_measured": "95"}, [],
            {"guidance": "rpe", "no_hr_target": True}),
    "V36": ({"comorbidities": "Heart Disease!"}, [],
            {"data_issue": "heart disease", "triage": "moderate"}),
    "V37": ({"treatment_phase": "endocrine", "agents": "palbociclib; letrozole"}, [],
            {"max": "moderate", "obtain": "Full blood count"}),
    "V38": ({"comorbidities": "DVT on apixaban"}, [],
            {"status": "clearance_required", "excluded": {"high_impact"}}),
    "V39": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "150", "furlongs"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "3", "10^9/L")],
            {"max": "moderate", "obtain": "Full blood count", "data_issue": "furlongs",
             "state": ("platelets", "rejected")}),
    "V40": ({"vo2peak_ml_kg_min": "33"}, NORMAL_CBC,
            {"status": "prescribed", "no_obtain": True, "max": "vigorous"}),
    "V41": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "220", "10^9/L", "2025-06-01"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "3", "10^9/L")],
            {"max": "moderate", "obtain": "Full blood count", "state": ("platelets", "stale")}),
    "V42": ({"treatment_phase": "post_surgery", "surgery_date": "2025-12-20"}, [],
            {"excluded": {"upper_body_loading"}}),
    "V43": ({"lvef_pct": "35%"}, [],
            {"status": "clearance_required", "max": "light", "supervision": "clinical"}),
    "V44": ({"blood_pressure": "", "comorbidities": "hypertension"}, [],
            {"max": "moderate", "obtain": "blood pressure"}),
    "V45": ({"treatment_phase": "AC cycle 2 of 4"}, [],
            {"max": "moderate", "obtain": "Full blood count"}),
    "V46": ({"stage": "T2N1M1", "treatment_phase": ""}, [],
            {"status": "clearance_required", "max": "moderate", "excluded": {"vigorous"}}),
    "V47": ({"fever": "afebrile", "vo2peak_ml_kg_min": "32"}, NORMAL_CBC,
            {"status": "prescribed", "no_obtain": True}),
    "V48": ({"comorbidities": "HTN, DM2 on metformin, statin", "vo2peak_ml_kg_min": "30"},
            NORMAL_CBC, {"status": "prescribed", "no_obtain": True}),
    "V49": ({"blood_pressure": "168/96"}, [], {"max": "moderate", "excluded": {"vigorous"}}),
    "V50": ({"resting_hr": "108 bpm"}, [], {"max": "moderate", "status": "prescribed"}),
    "V51": ({"comorbidities": "palpitations and chest pain on exertion"}, [],
            {"status": "clearance_required", "max": "light", "supervision": "supervised"}),
    "V52": ({"treatment_phase": "adjuvant_chemo", "agents": "docetaxel, cyclophosphamide",
             "next_infusion_date": "12/01/2026", "cycle_length_days": "21"}, NORMAL_CBC,
            {"max": "moderate", "obtain": "infusion date"}),
    # Issue 28: the plan fits the patient (site, modes, fitness, dated data, habitual activity)
    "V53": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastases": "unstable",
             "bone_metastasis_sites": "T8"}, NORMAL_CBC,
            {"status": "clearance_required", "excluded": {"upper_body_loading"},
             "no_exercise": ("seated row", "chest press", "bird-dog", "wall push-up")}),
    "V54": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastases": "stable",
             "bone_metastasis_sites": "left acetabulum"}, NORMAL_CBC,
            {"excluded": {"lower_body_loading"},
             "no_exercise": ("glute bridge", "holding a weight", "leg press"),
             "has_exercise": "sit-to-stand from a chair (body weight only)"}),
    "V55": ({"neuropathy_grade": "2"}, [],
            {"excluded": {"weight_bearing_cardio"}, "no_mode": "walk",
             "handout_no": ("a brisk walk", "an easy walk", "walking, cycling"),
             "handout_has": "exercise bike"}),
    "V56": ({"neuropathy_grade": "1", "vo2peak_ml_kg_min": "30"}, [],
            {"has_mode": "walk", "not_excluded": {"weight_bearing_cardio"}}),
    "V57": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "220", "10^9/L"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "1.2", "10^9/L")],
            {"excluded": {"public_facilities"}, "no_exercise": ("machine",), "no_mode": "pool",
             "handout_no": ("public facilities", "public_facilities")}),
    "V58": ({"treatment_phase": "post_surgery", "surgery_date": "2025-12-22"}, [],
            {"excluded": {"upper_body_loading"}, "no_exercise": ("bird-dog", "plank",
                                                                 "wall push-up")}),
    "V59": ({"age": "86"}, [],
            {"excluded": {"floor_work"}, "balance": True,
             "no_exercise": ("glute bridge", "bird-dog", "sit-up", "plank"),
             "has_exercise": "sit-to-stand"}),
    "V60": ({"treatment_phase": "adjuvant_chemo", "vo2peak_ml_kg_min": "16",
             "next_infusion_date": "2026-01-12", "cycle_length_days": "21"}, NORMAL_CBC,
            {"base": "BASE_FUNCTIONAL_DISABILITY", "supervision": "supervised",
             "this_week_max": "light", "guidance": "rpe"}),
    "V61": ({"vo2peak_ml_kg_min": "12.5"}, [],
            {"max": "light", "supervision": "supervised"}),
    "V62": ({"vo2peak_ml_kg_min": "18"}, [],
            {"not_fired": "SAFETY_VERY_LOW_FITNESS", "max": "vigorous_or_lower"}),
    "V63": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastases": "none"},
            NORMAL_CBC, {"plan_max": "moderate", "this_week_max": "light"}),
    "V64": ({"comorbidities": "DEXA T-score -2.7"}, [],
            {"excluded": {"high_impact", "spinal_loading"}}),
    "V65": ({"bmd_t_score": "-2.4", "vo2peak_ml_kg_min": "30"}, [],
            {"not_excluded": {"spinal_loading"}, "not_fired": "SAFETY_OSTEOPOROSIS"}),
    "V66": ({"bmd_t_score": "-2.5"}, [], {"excluded": {"high_impact", "spinal_loading"}}),
    "V67": ({"comorbidities": "vertebral compression fracture 2024"}, [],
            {"excluded": {"high_impact", "spinal_loading"}}),
    "V68": ({"vo2peak_ml_kg_min": "26"}, NORMAL_CBC,
            {"min_aerobic_weekly": 280, "week1_aerobic_weekly": 280}),
    "V69": ({"treatment_phase": "adjuvant_chemo", "agents": "EC",
             "next_infusion_date": "2026-01-10", "cycle_length_days": "21"},
            [("platelets", "240", "10^9/L", "2025-12-15"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "3", "10^9/L")],
            {"state": ("platelets", "stale"), "obtain": "Full blood count",
             "data_issue": "predates the current chemotherapy cycle"}),
    "V70": ({"treatment_phase": "adjuvant_chemo", "agents": "paclitaxel"}, NORMAL_CBC,
            {"obtain": "Next infusion date", "max": "moderate"}),
    "V71": ({"treatment_phase": "survivorship", "agents": "paclitaxel"}, [],
            {"data_issue": "cytotoxic", "obtain": "Full blood count"}),
    "V72": ({"vo2peak_ml_kg_min": "10"}, [], {"data_issue": "impossible"}),
    "V73": ({"treatment_phase": "adjuvant_chemo"},
            [("platelets", "40", "10^9/L"), ("hemoglobin", "12", "g/dL"),
             ("neutrophils", "3", "10^9/L")],
            {"obtain": "Repeat platelet count", "excluded": {"resistance"}}),
    # Free text read in context (issue 37): denied, a relative's, stopped and old events do
    # not count; a possible one does; rate-control drugs make heart rate unreliable.
    "V74": ({"comorbidities": "no history of DVT; denies chest pain; mother had MI",
             "treatment_phase": "endocrine", "agents": "letrozole", "vo2peak_ml_kg_min": "31"},
            [], {"status": "prescribed", "max": "vigorous", "data_issue": "negated"}),
    "V75": ({"comorbidities": "?DVT"}, [],
            {"status": "clearance_required", "max": "moderate", "data_issue": "possible"}),
    "V76": ({"comorbidities": "verapamil 80 mg tds"}, [],
            {"guidance": "rpe", "no_hr_target": True}),
    "V77": ({"comorbidities": "stopped bisoprolol", "treatment_phase": "endocrine",
             "agents": "letrozole", "vo2peak_ml_kg_min": "31"},
            [], {"status": "prescribed", "max": "vigorous"}),
    "V78": ({"comorbidities": "mastectomy 2015; DVT 2019", "treatment_phase": "endocrine",
             "agents": "letrozole", "vo2peak_ml_kg_min": "31"},
            [], {"status": "prescribed", "max": "vigorous", "data_issue": "over 13 weeks"}),
    "V79": ({"comorbidities": "DVT 3 weeks ago, on apixaban"}, [],
            {"status": "clearance_required", "max": "moderate", "excluded": {"high_impact"}}),
    "V80": ({"comorbidities": "AF on digoxin and warfarin"}, [],
            {"guidance": "rpe", "no_hr_target": True, "excluded": {"high_impact"}}),
    # Bone sites in every notation; a lesion at risk is unstable; an unread site is any bone.
    "V81": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastases": "stable",
             "bone_metastasis_sites": "left femur, Mirels 9"}, [],
            {"status": "clearance_required", "supervision": "supervised", "triage": "high",
             "excluded": {"vigorous", "lower_body_loading"}, "data_issue": "mirels score 9"}),
    "V82": ({"stage": "IV", "bone_metastases": "stable", "bone_metastasis_sites": "BWK 8"}, [],
            {"excluded": {"spinal_loading", "upper_body_loading"}}),
    "V83": ({"stage": "IV", "bone_metastases": "stable", "bone_metastasis_sites": "Th8"}, [],
            {"excluded": {"spinal_loading", "upper_body_loading"},
             "no_exercise": "chest press"}),
    "V84": ({"stage": "IV", "bone_metastases": "stable",
             "bone_metastasis_sites": "L 5th-7th ribs"}, [],
            {"excluded": {"upper_body_loading"}}),
    "V85": ({"stage": "IV", "bone_metastases": "stable",
             "bone_metastasis_sites": "T\u200b8"}, [],
            {"excluded": {"spinal_loading", "upper_body_loading"}}),
    "V86": ({"stage": "IV", "bone_metastases": "stable",
             "bone_metastasis_sites": "Tx 8"}, [],
            {"excluded": {"spinal_loading", "upper_body_loading", "lower_body_loading"},
             "data_issue": "tx 8"}),
    # Oral chemotherapy has no infusion date to ask for; infused chemotherapy does.
    "V87": ({"treatment_phase": "adjuvant chemotherapy", "agents": "capecitabine"},
            NORMAL_CBC, {"not_obtain": "infusion date"}),
    "V88": ({"treatment_phase": "adjuvant chemotherapy", "agents": "paclitaxel"},
            NORMAL_CBC, {"obtain": "infusion date"}),
    # A copy-pasted soft hyphen or zero-width space still names the agent; a name no
    # vocabulary reads caps the plan until a clinician names it.
    "V89": ({"treatment_phase": "endocrine", "agents": "letro\u00adzole",
             "vo2peak_ml_kg_min": "31"}, [], {"status": "prescribed", "max": "vigorous"}),
    # A line, a port or a radiotherapy skin reaction: no water (ACS guidance).
    "V91": ({"comorbidities": "PICC line in situ"}, [], {"excluded": {"water_exposure"},
                                                         "no_mode": "water"}),
    "V92": ({"comorbidities": "radiation dermatitis left breast"}, [],
            {"excluded": {"water_exposure"}, "no_mode": "water"}),
    "V93": ({"comorbidities": "port removed"}, [],
            {"not_excluded": {"water_exposure"}}),
    # Missing rules found by realistic vignettes (issue 38).
    "V94": ({"comorbidities": "24 weeks pregnant"}, [],
            {"status": "clearance_required", "excluded": {"supine"},
             "no_exercise": ("glute bridge", "sit-up")}),
    "V95": ({"stage": "IV", "treatment_phase": "metastatic",
             "comorbidities": "brain mets, seizure 2 weeks ago"}, [],
            {"status": "clearance_required", "excluded": {"water_exposure"},
             "supervision": "supervised"}),
    "V96": ({"comorbidities": "DIEP flap 3 weeks ago"}, [],
            {"triage": "high", "status": "clearance_required",
             "excluded": {"lower_body_loading", "isometric_heavy"}, "no_exercise": "leg press"}),
    "V97": ({"comorbidities": "ALND 2019; lymphoedema left arm"}, [],
            {"supervision": "supervised", "not_excluded": {"upper_body_loading"}}),
    "V98": ({"comorbidities": "implant reconstruction"}, [],
            {"obtain": "date of the surgery", "excluded": {"upper_body_loading"}}),
    # An immune checkpoint inhibitor with raised troponin, myalgia and ptosis: possible
    # myocarditis (ESC 2022): no exercise until excluded; the same agent without them may start.
    "V99": ({"stage": "IV", "treatment_phase": "metastatic", "agents": "pembrolizumab",
             "comorbidities": "myalgia, ptosis"},
            [("troponin", "48", "ng/L"), ("NT-proBNP", "900", "pg/mL")],
            {"status": "deferred", "max": "none"}),
    # A lytic lesion is at risk until scored; a sclerotic one is not.
    "V101": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastases": "stable",
              "bone_metastasis_sites": "lytic lesion right femur"}, [],
             {"status": "clearance_required", "supervision": "supervised", "triage": "high",
              "excluded": {"vigorous", "lower_body_loading"}, "data_issue": "'lytic'",
              "fired": "SAFETY_BONE_METS_UNSTABLE"}),
    "V102": ({"stage": "IV", "treatment_phase": "metastatic", "bone_metastases": "stable",
              "bone_metastasis_sites": "sclerotic lesion right femur"}, [],
             {"not_fired": "SAFETY_BONE_METS_UNSTABLE", "excluded": {"lower_body_loading"}}),
    "V100": ({"treatment_phase": "metastatic", "agents": "pembrolizumab"},
             [("troponin", "6", "ng/L")], {"not_fired": "SAFETY_ICI_MYOCARDITIS"}),
    "V90": ({"treatment_phase": "endocrine", "agents": "zorbitinib",
             "vo2peak_ml_kg_min": "31"}, [],
            {"max": "moderate", "excluded": {"vigorous"}, "obtain": "unrecognised agent"}),
}
WEARABLE_RISE = {"V25": [(d, 64 + (d % 3)) for d in range(4, 29)]
                 + [(3, 124), (2, 129), (1, 131)]}
# Daily MVPA minutes over the 28 days before the reference date.
WEARABLE_MVPA = {"V68": 45, "V72": 30}


def write_inputs(tmp: Path) -> tuple[Path, Path, Path]:
    rows = []
    for pid, (cells, _, _) in VIGNETTES.items():
        merged = {**DEFAULT, **cells, "patient_id": pid}
        rows.append([merged.get(c, "") for c in COLUMNS])
    sheet = tmp / "patients.tsv"
    sheet.write_text("\n".join("\t".join(r) for r in [COLUMNS, *rows]) + "\n")
    blood = ["patient_id\tmarker\tvalue\tunit\tdate"]
    for pid, (_, labs, _) in VIGNETTES.items():
        for lab in labs:
            marker, value, unit = lab[:3]
            date = lab[3] if len(lab) > 3 else "2026-01-02"
            blood.append(f"{pid}\t{marker}\t{value}\t{unit}\t{date}")
    (tmp / "blood.tsv").write_text("\n".join(blood) + "\n")
    wear = ["patient_id\tdate\tsteps\tresting_hr\tmvpa_min"]
    for pid, days in WEARABLE_RISE.items():
        for back, hr in days:
            wear.append(f"{pid}\t{(REF - dt.timedelta(days=back)).isoformat()}\t6000\t{hr}\t")
    for pid, minutes in WEARABLE_MVPA.items():
        for back in range(1, 29):
            wear.append(f"{pid}\t{(REF - dt.timedelta(days=back)).isoformat()}\t9000\t62\t"
                        f"{minutes}")
    (tmp / "wearables.tsv").write_text("\n".join(wear) + "\n")
    return sheet, tmp / "blood.tsv", tmp / "wearables.tsv"


def at_most(level: str, cap: str) -> bool:
    return INTENSITIES.index(level) <= INTENSITIES.index(cap)


def check_vignette(pid: str, p: dict) -> None:
    """The decisions a careful clinician expects for vignette `pid` (asserts)."""
    expect = VIGNETTES[pid][2]
    where = f"{pid}: {p['status']}, max {p['max_intensity']}, {p['excluded']}"
    _check_decision(expect, p, where)
    _check_plan(pid, expect, p)
    _check_what_the_patient_reads(pid, expect, p)
    _check_every_plan(p)


def _check_decision(expect: dict, p: dict, where: str) -> None:
    """Status, intensity cap, exclusions, supervision, triage and the data to obtain."""
    if "status" in expect:
        assert p["status"] == expect["status"], where
    if expect.get("max") in INTENSITIES:
        assert at_most(p["max_intensity"], expect["max"]), where
        if expect["max"] == "vigorous":
            assert p["max_intensity"] == "vigorous", where  # no needless cap either
    assert expect.get("excluded", set()) <= set(p["excluded"]), where
    if "supervision" in expect:
        assert SUPERVISION.index(p["supervision"]) >= SUPERVISION.index(expect["supervision"])
    if "not_obtain" in expect:
        items = " ".join(d["item"] for d in p["data_to_obtain"]).lower()
        assert expect["not_obtain"].lower() not in items, (where, p["data_to_obtain"])
    if "obtain" in expect:
        items = " ".join(d["item"] for d in p["data_to_obtain"]).lower()
        assert expect["obtain"].lower() in items, (where, p["data_to_obtain"])
        assert all(d["capped_meanwhile"] for d in p["data_to_obtain"])
    if expect.get("no_obtain"):
        assert p["data_to_obtain"] == [], p["data_to_obtain"]
    if "state" in expect:
        name, state = expect["state"]
        assert p["safety_inputs"][name]["state"] == state, p["safety_inputs"][name]
    if "guidance" in expect:
        assert p["intensity_guidance"] == expect["guidance"] or (
            p["aerobic"] and p["aerobic"]["intensity_guidance"] == expect["guidance"])
    if expect.get("no_hr_target") and p["aerobic"]:
        assert "heart_rate_bpm" not in p["aerobic"]
    if "data_issue" in expect:
        assert any(expect["data_issue"] in t.lower() for t in p["data_issues"]), p["data_issues"]
    if "triage" in expect:
        assert p["triage"] == expect["triage"]
    if expect.get("balance"):
        assert p["balance"] is not None


def _check_plan(pid: str, expect: dict, p: dict) -> None:
    """Exercises, modes, the rules that fired and the doses of the plan."""
    names = " ".join(e["name"].lower() for e in (p["resistance"] or {}).get("exercises", []))
    if "no_exercise" in expect and p["resistance"]:
        banned = expect["no_exercise"]
        for name in (banned,) if isinstance(banned, str) else banned:
            assert name not in names, (pid, name, names)
    if "has_exercise" in expect:
        assert expect["has_exercise"] in names, (pid, names)
    modes = " ".join((p["aerobic"] or {}).get("modes", [])
                     + [m for w in p["progression"] for m in (w.get("aerobic") or {}).get(
                         "modes", [])])
    if "no_mode" in expect:
        assert expect["no_mode"] not in modes, (pid, modes)
    if "has_mode" in expect:
        assert expect["has_mode"] in modes, (pid, modes)
    assert not expect.get("not_excluded", set()) & set(p["excluded"]), (pid, p["excluded"])
    fired = {t["rule_id"] for t in p["trace"] if t["applied"]}
    if "not_fired" in expect:
        assert expect["not_fired"] not in fired, (pid, fired)
    if "fired" in expect:
        assert expect["fired"] in fired, (pid, fired)
    if "base" in expect:
        assert expect["base"] in fired, (pid, fired)
    if "this_week_max" in expect:
        assert p["this_week"]["max_intensity"] == expect["this_week_max"], p["this_week"]
    if "plan_max" in expect:
        assert at_most(p["max_intensity_planned"], expect["plan_max"]), p["max_intensity_planned"]
    if "min_aerobic_weekly" in expect:
        assert p["aerobic"]["minutes_per_week"] >= expect["min_aerobic_weekly"], p["aerobic"]
    if "week1_aerobic_weekly" in expect:
        first = p["this_week"]["aerobic"]
        assert first["sessions_per_week"] * first["minutes_per_session"] >= expect[
            "week1_aerobic_weekly"], first


def _check_what_the_patient_reads(pid: str, expect: dict, p: dict) -> None:
    """The handout, the wearable source and the infusion days of the schedule."""
    if "handout_no" in expect or "handout_has" in expect:
        text = render_handout({**p, "status": "prescribed"}).lower()
        for phrase in expect.get("handout_no", ()):
            assert phrase not in text, (pid, phrase)
        if "handout_has" in expect:
            assert expect["handout_has"] in text, pid
    if expect.get("wearable_rise"):
        assert p["safety_inputs"]["resting_hr"]["source"].startswith("wearable")
    if "infusion_day" in expect:
        assert p["treatment_calendar"]["next_infusion_rolled_forward"] == expect["infusion_day"]
        weeks = [w for w in p["progression"] if expect["infusion_day"] in w.get("infusions", [])]
        assert [w["week"] for w in weeks] == [1]  # projected infusions are shown by week
        later = [d for w in p["progression"] for d in w.get("infusions", [])]
        assert later == p["treatment_calendar"]["infusions_in_plan"]
        for day in p["schedule"]:
            if day["date"] >= expect["infusion_day"]:  # infusion day and recovery: light only
                assert all(s["intensity"] == "light" for s in day["sessions"]), day


def _check_every_plan(p: dict) -> None:
    """Every vignette: heart-rate floors above rest, FHIR status agrees, bundle valid."""
    aer = p["aerobic"]
    if aer and "heart_rate_bpm" in aer and aer.get("resting_hr_bpm") is not None:
        assert aer["heart_rate_bpm"][0] > aer["resting_hr_bpm"]
    bundle = prescription_bundle(p)
    validate_bundle(bundle)
    careplan = bundle["entry"][0]["resource"]
    # no clinician has signed it: a prescribed plan is a draft until signed
    assert careplan["status"] == {"prescribed": "draft", "clearance_required": "draft",
                                  "deferred": "on-hold"}[p["status"]]
