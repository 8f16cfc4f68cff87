"""Fuzzing the input parsers (issue 10): any input either parses or raises the project's own
InputError (a clear message naming file, row and fix); nothing else may escape.

Inputs are generated tables whose header mixes the parser's real column names with junk and
whose cells mix plausible values (numbers, units, dates, IDs, booleans) with garbage (empty
cells, NA, huge or negative numbers, quotes, tabs and newlines inside cells, non-ASCII), plus
raw text. FUZZ_EXAMPLES (default 3,000) inputs per parser; hypothesis keeps failing examples in
its database and shrinks them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from builders import REF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from precex.adaptation.features import adaptation_features, validate_days
from precex.blood.fhir_input import read_fhir_observations
from precex.blood.markers import blood_features
from precex.blood.stage import read_blood_input
from precex.clinical.sheet import read_patient_sheet
from precex.config import config_default, load_config_file, load_yaml, validate_config
from precex.epigenetics.matrix import read_beta_matrix
from precex.genetics.variants import read_genotypes
from precex.microbiome.features import compute_features, map_samples
from precex.microbiome.readers import read_microbiome
from precex.paths import resource_path
from precex.prescription.engine import EngineSettings, prescribe
from precex.prescription.rules import load_rulebase, rulebase_check
from precex.problems import InputError
from precex.rule_features import rule_features
from precex.wearables.features import wearable_features
from precex.wearables.stage import read_wearables

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
WORK = Path(tempfile.mkdtemp(prefix="precex-fuzz-"))

TOKENS = ["", " ", "NA", "nan", "NaN", "inf", "-inf", "0", "1", "-1", "0.5", "1.7", "-3.2",
          "1e309", "1e-300", "99999999", "12", "150", "2026-01-01", "2025-12-24", "2027-01-01",
          "2026-13-45", "01/02/2026", "yesterday", "true", "false", "TRUE", "yes", "F", "M",
          "X", "P001", "P002", "P 003", "../x", "mg/L", "mmol/L", "g/dL", "10^9/L", "%",
          "uIU/mL", "furlongs", "albumin", "glucose", "crp", "platelets", "hba1c",
          "haemoglobin", "insulin", '"', "'", "\\", "a\tb", "a\nb", "µg/L", "≥5", "é",
          "0/1", "1|1", "./.", "0/x", "cg00075967", "HER2+", "TNBC", "none", "stable"]
CELL = st.one_of(st.sampled_from(TOKENS),
                 st.floats(allow_nan=True, allow_infinity=True).map(str),
                 st.integers(-10**7, 10**7).map(str), st.text(max_size=6))


def tables(columns: list[str], max_rows: int = 6) -> st.SearchStrategy[str]:
    """TSV text: a header drawn mostly from the real columns, then rows of fuzzed cells."""
    header = st.lists(st.one_of(st.sampled_from(columns), st.sampled_from(columns),
                                st.text(max_size=5)), min_size=1, max_size=len(columns) + 2)

    def build(head: list[str]) -> st.SearchStrategy[str]:
        row = st.lists(CELL, min_size=max(0, len(head) - 1), max_size=len(head) + 1)
        return st.lists(row, max_size=max_rows).map(
            lambda rows: "\n".join(["\t".join(head)] + ["\t".join(r) for r in rows]) + "\n")

    return st.one_of(header.flatmap(build), st.text(max_size=200))


def write(name: str, text: str | bytes) -> str:
    path = WORK / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return str(path)


def parses_or_input_error(func, *args) -> None:
    try:
        func(*args)
    except InputError as err:
        assert err.problems and all(p.file for p in err.problems)


SHEET_COLUMNS = ["patient_id", "age", "sex", "height_cm", "weight_kg", "subtype",
                 "treatment_phase", "agents", "next_infusion_date", "cycle_length_days",
                 "bone_metastases", "lvef_pct", "fever", "resting_hr", "comorbidities"]


@FUZZ
@given(tables(SHEET_COLUMNS))
def test_patient_sheet(text):
    def parse(path):
        sheet = read_patient_sheet(path)
        # what survives validation must carry the promised types
        assert sheet.patients.index.is_unique
        for problem in sheet.problems:
            assert problem.file and problem.message
    parses_or_input_error(parse, write("patients.tsv", text))


BLOOD_COLUMNS = ["patient_id", "marker", "value", "unit", "date", "fasting", "loinc"]


@FUZZ
@given(tables(BLOOD_COLUMNS, max_rows=10))
def test_blood_table(text):
    def parse(path):
        long, _ = read_blood_input(path)
        blood_features(long, path, REF, 90, pd.Series({"P001": 60.0, "P002": 50.0}))
    parses_or_input_error(parse, write("blood.tsv", text))


observation = st.fixed_dictionaries({
    "resourceType": st.sampled_from(["Observation", "Patient", "", 3]),
    "status": st.sampled_from(["final", "amended", "cancelled", None]),
    "subject": st.one_of(st.none(), st.fixed_dictionaries(
        {"reference": st.sampled_from(["Patient/P001", "P002", "Patient/", "", "Patient/../x"])})),
    "code": st.one_of(st.none(), st.fixed_dictionaries({"coding": st.lists(
        st.fixed_dictionaries({"system": st.sampled_from(["http://loinc.org", "x"]),
                               "code": st.sampled_from(["2345-7", "718-7", "777-3", "zzz"])}),
        max_size=2)})),
    "valueQuantity": st.one_of(st.none(), st.fixed_dictionaries(
        {"value": st.one_of(st.floats(allow_nan=False), st.text(max_size=3)),
         "unit": st.sampled_from(["mg/dL", "g/L", "10*9/L", "furlongs", ""])})),
    "effectiveDateTime": st.sampled_from(["2026-01-01", "2026-01-01T08:00:00Z", "nope", ""]),
})


@FUZZ
@given(st.one_of(
    st.lists(observation, max_size=4).map(lambda obs: json.dumps({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": o} for o in obs]})),
    st.text(max_size=100).map(lambda t: '{"resourceType": "Bundle", ' + t)))
def test_fhir_bundle(text):
    parses_or_input_error(read_fhir_observations, write("bundle.json", text))


WEARABLE_COLUMNS = ["patient_id", "date", "steps", "mvpa_min", "resting_hr", "hrv_rmssd_ms",
                    "sleep_h"]


@FUZZ
@given(tables(WEARABLE_COLUMNS, max_rows=10))
def test_wearables_table(text):
    def parse(path):
        wearable_features(read_wearables(path), path, REF, {"P001", "P002"})
    parses_or_input_error(parse, write("wearables.tsv", text))


@FUZZ
@given(st.one_of(
    tables(["#OTU ID", "P001", "P002", "taxonomy"]),
    tables(["clade_name", "P001", "P002"]).map(lambda t: "#mpa_vJun23\n" + t),
    tables(["clade_name", "relative_abundance", "NCBI_tax_id"]).map(
        lambda t: "#mpa_vJun23\n" + t)))
def test_microbiome_tables(text):
    def parse(path):
        table = read_microbiome(path)
        values, _ = map_samples(table, None, {"P001", "P002"})
        compute_features([(table, values)], 10, None, None)
    name = "P001_profile.txt" if "relative_abundance" in text else "table.tsv"
    parses_or_input_error(parse, write(name, text))


@FUZZ
@given(tables(["probe_id", "P001", "P002", "P003"], max_rows=8))
def test_methylation_matrix(text):
    probes = {"cg00075967", "cg00079056"}
    text = text.replace("\n", "\ncg00075967\t", 1) if text.count("\n") > 1 else text
    parses_or_input_error(read_beta_matrix, write("methylation.tsv", text), probes,
                          config_default("methylation_values"),
                          config_default("methylation_detection_p"))


VCF_HEADER = ("##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"GT\">\n"
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP001\tP002\n")
VCF_FIELDS = st.one_of(st.sampled_from(["11", "chr11", "4", "X", "66560624", "23814039",
                                        "rs1815739", "rs4341", ".", "C", "T", "PASS", "GT",
                                        "0/1", "1|1", "./.", "0/x", "2/2", "abc", ""]), CELL)


@FUZZ
@given(st.lists(st.lists(VCF_FIELDS, min_size=1, max_size=12), max_size=5),
       st.booleans())
def test_vcf(records, with_header):
    text = (VCF_HEADER if with_header else "") + "".join("\t".join(r) + "\n" for r in records)
    parses_or_input_error(read_genotypes, write("variants.vcf", text), {"P001", "P002"})


@FUZZ
@given(tables(["patient_id", "date", "mvpa_min", "resting_hr", "hrv_rmssd_ms"], max_rows=8),
       tables(["patient_id", "date", "fatigue", "pain", "fever", "chest_pain"], max_rows=5))
def test_follow_up_tables(wear_text, sym_text):
    prescription = PRESCRIPTION

    def parse(wear_path, sym_path):
        from precex.io.files import read_delimited
        issued = {"P001": REF}
        wear, _ = validate_days(read_delimited(wear_path, "adaptation", "w"), wear_path, issued,
                                "wearables")
        sym, _ = validate_days(read_delimited(sym_path, "adaptation", "s"), sym_path, issued,
                               "symptoms")
        adaptation_features(prescription, wear, sym, sym_path, wear_path)
    parses_or_input_error(parse, write("fw.tsv", wear_text), write("fs.tsv", sym_text))


CONFIG_KEYS = ["patients", "reference_date", "blood", "shard_size", "strict", "microbiome",
               "research_mode", "evidence_floor", "results"]
YAML_VALUES = st.one_of(st.sampled_from(["patients.tsv", "'2026-01-05'", "2026-01-05", "0",
                                         "250", "true", "maybe", "[a, b]", "{x: 1}", "~",
                                         "!!python/object/apply:os.system ['true']", "'",
                                         "G3", "-1"]), st.text(max_size=8))


@FUZZ
@given(st.one_of(
    st.lists(st.tuples(st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=5)),
                       YAML_VALUES), max_size=6).map(
        lambda kv: "".join(f"{k}: {v}\n" for k, v in kv)),
    st.text(max_size=120)))
def test_config_file(text):
    def parse(path):
        validate_config(load_config_file(path), path)
    parses_or_input_error(parse, write("config.yaml", text))


RULEBASE = (resource_path("rules", "rulebase.yaml")).read_text(encoding="utf-8")
RULE_LINES = RULEBASE.splitlines()


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 50))  # each example loads a 50-rule base
@given(st.lists(st.tuples(st.integers(0, len(RULE_LINES) - 1), YAML_VALUES), min_size=1,
                max_size=3))
def test_rulebase_with_mutated_lines(mutations):
    """Replace the value part of a few lines of the bundled rule base."""
    lines = list(RULE_LINES)
    for index, value in mutations:
        key, sep, _ = lines[index].partition(": ")
        lines[index] = f"{key}{sep}{value}" if sep else value
    path = write("rulebase.yaml", "\n".join(lines) + "\n")

    def parse(p):
        # jsonschema-rs decides validity (precex.io.schema_check): it must never accept a
        # rule base that jsonschema rejects.
        data, check = load_yaml(p), rulebase_check()
        if check._fast_valid(data):
            assert not any(check.worded.iter_errors(data))
        rulebase = load_rulebase(p, rule_features())
        # A rule base that loads must also evaluate on a patient without error.
        prescribe(pd.DataFrame([{"age": 60.0, "sex": "F"}], index=["P001"]), rulebase,
                  EngineSettings(REF))
    parses_or_input_error(parse, path)


def _prescription() -> dict:
    rulebase = load_rulebase(str(resource_path("rules", "rulebase.yaml")), rule_features())
    return prescribe(pd.DataFrame([{"age": 55.0, "sex": "F", "hr_max_bpm": 170.0}],
                                  index=["P001"]), rulebase, EngineSettings(REF))[0]


PRESCRIPTION = _prescription()
