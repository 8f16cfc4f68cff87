import filecmp

import pandas as pd
from precex.demo.cohort import PHASES, SCENARIOS, SUBTYPES, generate_cohort, write_cohort


def test_same_seed_gives_byte_identical_files(tmp_path):
    write_cohort(generate_cohort(25, 5), tmp_path / "a")
    write_cohort(generate_cohort(25, 5), tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names,
                                               shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)


def test_different_seed_differs(tmp_path):
    a, b = generate_cohort(25, 5), generate_cohort(25, 6)
    assert not a.blood["value"].equals(b.blood["value"])


def test_bundled_demo_is_what_the_generator_writes(tmp_path, repo):
    write_cohort(generate_cohort(30, 42), tmp_path)
    for path in (repo / "resources" / "demo").iterdir():
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name


def test_cohort_covers_subtypes_phases_and_safety_scenarios():
    cohort = generate_cohort(60, 1)
    p = cohort.patients
    assert set(p["treatment_phase"]) == set(PHASES)
    assert set(SUBTYPES[:3]) <= set(p["subtype"])
    assert set(SCENARIOS) <= set(cohort.scenario)
    blood = cohort.blood.pivot_table(index="patient_id", columns="marker", values="value",
                                     aggfunc="last")
    assert (blood["platelets"] < 20).any() and ((blood["platelets"] >= 20)
                                               & (blood["platelets"] < 50)).any()
    assert (blood["neutrophils"] < 1.5).any()
    assert (p["fever"] == "true").any() and (p["bone_metastases"] == "unstable").any()
    assert (p["lvef_pct"] < 40).any() and (p["neuropathy_grade"] >= 2).any()
    assert (p["lymphedema"] == "present").any()
    # mixed units, as real exports have
    units = cohort.blood.groupby("marker")["unit"].unique()
    assert {"mg/dL", "mmol/L"} <= set(units["glucose"])
    assert {"mg/dL", "mg/L"} <= set(units["crp"])
    # missing modalities exist
    assert len(cohort.methylation.columns) < 60
    assert len(cohort.wearables["patient_id"].unique()) < 60


def test_large_cohort_scales(tmp_path):
    cohort = generate_cohort(2000, 3)
    assert len(cohort.patients) == 2000
    assert cohort.patients["patient_id"].is_unique
    assert isinstance(cohort.wearables, pd.DataFrame) and len(cohort.wearables) > 2000 * 20
