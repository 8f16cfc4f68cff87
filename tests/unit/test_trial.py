"""Trial arms: stratified block randomisation, the append-only log, arm-based prescribing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from builders import RB
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.cli import main
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe_one
from precex.prescription.rules import evaluate
from precex.problems import InputError
from precex.trial.allocation import Settings, allocate, balance, read_arms

SETTINGS = Settings(11, ("subtype", "treatment_phase"), (2, 4, 6))


def sheet(n: int, seed: int = 0) -> pd.DataFrame:
    import numpy as np
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"subtype": rng.choice(["HR+/HER2-", "HER2+", "TNBC"], n),
                         "treatment_phase": rng.choice(["adjuvant_chemo", "endocrine"], n)},
                        index=[f"P{i:04d}" for i in range(n)])


def test_arms_are_balanced_within_every_stratum(tmp_path):
    log, added = allocate(sheet(600), SETTINGS, str(tmp_path / "log.tsv"))
    assert len(added) == 600
    table = balance(log)
    # Blocks hold equal arms, so a stratum is off by at most half the largest block.
    assert ((table["standard"] - table["precision"]).abs() <= 3).all()
    assert set(log["block_size"]) == {2, 4, 6}  # block sizes really vary


def test_allocation_is_reproducible_and_append_only(tmp_path):
    first, _ = allocate(sheet(40), SETTINGS, str(tmp_path / "a.tsv"))
    again, added = allocate(sheet(40), SETTINGS, str(tmp_path / "a.tsv"))
    assert added.empty and again.equals(first)  # re-running changes nothing
    fresh, _ = allocate(sheet(40), SETTINGS, str(tmp_path / "b.tsv"))
    assert fresh["arm"].tolist() == first["arm"].tolist()  # same seed, same allocation
    before = (tmp_path / "a.tsv").read_text()
    more = pd.concat([sheet(40), sheet(25, seed=5).rename(lambda p: p.replace("P", "Q"))])
    extended, added = allocate(more, SETTINGS, str(tmp_path / "a.tsv"))
    assert len(added) == 25 and (tmp_path / "a.tsv").read_text().startswith(before)
    assert extended.head(40)["arm"].tolist() == first["arm"].tolist()
    # One-by-one allocation gives the same arms as one batch (sequences continue per stratum).
    one_by_one = tmp_path / "c.tsv"
    for k in range(1, 41):
        allocate(sheet(40).head(k), SETTINGS, str(one_by_one))
    assert read_arms(str(one_by_one)) == read_arms(str(tmp_path / "b.tsv"))


def test_the_log_cannot_be_redrawn_or_edited(tmp_path):
    path = tmp_path / "log.tsv"
    allocate(sheet(20), SETTINGS, str(path))
    with pytest.raises(InputError, match="other settings"):
        allocate(sheet(20), Settings(12, SETTINGS.strata, SETTINGS.block_sizes), str(path))
    text = path.read_text()
    lines = text.splitlines()
    row = lines[7].split("\t")
    row[6] = "standard" if row[6] == "precision" else "precision"  # flip one arm
    lines[7] = "\t".join(row)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="edited, removed or reordered") as err:
        read_arms(str(path))
    assert err.value.problems[0].row == 8
    path.write_text("\n".join(text.splitlines()[:6] + text.splitlines()[7:]) + "\n")  # drop one
    with pytest.raises(InputError, match="edited, removed or reordered"):
        read_arms(str(path))


def test_an_arm_changed_with_a_recomputed_chain_is_named(tmp_path):
    """Issue 39: the chain alone can be recomputed by whoever edits the log. Each row must also
    be the seeded sequence's next draw for its stratum, so a flipped arm is found by row even
    with a valid chain."""
    from precex.io.chained_log import genesis, link

    path = tmp_path / "log.tsv"
    allocate(sheet(20), SETTINGS, str(path))
    lines = path.read_text().splitlines()
    head, columns, body = lines[:4], lines[4], [line.split("\t") for line in lines[5:]]
    body[3][6] = "standard" if body[3][6] == "precision" else "precision"
    previous = genesis(head)
    for fields in body:  # the chain recomputed over the flipped arm
        fields[-1] = link(previous, fields[:-1])
        previous = fields[-1]
    path.write_text("\n".join(head + [columns] + ["\t".join(f) for f in body]) + "\n")
    with pytest.raises(InputError, match="not the seeded sequence's next draw") as err:
        read_arms(str(path))
    assert err.value.problems[0].row == 9  # 4 header lines, the column line, the 4th row


def test_cli_allocates_and_names_bad_settings(tmp_path, capsys):
    patients = str(resource_path("demo", "patients.tsv"))
    log = str(tmp_path / "log.tsv")
    assert main(["trial", "allocate", "--patients", patients, "--log", log, "--seed", "3"]) == 0
    assert "Allocated 30 new patient(s)" in capsys.readouterr().out
    assert main(["trial", "allocate", "--patients", patients, "--log", log, "--seed", "3",
                 "--block-sizes", "3"]) == 1
    assert "block sizes [3]" in capsys.readouterr().err
    assert main(["trial", "allocate", "--patients", patients, "--log", log, "--seed", "3",
                 "--strata", "postcode"]) == 1


RULES = RB.prescription_rules()
profiles = st.fixed_dictionaries({
    "platelets_10e9_l": st.none() | st.floats(5, 400),
    "fever": st.booleans(),
    "bone_metastases": st.sampled_from(["none", "stable", "unstable"]),
    "lvef_pct": st.none() | st.floats(20, 70),
    "metabolic_syndrome": st.booleans(),
    "sarcopenia": st.sampled_from(["none", "probable", "confirmed"]),
    "crp_status": st.sampled_from(["low", "chronic_high", "provisional_high"]),
    "vo2peak_ml_kg_min": st.none() | st.floats(8, 45),
    "epigenetic_age_accel_years": st.none() | st.floats(-8, 12),
})


@pytest.mark.slow  # a long property-based search: CI runs it
@settings(max_examples=300, deadline=None)
@given(profiles)
def test_standard_arm_uses_no_precision_rules_but_every_safety_rule(profile):
    row = {"age": 60.0, "sex": "F", "hr_max_bpm": 160.0, **profile}
    frame = pd.DataFrame([row], index=["A"])
    fired = [r for r in RULES if evaluate(r.when, frame)[0]]
    ref = dt.date(2026, 1, 5)
    standard = prescribe_one("A", row, fired, EngineSettings(ref, trial_arm="standard"))
    precision = prescribe_one("A", row, fired, EngineSettings(ref, trial_arm="precision"))
    applied = {t["rule_id"] for t in standard["trace"] if t["applied"]}
    by_id = {r.id: r for r in RULES}
    assert not any(by_id[i].kind == "modifier" or by_id[i].precision for i in applied)
    safety = {r.id for r in fired if r.kind == "safety"}
    assert safety <= applied
    for arm in (standard, precision):  # both arms keep the same caps
        assert arm["status"] == precision["status"]
        assert arm["max_intensity"] == precision["max_intensity"]
        assert set(arm["excluded"]) == set(precision["excluded"])
    assert standard["engine"]["trial_arm"] == "standard"
