import pandas as pd
import pytest
import yaml
from precex.paths import resource_path
from precex.prescription.rules import evaluate, load_rulebase
from precex.problems import InputError
from precex.rule_features import rule_features

FEATURES = pd.DataFrame({
    "platelets_10e9_l": [15.0, 20.0, 49.9, None],
    "fever": [True, False, None, False],
    "agents": ["taxane;anthracycline", "", None, "trastuzumab"],
    "crp_status": ["high", "provisional_low", None, "low"],
}, index=["a", "b", "c", "d"])


@pytest.mark.parametrize("cond,expected", [
    ({"feature": "platelets_10e9_l", "op": "lt", "value": 20}, [True, False, False, False]),
    ({"feature": "platelets_10e9_l", "op": "ge", "value": 20}, [False, True, True, False]),
    ({"feature": "platelets_10e9_l", "op": "lt", "value": 20, "if_missing": True},
     [True, False, False, True]),
    ({"feature": "platelets_10e9_l", "op": "missing"}, [False, False, False, True]),
    ({"feature": "fever", "op": "eq", "value": True}, [True, False, False, False]),
    ({"feature": "agents", "op": "contains", "value": "anthracycline"},
     [True, False, False, False]),
    ({"feature": "agents", "op": "contains", "value": "anthra"}, [False] * 4),
    ({"feature": "crp_status", "op": "in", "value": ["high", "low"]}, [True, False, False, True]),
    ({"feature": "crp_status", "op": "ne", "value": "high"}, [False, True, False, True]),
    ({"feature": "not_a_column", "op": "present"}, [False] * 4),
    ({"all": [{"feature": "fever", "op": "eq", "value": False},
              {"feature": "agents", "op": "present"}]}, [False, False, False, True]),
    ({"any": [{"feature": "fever", "op": "eq", "value": True},
              {"feature": "crp_status", "op": "eq", "value": "low"}]},
     [True, False, False, True]),
    ({"not": {"feature": "fever", "op": "eq", "value": True}}, [False, True, True, True]),
    ({"always": True}, [True] * 4),
])
def test_condition_language(cond, expected):
    assert list(evaluate(cond, FEATURES)) == expected


def test_bundled_rulebase_loads_and_covers_the_safety_rules():
    rb = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
    ids = {r.id for r in rb.rules}
    for required in ["SAFETY_FEVER", "SAFETY_PLATELETS_BELOW_20", "SAFETY_PLATELETS_20_50",
                     "SAFETY_HB_BELOW_8", "SAFETY_HB_BELOW_11", "SAFETY_NEUTROPENIA",
                     "SAFETY_SEVERE_NEUTROPENIA", "SAFETY_BONE_METS_UNSTABLE",
                     "SAFETY_BONE_METS_STABLE", "SAFETY_LVEF_BELOW_40", "SAFETY_LVEF_REDUCED",
                     "SAFETY_CARDIOTOXIC_EXPOSURE", "SAFETY_BP_HIGH", "SAFETY_RESTING_HR_HIGH",
                     "SAFETY_NEUROPATHY", "SAFETY_LYMPHEDEMA", "TRIAGE_MODERATE",
                     "TRIAGE_HIGH", "BASE_GENERAL", "BASE_CHEMOTHERAPY",
                     "BASE_AROMATASE_INHIBITOR_ARTHRALGIA", "BASE_RADIOTHERAPY",
                     "BASE_METABOLIC", "BASE_SARCOPENIA"]:
        assert required in ids
    for rule in rb.rules:
        assert rule.citation and rule.rationale and rule.grade in ("G1", "G2", "G3", "H")
    # every hypothesis-generating rule is an annotation or a research-gated modifier
    assert all(r.kind in ("annotation", "modifier") for r in rb.rules if r.grade == "H")


def write_rules(tmp_path, rules):
    path = tmp_path / "rules.yaml"
    base = {"id": "BASE_X", "kind": "base", "title": "base", "when": {"always": True},
            "effect": {"aerobic": {"sessions_per_week": 3, "minutes_per_session": 30,
                                   "intensity": "moderate"}},
            "grade": "G1", "citation": "someone 2019", "rationale": "because so"}
    path.write_text(yaml.safe_dump({"version": 1, "rules": [base, *rules]}))
    return str(path)


def rule(**kw):
    out = {"id": "SAFETY_X", "kind": "safety", "title": "a safety rule",
           "effect": {"status": "deferred"},
           "grade": "G3", "citation": "someone 2019", "rationale": "because so",
           "when": {"feature": "fever", "op": "eq", "value": True}}
    out.update(kw)
    return out


def test_rulebase_errors_are_all_reported(tmp_path):
    path = write_rules(tmp_path, [
        rule(id="SAFETY_A", when={"feature": "platelet_count", "op": "lt", "value": 20}),
        rule(id="SAFETY_B", when={"feature": "platelets_10e9_l", "op": "lt", "value": "low"}),
        rule(id="SAFETY_A"),
        rule(id="MOD_C", kind="modifier", grade="G2", research_eligible=True),
    ])
    with pytest.raises(InputError) as err:
        load_rulebase(path, rule_features())
    text = str(err.value)
    assert "unknown feature 'platelet_count'" in text and "platelets_10e9_l" in text
    assert "compares numbers" in text
    assert "used twice" in text
    assert "research_eligible applies to H rules only" in text


def test_schema_violations_name_the_rule(tmp_path):
    path = write_rules(tmp_path, [rule(effect={"max_intensity": "extreme"})])
    with pytest.raises(InputError, match="rule SAFETY_X"):
        load_rulebase(path, rule_features())


def test_rule_text_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = write_rules(tmp_path, [rule(when={"feature": "fever", "op": "eq",
                                             "value": f"__import__('os').system('touch {marker}')"
                                             })])
    rb = load_rulebase(path, rule_features())
    evaluate(rb.rules[1].when, FEATURES)
    assert not marker.exists()
    yaml_attack = tmp_path / "attack.yaml"
    yaml_attack.write_text("!!python/object/apply:os.system ['touch " + str(marker) + "']\n")
    with pytest.raises(InputError):
        load_rulebase(str(yaml_attack), rule_features())
    assert not marker.exists()
