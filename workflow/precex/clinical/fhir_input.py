"""Clinical context from the EHR: a FHIR R4 Bundle or bulk NDJSON read into the patient
sheet's columns (config `clinical_fhir`).

What is read, for each Patient (matched to the sheet by Patient.id or any identifier value):

- Patient: gender -> sex, birthDate -> age at the reference date;
- Condition: breast cancer (SNOMED CT 254837009 and its children as coded by Synthea and the
  mCODE examples, ICD-10-CM C50.*), its stage (Condition.stage.summary, as mCODE writes it)
  and laterality;
- Observation: ER 85337-4 / 16112-5, PR 85339-0 / 16113-3, HER2 48676-1 / 85319-2 / 18474-7
  (Positive LA6576-8, Negative LA6577-6, or their text) -> subtype; TNM stage group 21908-9 /
  21902-2 (mCODE) -> stage; LVEF 10230-1 (or 8806-2, 18043-0, 79991-4) -> lvef_pct (with its
  date); blood pressure 85354-9 or 55284-4 (components 8480-6 and 8462-4, or those sent alone)
  -> systolic_bp / diastolic_bp; heart rate 8867-4 or 40443-4 -> resting_hr; body weight
  29463-7 (3141-9) and height 8302-2 (3137-7) (any unit of the kind: kg, [lb_av], cm,
  [in_i], converted by precex.blood.units; another kind is a data issue); the latest usable
  result of each (status final, amended or corrected); a partial date (YYYY, YYYY-MM) is read
  the cautious way for its use and named;
- MedicationRequest / MedicationStatement / MedicationAdministration: agents (the drug's text
  or display, read later through resources/clinical/agents.tsv, or the agent its ATC class or
  RxNorm ingredient names when the words name none; the drug of a medicationReference from
  its Medication resource); other medicines are facts (_read_as_fact); administrations of an agent
  give the infusion dates: the last one is next_infusion_date and the median interval between
  them the cycle length (the sheet's calendar then rolls them forward);
- Procedure: mastectomy, lumpectomy, sentinel node biopsy and axillary dissection (with its
  date as surgery_date, and the terms for comorbidities).

The sheet wins where both give a value; every disagreement is a data issue naming both
values (precex.clinical.sheet). A file that is not FHIR names itself and what is accepted.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from precex.blood.units import UnitError, convert
from precex.clinical.facts import Fact
from precex.clinical.vocabulary import ATC, RXNORM, code_agents, medicine_codes
from precex.io.dates import fhir_day, is_partial_fhir_date
from precex.io.fhir import codes as _codes
from precex.io.fhir import fhir_resources, reference_id
from precex.io.fhir import subject_id as _subject
from precex.io.fhir import words as _words
from precex.problems import Problem

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
BREAST_CANCER_SNOMED = {"254837009", "408643008", "353431000119107", "1217010004",
                        "278054005", "372064008", "372137005"}
USABLE = {"final", "amended", "corrected", "active", "completed", "recurrence", "relapse"}
RECEPTORS = {"85337-4": "er", "16112-5": "er", "85339-0": "pr", "16113-3": "pr",
             "48676-1": "her2", "85319-2": "her2", "18474-7": "her2", "85318-4": "her2"}
POSITIVE = {"LA6576-8", "10828004", "positive", "pos", "+", "3+", "amplified"}
NEGATIVE = {"LA6577-6", "260385009", "negative", "neg", "-", "0", "1+", "not amplified"}
STAGE_GROUP = {"21908-9", "21902-2", "21914-7"}
# LOINC -> (sheet column, its unit): any unit of the same kind is converted (precex.blood.units,
# the one unit mechanism: UCUM codes and the spellings EHRs use); another kind is a data issue.
# Each measurement by the codes EHRs send it with: LVEF (10230-1; by 2D echo 8806-2, by US
# 18043-0, 79991-4), heart rate (8867-4) and resting heart rate (40443-4), body weight (29463-7,
# measured 3141-9), body height (8302-2, measured 3137-7), and systolic and diastolic blood
# pressure sent as Observations of their own (8480-6, 8462-4) rather than panel components.
# The alternative codes are UNCONFIRMED against a LOINC release (none is shipped).
VALUE_CODES = {"10230-1": ("lvef_pct", "percent"), "8806-2": ("lvef_pct", "percent"),
               "18043-0": ("lvef_pct", "percent"), "79991-4": ("lvef_pct", "percent"),
               "8867-4": ("resting_hr", "1/min"), "40443-4": ("resting_hr", "1/min"),
               "29463-7": ("weight_kg", "kg"), "3141-9": ("weight_kg", "kg"),
               "8302-2": ("height_cm", "cm"), "3137-7": ("height_cm", "cm"),
               "8480-6": ("systolic_bp", "mmHg"), "8462-4": ("diastolic_bp", "mmHg")}
# The blood-pressure panel (85354-9; 55284-4 in older exports, Synthea's before 2020) holds
# both as components.
BP_PANELS, SYSTOLIC, DIASTOLIC = {"85354-9", "55284-4"}, "8480-6", "8462-4"
SURGERY_WORDS = ("mastectomy", "lumpectomy", "axillary", "sentinel", "breast-conserving",
                 "excision of breast", "partial mastectomy")
MEDICATIONS = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")


@dataclass
class ClinicalRecord:
    """One patient's sheet columns from the EHR: {column: (value as text, where from)}, and
    the conditions and medicines as clinical facts with their FHIR status and date (read with
    the sheet's history through the same policy: precex.clinical.facts)."""

    values: dict[str, tuple[str, str]] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # medicines and conditions not read
    stale: list[str] = field(default_factory=list)  # vitals too old (or undated) to be current
    units: list[str] = field(default_factory=list)  # values in a unit not known or not fitting
    dates: list[str] = field(default_factory=list)  # partial dates and how they were read

    def set(self, column: str, value: Any, source: str) -> None:
        self.values[column] = (str(value), source)


def _resources(path: str) -> Iterator[dict[str, Any]]:
    return fhir_resources(path, "sheet")


def _when_text(resource: dict[str, Any]) -> str:
    """The resource's own date as written (a FHIR date or dateTime, perhaps partial)."""
    for key in ("effectiveDateTime", "effectiveInstant", "performedDateTime",
                "occurrenceDateTime", "authoredOn", "recordedDate", "onsetDateTime", "issued"):
        if resource.get(key):
            return str(resource[key])
    for key in ("effectivePeriod", "performedPeriod"):
        if (resource.get(key) or {}).get("start"):
            return str(resource[key]["start"])
    return ""


def _when(resource: dict[str, Any], latest: bool = False,
          record: ClinicalRecord | None = None) -> str:
    """The resource's day (precex.io.dates.fhir_day: the one FHIR date reader); a partial date
    as its first day, or its last with latest=True (where later is the cautious reading),
    named in the record's data issues."""
    return _day(_when_text(resource), resource, latest, record)


def _day(text: str, resource: dict[str, Any], latest: bool,
         record: ClinicalRecord | None, element: str = "") -> str:
    day = fhir_day(text, latest)
    if record is not None and day and is_partial_fhir_date(text):
        named = f"{resource.get('resourceType')}/{resource.get('id', '')}" + (
            f" {element}" if element else "")
        note = (f"{named} gives only '{text.strip()}': read as {day}, the "
                f"{'latest' if latest else 'earliest'} day it can mean")
        if note not in record.dates:
            record.dates.append(note)
    return day


def _result(concept: dict[str, Any] | None) -> str | None:
    codes = {c.lower() for c in _codes(concept)} | {_words(concept).strip().lower()}
    if codes & {c.lower() for c in POSITIVE}:
        return "positive"
    if codes & {c.lower() for c in NEGATIVE}:
        return "negative"
    return None


def subtype_of(er: str | None, pr: str | None, her2: str | None) -> str | None:
    """The sheet's subtype code from receptor results (None when HER2 or HR is unknown)."""
    if her2 is None:
        return None
    if her2 == "positive":
        return "HER2+"
    if er is None and pr is None:
        return None
    if "positive" in (er, pr):
        return "HR+/HER2-"
    if er == "negative" and pr == "negative":
        return "TNBC"
    return None


def _with_medicine(r: dict[str, Any], medicines: dict[str, dict[str, Any]],
                   record: ClinicalRecord) -> dict[str, Any]:
    """A medicine resource with its drug as medicationCodeableConcept: EHR exports often
    name the drug by reference instead (medicationReference to a Medication in the bundle,
    the bulk export's Medication file, or the resource's `contained`). A reference to no
    Medication read is named (never silently dropped)."""
    if r.get("resourceType") not in MEDICATIONS or r.get("medicationCodeableConcept"):
        return r
    reference = str((r.get("medicationReference") or {}).get("reference") or "")
    if not reference:
        return r
    if reference.startswith("#"):
        medicine = next((c for c in r.get("contained") or [] if isinstance(c, dict)
                         and c.get("id") == reference[1:]), None)
    else:
        medicine = medicines.get(reference_id(reference))
    if medicine is None or not isinstance(medicine.get("code"), dict):
        display = str((r.get("medicationReference") or {}).get("display") or "")
        if display:  # the reference's own words still name the drug
            return {**r, "medicationCodeableConcept": {"text": display}}
        text = (f"medicine {reference} ({r.get('resourceType')}/{r.get('id', '')}), whose "
                "Medication resource is not in the files read")
        if text not in record.unread:
            record.unread.append(text)
        return r
    return {**r, "medicationCodeableConcept": medicine["code"]}


def read_clinical_fhir(paths: str | list[str], reference_date: dt.date,
                       window_days: int = 90
                       ) -> tuple[dict[str, ClinicalRecord], list[Problem]]:
    """{patient: sheet columns from the EHR}; the keys are every Patient.id and identifier
    value, so a sheet may name patients either way. A vital sign (blood pressure, heart rate,
    weight) counts when measured at most `window_days` before the reference date, like a
    blood count; an older or undated one is not used, and says so."""
    listed = [paths] if isinstance(paths, str) else list(paths)
    patients: dict[str, dict[str, Any]] = {}
    medicines: dict[str, dict[str, Any]] = {}
    by_patient: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    problems: list[Problem] = []
    for path in listed:
        for resource in _resources(path):
            kind = resource.get("resourceType")
            if kind == "Patient":
                patients[str(resource.get("id", ""))] = resource
            elif kind == "Medication":  # named by MedicationRequest.medicationReference
                medicines[str(resource.get("id", ""))] = resource
            elif kind in ("Condition", "Observation", "Procedure", *MEDICATIONS):
                by_patient[_subject(resource)].append((path, resource))
    out: dict[str, ClinicalRecord] = {}
    for pid in sorted(set(patients) | set(by_patient)):
        record = ClinicalRecord()
        patient = patients.get(pid, {})
        _patient_columns(record, patient, reference_date)
        listed = [(path, _with_medicine(r, medicines, record))
                  for path, r in by_patient.get(pid, [])]
        _clinical_columns(record, sorted(listed, key=lambda r: _when(r[1])),
                          reference_date, window_days)
        if not record.values:
            continue
        names = {pid} | {str(i.get("value")) for i in patient.get("identifier") or []
                         if i.get("value")}
        for name in names:
            out[name] = record
    return out, problems


def _patient_columns(record: ClinicalRecord, patient: dict[str, Any],
                     reference_date: dt.date) -> None:
    sex = {"female": "F", "male": "M"}.get(str(patient.get("gender", "")).lower())
    if sex:
        record.set("sex", sex, "Patient.gender")
    born = patient.get("birthDate")
    if born:
        # a birth year alone: its first day, the older age (the cautious reading)
        text = _day(str(born), patient, False, record, "birthDate")
        if not text:
            record.dates.append(f"Patient/{patient.get('id', '')} birthDate '{born}' is not a "
                                "date: no age from the EHR")
            return
        day = dt.date.fromisoformat(text)
        age = reference_date.year - day.year - (
            (reference_date.month, reference_date.day) < (day.month, day.day))
        record.set("age", age, "Patient.birthDate")


def _quantity(resource: dict[str, Any], target: str, record: ClinicalRecord | None = None,
              what: str = "") -> float | None:
    """A valueQuantity in `target` (precex.blood.units.convert); a unit that is unknown or of
    another kind is named in the record's data issues (never silently dropped)."""
    quantity = resource.get("valueQuantity") or {}
    unit = str(quantity.get("code") or quantity.get("unit") or "")
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return round(float(convert(float(value), unit, target)), 2)
    except UnitError as err:
        if record is not None:
            record.units.append(f"{what} {value:g} '{unit}' ({err}): not used")
        return None


# FHIR Condition.verificationStatus / clinicalStatus and medication status -> fact status.
CONDITION_VERIFICATION = {"refuted": "negated", "unconfirmed": "possible",
                          "provisional": "possible", "differential": "possible"}
CONDITION_CLINICAL = {"inactive": "historical", "resolved": "historical",
                      "remission": "historical"}
# A stopped or completed medicine is not taken now, dated or not: the sheet's "stopped
# bisoprolol" (negated) means the same.
MEDICATION_STATUS = {"active": "active", "on-hold": "active", "in-progress": "active",
                     "completed": "negated", "stopped": "negated",
                     "not-taken": "negated", "cancelled": "negated", "intended": "planned",
                     "draft": "planned", "preparation": "planned", "unknown": "possible"}


def _first_code(concept: dict[str, Any] | None) -> str:
    return str(((concept or {}).get("coding") or [{}])[0].get("code") or "").lower()


def _condition_fact(r: dict[str, Any], name: str, record: ClinicalRecord | None = None
                    ) -> tuple[list[Fact], str]:
    """Facts of a Condition that is not the breast cancer: its codes through the SNOMED table
    and its words through the history vocabulary; (facts, words when nothing was read)."""
    from precex.clinical.vocabulary import comorbidity_codes_of

    verification = _first_code(r.get("verificationStatus"))
    if verification == "entered-in-error":
        return [], ""
    status = CONDITION_VERIFICATION.get(verification) or CONDITION_CLINICAL.get(
        _first_code(r.get("clinicalStatus")), "active")
    # when it ended, else began: a partial date as its last day (counts the longest)
    date = _day(str(r.get("abatementDateTime") or ""), r, True, record) if (
        status == "historical") else ""
    if status != "active":  # an active condition counts whatever its date
        date = date or _when(r, latest=True, record=record)
    words = _words(r.get("code")) or _coded_name(r.get("code"))
    codes = comorbidity_codes_of(_codes(r.get("code"), SNOMED), words)
    source = f"Condition/{r.get('id', '')} ({name})"
    return [Fact(code, status, date, words, source, _concept(r.get("code")))
            for code in codes], ("" if codes else words)


def _medication_fact(r: dict[str, Any], name: str, record: ClinicalRecord | None = None
                     ) -> tuple[list[Fact], str]:
    from precex.clinical.vocabulary import comorbidity_codes_of

    status = str(r.get("status") or "").lower()
    if status == "entered-in-error":
        return [], ""
    fact_status = MEDICATION_STATUS.get(status, "active")
    if r.get("resourceType") == "MedicationAdministration":
        fact_status = "active" if status in ("completed", "in-progress", "") else fact_status
    concept = r.get("medicationCodeableConcept")
    words = _words(concept) or _coded_name(concept)
    period = r.get("effectivePeriod") or {}
    date = _day(str(period.get("end") or ""), r, True, record) if status in (
        "completed", "stopped") else ""
    codes = comorbidity_codes_of([], words, _codes(concept, ATC), _codes(concept, RXNORM))
    source = f"{r.get('resourceType')}/{r.get('id', '')} ({name})"
    return [Fact(code, fact_status, date, words, source, _concept(concept))
            for code in codes], ("" if codes else words)


def _coded_name(concept: dict[str, Any] | None) -> str:
    """A concept without text or display named by its codes ('ATC C07AB07')."""
    named = [f"{label} {code}" for label, system in (("ATC", ATC), ("RxNorm", RXNORM),
                                                      ("SNOMED CT", SNOMED))
             for code in _codes(concept, system)]
    return ", ".join(named) or ", ".join(_codes(concept))


def _concept(concept: dict[str, Any] | None) -> str:
    """The standard code a fact came with, as system|code (RxNorm, ATC or SNOMED CT first)."""
    for system in (RXNORM, ATC, SNOMED, LOINC):
        found = _codes(concept, system)
        if found:
            return f"{system}|{found[0]}"
    return ""


def agent_codes(concept: dict[str, Any] | None) -> list[str]:
    """The cancer agents a medicine concept names: by its words (agents.tsv synonyms) or,
    when they name none, by its ATC class or RxNorm ingredient."""
    found = list(code_agents(_words(concept)).codes) if _words(concept) else []
    return found or medicine_codes(_codes(concept, ATC), _codes(concept, RXNORM), "agents.tsv")


def _is_breast_cancer(r: dict[str, Any]) -> bool:
    return bool(set(_codes(r.get("code"), SNOMED)) & BREAST_CANCER_SNOMED
                or any(c.upper().startswith("C50") for c in _codes(r.get("code"))))


def _read_as_fact(record: ClinicalRecord, r: dict[str, Any], name: str) -> bool:
    """Every condition but the breast cancer, and every medicine that is not a cancer agent,
    is a fact with its status (an inactive condition is history, a stopped medicine is not
    current), which the safety rules read; True when `r` was one."""
    kind = r.get("resourceType")
    if kind == "Condition" and not _is_breast_cancer(r):
        facts, unread = _condition_fact(r, name, record)
    elif kind in MEDICATIONS and not agent_codes(r.get("medicationCodeableConcept")):
        facts, unread = _medication_fact(r, name, record)
    else:
        return False
    record.facts.extend(facts)
    if unread and unread not in record.unread:
        record.unread.append(unread)
    return True


VITALS = {"resting_hr", "weight_kg", "systolic_bp", "diastolic_bp"}


def _current(record: ClinicalRecord, column: str, value: float, when: str, where: str,
             reference_date: dt.date, window_days: int) -> bool:
    """Whether a vital is recent enough to count; if not, why, for the data issues."""
    if column not in VITALS:
        return True
    age = (reference_date - dt.date.fromisoformat(when)).days if when else None
    if age is not None and 0 <= age <= window_days:
        return True
    said = (f"{column} {value:g} from {where} has no date" if age is None else
            f"{column} {value:g} from {where} was measured on {when}, "
            + (f"{age} days before the reference date (over {window_days})" if age > 0
               else "after the reference date"))
    record.stale.append(f"{said}: not used (a vital sign of unknown currency is never taken "
                        "as current)")
    return False


@dataclass
class _Gathered:
    """What the resources give only together: receptors (the subtype), the agents and their
    administration dates (the infusion calendar), the surgeries (the surgery date)."""

    receptors: dict[str, str] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)
    given: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    surgeries: list[tuple[str, str]] = field(default_factory=list)


def _vital(record: ClinicalRecord, column: str, value: float | None, code: str, name: str,
           when: str, reference_date: dt.date, window_days: int) -> None:
    """A measured value with where and when it was measured, if current enough to count."""
    where = f"Observation {code} ({name})"
    if value is not None and _current(record, column, value, when, where, reference_date,
                                      window_days):
        # with the date it was measured: 'Observation 8867-4 (a.json, 2025-12-30)'
        record.set(column, value, f"Observation {code} ({name}, {when})" if when else where)
        if column == "lvef_pct" and when:
            record.set("lvef_date", when, where)


def _observation_columns(record: ClinicalRecord, r: dict[str, Any], name: str,
                         gathered: _Gathered, reference_date: dt.date,
                         window_days: int) -> None:
    when = _when(r, record=record)  # a partial date: its first day (older: less current)
    for code in _codes(r.get("code"), LOINC):
        if code in RECEPTORS and _result(r.get("valueCodeableConcept")):
            gathered.receptors[RECEPTORS[code]] = _result(r.get("valueCodeableConcept"))
        elif code in STAGE_GROUP and _words(r.get("valueCodeableConcept")):
            record.set("stage", _words(r.get("valueCodeableConcept")),
                       f"Observation {code} ({name})")
        elif code in VALUE_CODES:
            column, target = VALUE_CODES[code]
            _vital(record, column, _quantity(r, target, record, f"Observation {code} ({name})"),
                   code, name, when, reference_date,
                   window_days)
        elif code in BP_PANELS:
            for part in r.get("component") or []:
                sub = _codes(part.get("code"), LOINC)
                column = ("systolic_bp" if SYSTOLIC in sub else "diastolic_bp"
                          if DIASTOLIC in sub else None)
                if column:
                    _vital(record, column, _quantity(part, "mmHg", record,
                                                     f"Observation {code} ({name})"),
                           code, name, when, reference_date, window_days)


def _other_columns(record: ClinicalRecord, r: dict[str, Any], name: str,
                   gathered: _Gathered) -> None:
    """Conditions (the breast cancer's stage), medicines (agents, administrations) and
    procedures (surgeries)."""
    kind = r.get("resourceType")
    if kind == "Condition":  # the breast cancer: any other is a fact (_read_as_fact)
        for stage in r.get("stage") or []:
            text = _words(stage.get("summary"))
            if text:
                record.set("stage", text, f"Condition.stage ({name})")
    elif kind in MEDICATIONS:
        concept = r.get("medicationCodeableConcept")
        drug = _words(concept)
        if not drug or not code_agents(drug).codes:  # coded only, or words no table knows
            drug = "; ".join(medicine_codes(_codes(concept, ATC), _codes(concept, RXNORM),
                                            "agents.tsv")) or drug
        if not drug:
            return
        if drug not in gathered.agents:
            gathered.agents.append(drug)
        if kind == "MedicationAdministration" and _when(r):
            gathered.given[drug].append(_when(r))
    elif kind == "Procedure":
        words = _words(r.get("code")).lower()
        if any(w in words for w in SURGERY_WORDS):
            # a partial date: its last day (the more recent surgery, the cautious reading)
            gathered.surgeries.append((_when(r, latest=True, record=record), words))


def _usable(r: dict[str, Any]) -> bool:
    status = str(r.get("status") or (r.get("clinicalStatus") or {}).get(
        "coding", [{}])[0].get("code", "")).lower()
    return not status or status in USABLE


def _clinical_columns(record: ClinicalRecord, resources: Iterable[tuple[str, dict]],
                      reference_date: dt.date, window_days: int) -> None:
    gathered = _Gathered()
    for path, r in resources:  # oldest first: later results overwrite earlier ones
        name = path.rsplit("/", 1)[-1]
        if _read_as_fact(record, r, name) or not _usable(r):
            continue
        if r.get("resourceType") == "Observation":
            _observation_columns(record, r, name, gathered, reference_date, window_days)
        else:
            _other_columns(record, r, name, gathered)
    receptors, agents, given, surgeries = (gathered.receptors, gathered.agents,
                                           gathered.given, gathered.surgeries)
    subtype = subtype_of(receptors.get("er"), receptors.get("pr"), receptors.get("her2"))
    if subtype:
        record.set("subtype", subtype, "Observations ER/PR/HER2")
    if agents:
        record.set("agents", "; ".join(agents), "Medication resources")
    infusions = sorted({d for dates in given.values() for d in dates})
    if infusions:
        record.set("next_infusion_date", infusions[-1], "MedicationAdministration")
        gaps = [(dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days
                for a, b in zip(infusions, infusions[1:], strict=False)]
        if gaps:
            record.set("cycle_length_days", int(statistics.median(gaps)),
                       "MedicationAdministration (median interval)")
    dated = [s for s in surgeries if s[0]]
    if dated:
        record.set("surgery_date", dated[-1][0], "Procedure")
    # Axillary dissection is a lasting risk (lymphoedema); the breast surgery itself counts
    # through its date (recent surgery within 8 weeks).
    if any("axillary" in w and ("dissection" in w or "clearance" in w) for _, w in surgeries):
        record.set("comorbidities", "axillary dissection", "Procedure")
