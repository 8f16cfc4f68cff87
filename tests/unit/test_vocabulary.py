"""Controlled vocabularies: every synonym class maps to its code; unknown terms are kept."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.clinical.vocabulary import (
    code_agents,
    code_bone_sites,
    code_comorbidities,
    coded_value,
    surgery_side,
)


@pytest.mark.parametrize("text,codes", [
    ("Paclitaxel weekly; Herceptin", {"taxane", "trastuzumab"}),
    ("AC-T", {"anthracycline", "cyclophosphamide", "taxane"}),
    ("TCHP", {"taxane", "platinum", "trastuzumab", "pertuzumab"}),
    ("trastuzumab deruxtecan (Enhertu)", {"trastuzumab_deruxtecan"}),
    ("Kisqali + letrozole", {"cdk46_inhibitor", "aromatase_inhibitor"}),
    ("Xeloda", {"capecitabine"}), ("carboplatin", {"platinum"}), ("5-FU", {"fluorouracil"}),
    ("aromatase_inhibitor", {"aromatase_inhibitor"}), ("Adriamycin", {"anthracycline"}),
    # a fixed-dose combination product is both of its agents
    ("Phesgo", {"pertuzumab", "trastuzumab"}), ("Herceptin SC", {"trastuzumab"}),
])
def test_agents(text, codes):
    coded = code_agents(text)
    assert set(coded.codes) == codes and coded.unrecognised == ()


@pytest.mark.parametrize("text,codes", [
    ("AF, on bisoprolol", {"atrial_fibrillation", "beta_blocker"}),
    ("PPM", {"pacemaker"}), ("CHF", {"heart_failure"}), ("IHD; stent", {"coronary_artery_disease"}),
    ("T2DM on insulin", {"diabetes_type2", "insulin"}), ("T1DM", {"diabetes_type1"}),
    ("COPD", {"copd"}), ("osteopenia", {"osteopenia"}),
    ("L ALND, drain in situ", {"axillary_dissection", "surgical_drain"}),
    ("ileostomy", {"ostomy"}), ("DVT on apixaban", {"venous_thromboembolism", "anticoagulation"}),
    ("none", set()), ("coronary_artery_disease", {"coronary_artery_disease"}),
])
def test_comorbidities(text, codes):
    coded = code_comorbidities(text)
    assert set(coded.codes) == codes and coded.unrecognised == ()


def test_unknown_terms_are_returned_not_dropped():
    assert code_comorbidities("Heart Disease!; AF").unrecognised == ("heart disease",)
    assert code_agents("aspirin").unrecognised == ("aspirin",)
    assert code_bone_sites("liver").unrecognised == ("liver",)


@pytest.mark.parametrize("text,regions", [
    ("T7, L2-L4", {"spine", "thoracic_spine"}), ("L2-L4", {"spine"}), ("C5", {"spine"}),
    ("sacrum", {"spine"}), ("T8 unstable", {"spine", "thoracic_spine"}),
    ("left femur; pelvis", {"pelvis_femur"}), ("acetabulum", {"pelvis_femur"}),
    ("humerus (R)", {"upper_limb"}), ("ribs", {"ribs_sternum"}), ("skull", {"skull"}),
    ("widespread", {"widespread"}),
])
def test_bone_sites(text, regions):
    assert set(code_bone_sites(text).codes) == regions


def test_coded_columns_and_surgery_side():
    assert coded_value("treatment_phase", "Adjuvant chemotherapy") == "adjuvant_chemo"
    assert coded_value("stage", "IIIA") == "III"
    assert coded_value("bone_metastases", "yes") == "unknown"  # present, stability unknown
    assert coded_value("subtype", "triple negative") == "TNBC"
    # ISL stages: 0 is latent (at risk), I-III clinical lymphoedema
    assert coded_value("lymphedema", "ISL stage II") == "present"
    assert coded_value("lymphedema", "Stage 0") == "at_risk"
    assert coded_value("treatment_phase", "Post-treatment") == "survivorship"
    assert surgery_side("L ALND, drain in situ") == "left"
    assert surgery_side("bilateral mastectomy") == "bilateral"


def _rows(name):
    import pandas as pd
    from precex.paths import resource_path

    return pd.read_csv(resource_path("clinical", name), sep="\t", dtype=str,
                       keep_default_na=False)


def test_every_synonym_of_every_vocabulary_maps_to_its_code():
    """Each synonym in resources/clinical/*.tsv, written alone, gives its own code."""
    for row in _rows("comorbidities.tsv").itertuples():
        for synonym in [row.code, *row.synonyms.split(";")]:
            codes = set(code_comorbidities(synonym).codes) | (
                {"none"} if row.code == "none" else set())
            assert row.code in codes, (row.code, synonym, codes)
    for row in _rows("agents.tsv").itertuples():
        for synonym in [row.agent, *row.synonyms.split(";")]:
            assert row.agent in code_agents(synonym).codes, (row.agent, synonym)
    for row in _rows("regimens.tsv").itertuples():
        for synonym in [row.regimen, *row.synonyms.split(";")]:
            assert set(row.agents.split(";")) <= set(code_agents(synonym).codes), synonym
    for row in _rows("bone_sites.tsv").itertuples():
        for synonym in [row.region, *row.synonyms.split(";")]:
            assert row.region in code_bone_sites(synonym).codes, (row.region, synonym)
    for row in _rows("sheet_terms.tsv").itertuples():
        assert coded_value(row.column, row.term) == row.code, (row.column, row.term)


@pytest.mark.parametrize("text,phase", [
    ("AC cycle 3 of 4", "adjuvant_chemo"), ("weekly paclitaxel", "adjuvant_chemo"),
    ("Neoadjuvant TCHP", "neoadjuvant_chemo"), ("on letrozole", "endocrine"),
    ("post-op week 2", "post_surgery"), ("awaiting surgery", "pre_treatment"),
    ("Radiation therapy (week 3/5)", "radiotherapy"), ("metastatic, bone", "metastatic"),
    ("completed treatment 2023", "survivorship"), ("planned review", None),
    # in context: a finished or planned treatment is not the current phase
    ("chemo completed, on letrozole", "endocrine"), ("chemo completed", "survivorship"),
    ("completed chemo, now on tamoxifen", "endocrine"), ("planned chemo", "pre_treatment"),
    ("s/p mastectomy, on AC cycle 2", "adjuvant_chemo"),
])
def test_treatment_phase_from_free_text(text, phase):
    from precex.clinical.vocabulary import infer_phase

    assert infer_phase(text) == phase


@pytest.mark.parametrize("text,stage", [("Stage IIIA", "III"), ("4", "IV"), ("T2N1M1", "IV"),
                                        ("stage 2b", "II"), ("DCIS", "0"), ("T2N0", None)])
def test_stage_from_free_text(text, stage):
    from precex.clinical.vocabulary import infer_stage

    assert infer_stage(text) == stage


@pytest.mark.parametrize("text,codes,at_risk", [
    ("Th8", {"spine", "thoracic_spine"}, ""), ("D8", {"spine", "thoracic_spine"}, ""),
    ("BWK 8", {"spine", "thoracic_spine"}, ""), ("T\u200b8", {"spine", "thoracic_spine"}, ""),
    ("LWK 2", {"spine"}, ""), ("L1-L3", {"spine"}, ""), ("C5/6", {"spine"}, ""),
    ("L 5th-7th ribs", {"ribs_sternum"}, ""),  # left ribs, not the fifth lumbar vertebra
    ("left femur, Mirels 9", {"pelvis_femur"}, "Mirels score 9"),
    ("impending fracture right femur", {"pelvis_femur"}, "'impending'"),
    ("SINS 11 at L3", {"spine"}, "SINS 11"),
    ("lytic lesion T10", {"spine", "thoracic_spine"}, "'lytic'"),
    ("osteolytic deposit, left humerus", {"upper_limb"}, "'osteolytic'"),
    ("sclerotic (blastic) lesions L2-L4", {"spine"}, ""),
    ("femur, Mirels 6", {"pelvis_femur"}, ""),
    # a fracture or collapse at a site, or a compressed cord: at risk (unstable)
    ("T12, cord compression", {"spine", "thoracic_spine"}, "'cord compression'"),
    ("MSCC at T10", {"spine", "thoracic_spine"}, "'mscc'"),
    ("L1 collapse", {"spine"}, "'collapse'"),
    ("fractured R humerus", {"upper_limb"}, "'fractured'"),
])
def test_bone_sites_in_every_notation(text, codes, at_risk):
    """Spine levels as C/T/Th/D/BWK/LWK/L/S with ranges, ordinals not read as levels, format
    characters ignored; Mirels 8+, SINS 7+, 'impending', 'lytic', a fracture, a collapse and
    cord compression mark a lesion at risk (a blastic one is not); a fragment that
    only describes the lesion is not an unknown site."""
    from precex.clinical.vocabulary import bone_lesion_at_risk

    coded = code_bone_sites(text)
    assert set(coded.codes) == codes and coded.unrecognised == ()
    assert bone_lesion_at_risk(text) == at_risk


def _all_synonyms() -> list[tuple[str, str, str]]:
    """(vocabulary, code, synonym) for every synonym of every vocabulary."""
    out = []
    for row in _rows("comorbidities.tsv").itertuples():
        out += [("comorbidities", row.code, s) for s in [row.code, *row.synonyms.split(";")]
                if row.code != "none"]
    for row in _rows("agents.tsv").itertuples():
        out += [("agents", row.agent, s) for s in [row.agent, *row.synonyms.split(";")]]
    for row in _rows("bone_sites.tsv").itertuples():
        out += [("bone_sites", row.region, s) for s in [row.region, *row.synonyms.split(";")]]
    return out


INVISIBLE = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e"]


def _fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth forms (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_all_synonyms()), st.data())
def test_unicode_noise_never_hides_a_term_in_any_vocabulary(entry, data):
    """Copy-paste noise (soft hyphens, zero-width and direction characters, fullwidth forms,
    upper case, surrounding spaces) never changes what any synonym of any vocabulary means."""
    vocabulary, code, synonym = entry
    text = synonym
    if data.draw(st.booleans(), label="fullwidth"):
        text = _fullwidth(text)
    if data.draw(st.booleans(), label="upper"):
        text = text.upper()
    for _ in range(data.draw(st.integers(0, 3), label="invisible")):
        at = data.draw(st.integers(0, len(text)), label="at")
        text = text[:at] + data.draw(st.sampled_from(INVISIBLE), label="char") + text[at:]
    text = data.draw(st.sampled_from(["", " ", "\u00a0"]), label="pad") + text
    coder = {"comorbidities": code_comorbidities, "agents": code_agents,
             "bone_sites": code_bone_sites}[vocabulary]
    assert code in coder(text).codes, (synonym, text)
