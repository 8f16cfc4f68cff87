"""Clinical free text read in context (NegEx/ConText): the gold corpus, the policy per status,
and properties: a mention that does not count changes nothing, a possible one is at least as
cautious as none, an affirmed one at least as cautious as a possible one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from precex.clinical.context import clauses, clean_text, dates_in, mixed_scripts
from precex.clinical.facts import comorbidity_facts, read_comorbidities, read_facts

REFERENCE = dt.date(2026, 12, 1)
GOLD = Path(__file__).parents[1] / "data" / "clinical" / "context_gold.tsv"


def gold_rows() -> list[tuple[str, str, str, str]]:
    table = pd.read_csv(GOLD, sep="\t", comment="#", dtype=str, keep_default_na=False)
    return list(table.itertuples(index=False, name=None))


def test_the_gold_corpus_is_large_and_covers_every_status():
    rows = gold_rows()
    assert len({text for text, *_ in rows}) >= 150
    assert {status for _, _, status, _ in rows} >= {
        "active", "ending", "negated", "possible", "historical", "planned", "family",
        "hypothetical", "absent"}


@pytest.mark.parametrize("text,code,status,date", gold_rows(),
                         ids=[f"{r[0]}|{r[1]}" for r in gold_rows()])
def test_gold_corpus(text, code, status, date):
    facts = [f for f in comorbidity_facts(text, "comorbidities", REFERENCE) if f.code == code]
    if status == "absent":
        assert facts == [], facts
        return
    assert (status, date) in {(f.status, f.date) for f in facts}, facts


def test_the_policy_per_status():
    """Negated, family, hypothetical and planned mentions do not count; a possible one counts
    and asks to be confirmed; a dated past one counts within its code's window only, an undated
    one counts and asks for its date."""
    def counted(text: str) -> tuple[tuple[str, ...], int]:
        coded, reading = read_comorbidities(text, REFERENCE)
        return coded.codes, len(reading.confirm)

    assert counted("no history of DVT") == ((), 0)
    assert counted("mother had MI") == ((), 0)
    assert counted("return if chest pain") == ((), 0)
    assert counted("mastectomy planned 2027-01-10") == ((), 1)
    assert counted("?DVT") == (("venous_thromboembolism",), 1)
    assert counted("mastectomy 2015") == ((), 0)  # 8-week window (Schmitz 2010)
    assert counted("mastectomy 3 weeks ago") == (("recent_surgery",), 0)
    assert counted("previous mastectomy") == (("recent_surgery",), 1)  # date unknown
    assert counted("ALND 2019") == (("axillary_dissection",), 0)  # a lasting risk
    assert counted("no") == ((), 0)  # 'no' alone: nothing to report
    # a stop or removal still ahead: current until then, and asked to be confirmed
    assert counted("apixaban to be discontinued next month") == (("anticoagulation",), 1)
    assert counted("port removal planned 2027-01-10") == (("central_line",), 1)
    assert counted("apixaban discontinued") == ((), 0)  # done: negated


def test_an_ending_mention_says_when_it_ends():
    _, reading = read_comorbidities("apixaban until 2027-02-28", REFERENCE)
    assert reading.confirm == ("'apixaban until 2027-02-28' is read as anticoagulation, current,"
                               " with its stop or removal ahead (to end 2027-02-28); it counts "
                               "as current until it has stopped",)


def test_text_hygiene():
    assert clean_text("war\u200bfa\u00adrin") == "warfarin"
    assert clean_text("\ufb01brillation") == "fibrillation"
    assert mixed_scripts("\u0422" + "8")  # Cyrillic Te beside a digit reads as 'T8'
    assert not mixed_scripts("T8")
    assert clauses("HTN; AF - ?OSA. MI 2015") == ["htn", "af", "?osa", "mi 2015"]


@pytest.mark.parametrize("text,date", [
    ("mastectomy 2026-11-20", "2026-11-20"), ("DVT 03/2024", "2024-03-31"),
    ("MI Feb 2019", "2019-02-28"), ("surgery 3 weeks ago", "2026-11-10"),
    ("ALND 2019", "2019-12-31"), ("WLE 14/11/2026", "2026-11-14"),
    # both orders valid: the most recent date not after the reference
    ("surgery 05/11/2026", "2026-11-05"), ("surgery 11/05/2026", "2026-11-05"),
])
def test_dates_written_beside_a_mention(text, date):
    assert [d.isoformat() for _, d in dates_in(clean_text(text), REFERENCE)] == [date]


# --- properties over the prescription -------------------------------------------------------

NOT_COUNTING = ["no {t}", "denies {t}", "no history of {t}", "mother had {t}",
                "family history of {t}", "if {t}", "{t} ruled out", "{t} planned 2027-03-01"]
TERMS = {"venous_thromboembolism": ["DVT", "PE", "pulmonary embolism"],
         "atrial_fibrillation": ["AF", "atrial fibrillation"],
         "beta_blocker": ["bisoprolol", "atenolol", "beta blocker"],
         "anticoagulation": ["warfarin", "apixaban"],
         "insulin": ["insulin"], "heart_failure": ["heart failure"],
         "coronary_artery_disease": ["angina"], "recent_surgery": ["mastectomy"],
         "central_line": ["PICC line"], "cardiac_symptoms": ["chest pain", "syncope"]}
term = st.sampled_from([(c, t) for c, ts in TERMS.items() for t in ts])


@settings(max_examples=60, deadline=None)
@given(term, st.sampled_from(NOT_COUNTING), st.sampled_from(["", "HTN", "T2DM on metformin"]))
def test_a_mention_that_does_not_count_changes_no_code(pair, template, other):
    code, word = pair
    base, _ = read_comorbidities(other, REFERENCE)
    text = "; ".join(x for x in (other, template.format(t=word)) if x)
    coded, _ = read_comorbidities(text, REFERENCE)
    assert coded.codes == base.codes


@settings(max_examples=60, deadline=None)
@given(term, st.sampled_from(["", "HTN"]))
def test_possible_counts_as_present_and_affirmed_as_much_as_possible(pair, other):
    code, word = pair
    none_ = set(read_comorbidities(other, REFERENCE)[0].codes)
    possible = set(read_comorbidities(f"{other}; ?{word}", REFERENCE)[0].codes)
    affirmed = set(read_comorbidities(f"{other}; {word}", REFERENCE)[0].codes)
    assert none_ <= possible and code in possible
    assert possible <= affirmed


def test_an_old_dated_event_is_read_as_no_mention_and_a_recent_one_counts():
    old, _ = read_comorbidities("mastectomy 2015; DVT 2019", REFERENCE)
    recent, _ = read_comorbidities("mastectomy 2026-11-20; DVT Nov 2026", REFERENCE)
    assert old.codes == ()
    assert recent.codes == ("recent_surgery", "venous_thromboembolism")


def test_facts_from_one_source_keep_their_source():
    facts = comorbidity_facts("AF; no DVT", "PMH", REFERENCE)
    assert {(f.code, f.status, f.source) for f in facts} == {
        ("atrial_fibrillation", "active", "PMH"), ("venous_thromboembolism", "negated", "PMH")}
    assert read_facts(facts, REFERENCE).codes == ("atrial_fibrillation",)


def test_the_sheet_reads_every_history_column_in_context(tmp_path):
    """PMH, Medications and Comments are all read (none hides another), in context, and a
    look-alike letter is a data issue."""
    from precex.clinical.sheet import read_patient_sheet

    sheet = tmp_path / "sheet.csv"
    sheet.write_text("Patient ID,Age,Sex,PMH,Medications,Comments\n"
                     "P1,61,F,heart failure,bisoprolol 2.5 mg,drains removed\n"
                     "P2,58,F,no history of DVT,not on insulin,mother had MI\n"
                     "P3,60,F,\u0422" + "8 lesion,,\n", encoding="utf-8")
    read = read_patient_sheet(sheet, reference_date=REFERENCE)
    codes = read.patients["comorbidities"]
    assert codes["P1"] == "beta_blocker;heart_failure"
    assert codes["P2"] == ""
    issues = read.patients["sheet_data_issues"]
    assert "drains removed" in issues["P1"] and "negated" in issues["P1"]
    assert "family" in issues["P2"] and "not on insulin" in issues["P2"]
    assert "Cyrillic" in issues["P3"]


def test_patient_ids_that_could_collide_with_files_or_identifiers_are_refused(tmp_path):
    """Issue 39: 'P006.fhir' would take P006's FHIR bundle name, 'P006.week-1' and
    'P006-week-1' an adapted week's file and identifier; 'p006' beside 'P006' is one file on
    case-insensitive file systems. Each is excluded with a message naming the row; P006 and an
    ordinary ID are read."""
    from precex.clinical.sheet import read_patient_sheet

    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("patient_id\tage\tsex\n"
                     "P006\t50\tF\nP006.fhir\t50\tF\nP006.week-1\t50\tF\nP006-week-1\t50\tF\n"
                     "p007\t50\tF\nP007\t50\tF\nP_week\t50\tF\n", encoding="utf-8")
    read = read_patient_sheet(sheet, reference_date=REFERENCE)
    assert sorted(read.patients.index) == ["P006", "P_week"]
    excluded = {p.patient_id: p for p in read.problems if p.excludes}
    assert set(excluded) == {"P006.fhir", "P006.week-1", "P006-week-1", "p007", "P007"}
    assert excluded["p007"].row == 5 and "differs only in case" in excluded["p007"].message
    assert "'.fhir'" in excluded["P006.fhir"].message


def test_a_huge_cell_is_never_echoed_in_full(tmp_path):
    """Issue 39: one 5 MB cell in a sheet was repeated in full in every data issue, problem
    table and report. Problems cut what they echo and say how much was cut."""
    from precex.clinical.sheet import read_patient_sheet
    from precex.problems import MAX_MESSAGE, Problem

    sheet = tmp_path / "sheet.tsv"
    terms = "; ".join(f"term{i}" for i in range(100_000))  # 1 MB of words no vocabulary knows
    sheet.write_text("patient_id\tage\tsex\tcomorbidities\tlvef_pct\n"
                     f"P1\t50\tF\t{terms}\t{'9' * 5_000_000}\n", encoding="utf-8")
    read = read_patient_sheet(sheet, reference_date=REFERENCE)
    assert read.problems and all(len(p.message) < MAX_MESSAGE + 100 for p in read.problems)
    assert any("more characters not shown" in p.message for p in read.problems)
    assert len(read.patients.loc["P1", "sheet_data_issues"]) < 20_000
    assert "99,980 more terms" in read.patients.loc["P1", "sheet_data_issues"]
    assert len(Problem("f", "m", column="c" * 10_000).column) < 300
