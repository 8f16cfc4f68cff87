"""One FHIR reader for every modality (issue 37: three loaders had drifted apart; the wearable
reader turned Patient/P07/_history/3 into patient '3'): precex.io.fhir reads Bundles, single
resources and bulk NDJSON (gzip too) with their entry or line numbers, and names the file
and line of anything else."""

from __future__ import annotations

import gzip
import json

import pytest
from precex.io.fhir import codes, fhir_entries, fhir_resources, reference_id, subject_id, words
from precex.problems import InputError

OBS = {"resourceType": "Observation", "id": "o1", "status": "final",
       "subject": {"reference": "Patient/P07/_history/3"},
       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                            "display": "Heart rate"}], "text": "Resting heart rate"}}


def test_a_bundle_a_single_resource_and_ndjson_give_the_same_resources(tmp_path):
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": OBS}, {"resource": {**OBS, "id": "o2"}}]}))
    single = tmp_path / "o.json"
    single.write_text(json.dumps(OBS))
    ndjson = tmp_path / "Observation.ndjson.gz"
    with gzip.open(ndjson, "wt") as handle:
        handle.write(json.dumps(OBS) + "\n\n" + json.dumps({**OBS, "id": "o2"}) + "\n")
    entries = list(fhir_entries(str(bundle), "blood"))
    assert [(e.number, e.full_url, e.resource["id"]) for e in entries] == [
        (1, "urn:uuid:1", "o1"), (2, None, "o2")]
    assert [r["id"] for r in fhir_resources(str(single), "blood")] == ["o1"]
    lines = list(fhir_entries(str(ndjson), "wearables"))
    assert [(e.number, e.resource["id"]) for e in lines] == [(1, "o1"), (3, "o2")]


@pytest.mark.parametrize(("name", "text", "said", "row"), [
    ("bundle.json", '{"resourceType": "Bundle", "entry": [\n  {"resource": {"resourceType": "O',
     "not valid JSON", 2),
    ("export.ndjson", '{"resourceType": "Observation"}\n{"resourceType": "Observation"\n',
     "line 2", 2),
    ("export.ndjson", '{"resourceType": "Observation"}\n{"id": "x"}\n',
     "line 2 has no resourceType", 2),
    ("list.json", "[1, 2, 3]", "not a FHIR resource", None),
    ("bundle.json", '{"resourceType": "Bundle", "entry": {"resource": {}}}',
     "not a list of entries", None),
])
def test_anything_else_names_the_file_the_line_and_the_fix(tmp_path, name, text, said, row):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as err:
        list(fhir_entries(str(path), "sheet"))
    problem = err.value.problems[0]
    assert said in problem.message and problem.file == str(path) and problem.fix
    assert problem.row == row and problem.stage == "sheet"


def test_references_codes_and_words():
    assert subject_id(OBS) == "P07"
    assert reference_id("https://ehr.example.org/fhir/Patient/P07") == "P07"
    assert reference_id("urn:uuid:4f0e-11") == "4f0e-11"
    assert subject_id({"patient": {"reference": "Patient/P08"}}) == "P08"
    assert subject_id({"subject": "Patient/P09"}) == ""  # not a Reference: no patient
    assert codes(OBS["code"], "http://loinc.org") == ["8867-4"] and codes(None) == []
    assert words(OBS["code"]) == "Resting heart rate"
    assert words({"coding": [{"display": "Heart rate"}]}) == "Heart rate"


def test_the_wearable_reader_reads_a_versioned_subject_as_its_patient(tmp_path):
    """The wearable FHIR reader took the last path part ('3') of a versioned reference."""
    from precex.wearables.daily import IdMap
    from precex.wearables.exports import read_fhir_observations

    path = tmp_path / "wear.json"
    obs = {**OBS, "effectiveDateTime": "2026-01-02T07:00:00Z",
           "code": {"coding": [{"system": "http://loinc.org", "code": "40443-4"}]},
           "valueQuantity": {"value": 61, "unit": "/min", "code": "/min"}}
    path.write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": obs}]}))
    export = read_fhir_observations(str(path), IdMap({}, {}))
    assert set(export.daily["patient_id"]) == {"P07"}
