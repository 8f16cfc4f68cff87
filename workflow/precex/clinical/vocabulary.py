"""Controlled vocabularies for the free text clinics write (resources/clinical/*.tsv).

Each list column (agents, comorbidities, bone_metastasis_sites) is split into terms; every synonym
found in a term as a whole word (longest first) gives its code. A term that matches nothing is
returned as unrecognised so the caller can name the patient and the term: nothing is dropped
silently. Single-value coded columns (treatment_phase, bone_metastases, ...) map a synonym to
the schema's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pandas as pd

from precex.clinical.context import clean_text, read_mentions
from precex.paths import resource_path

TERM_SEPARATORS = re.compile(r"[;,|+\n]+")
# Spine levels as clinics write them: C/T/L/S, Th and D (thoracic, dorsal), and the German
# HWK/BWK/LWK (Hals-, Brust-, Lendenwirbelkoerper); '5th' is an ordinal ('L 5th-7th ribs' is
# the left ribs), never a level.
_LEVEL_END = r"(?![0-9]|st\b|nd\b|rd\b|th\b)"
SPINE_LEVEL = re.compile(r"(?<![a-z0-9])(?:th|bwk|lwk|hwk|[ctlsd])\s?-?\s?\d{1,2}" + _LEVEL_END)
THORACIC_LEVEL = re.compile(r"(?<![a-z0-9])(?:th|bwk|[td])\s?-?\s?\d{1,2}" + _LEVEL_END)
# A lesion at risk of fracture (precex.clinical.features.bone_site_flags): an impending or
# pathological fracture, a Mirels score of 8 or more (Mirels H. Clin Orthop 1989;249:256-264:
# 8 borderline, 9 or more prophylactic fixation), a SINS of 7 or more (Fisher CG et al. Spine
# 2010;35(22):E1221-9: 7-12 potentially unstable, 13-18 unstable).
MIRELS = re.compile(r"mirels?(?:'s)?(?:\s*score)?\s*(?:of|=|:)?\s*(\d{1,2})")
SINS = re.compile(r"(?<![a-z])sins(?:\s*score)?\s*(?:of|=|:)?\s*(\d{1,2})")
# A lytic (bone-destroying) lesion weakens the bone more than a blastic one (Mirels 1989 scores
# lytic 3, blastic 1; SINS scores lytic 2): at risk until a clinician scores it. A fracture or
# collapse at a site, or a compressed cord (metastatic spinal cord compression, an emergency:
# NICE guideline on spinal metastases and MSCC, NG234 2023 - UNCONFIRMED number), is worse.
AT_RISK_WORDS = re.compile(r"impending|pathological fracture|pathologic fracture|"
                           r"fracture risk|at risk of fracture|(?<![a-z])(?:osteo)?lytic(?![a-z])|"
                           r"cord compression|(?<![a-z])mscc(?![a-z])|"
                           r"(?<![a-z])fractured?(?![a-z])|(?<![a-z])collapsed?(?![a-z])")
LESION_WORDS = re.compile(r"(?<![a-z])(lytic|osteolytic|blastic|osteoblastic|sclerotic|mixed|"
                          r"lesions?|mets?|metastas[ie]s|deposits?|disease)(?![a-z])")
SIDE = re.compile(r"(?<![a-z])(left|right|bilateral|lt|rt|l|r)(?![a-z])")
_SIDES = {"left": "left", "lt": "left", "l": "left", "right": "right", "rt": "right",
          "r": "right", "bilateral": "bilateral"}


def normalise_text(text: str) -> str:
    """Lower case, NFKC, invisible format characters (soft hyphen, zero-width space) removed,
    '_' as a space, single spaces, no stray end punctuation."""
    return re.sub(r"\s+", " ", clean_text(text)).strip(" .:;,()[]{}!?\"'")


def split_terms(text: str | None) -> list[str]:
    if text is None or (isinstance(text, float) and text != text):
        return []
    return [t for t in (normalise_text(p) for p in TERM_SEPARATORS.split(str(text))) if t]


@dataclass(frozen=True)
class Vocabulary:
    """Synonym -> code, matched as whole words, longest synonym first."""

    name: str
    codes: dict[str, tuple[str, ...]]  # normalised synonym -> codes
    pattern: re.Pattern[str]

    def match(self, term: str) -> list[str]:
        found: list[str] = []
        for hit in self.pattern.finditer(term):
            for code in self.codes[hit.group(1)]:
                if code not in found:
                    found.append(code)
        return found


def _vocabulary(name: str, pairs: list[tuple[str, tuple[str, ...]]]) -> Vocabulary:
    codes: dict[str, tuple[str, ...]] = {}
    for synonym, targets in pairs:
        key = normalise_text(synonym)
        if key:
            codes[key] = tuple(dict.fromkeys(codes.get(key, ()) + targets))
    alternatives = "|".join(re.escape(s) for s in sorted(codes, key=lambda s: (-len(s), s)))
    pattern = re.compile(rf"(?<![\w-])({alternatives})(?![\w-])")
    return Vocabulary(name, codes, pattern)


def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(resource_path("clinical", name), sep="\t", dtype=str,
                       keep_default_na=False)


AGENT_FLAGS = ("cytotoxic", "myelosuppressive", "cardiotoxic", "neurotoxic", "hyperglycaemic")


@cache
def agent_table() -> pd.DataFrame:
    table = _table("agents.tsv").set_index("agent")
    for flag in AGENT_FLAGS:
        table[flag] = table[flag].str.lower().eq("true")
    return table


@cache
def agents_vocabulary() -> Vocabulary:
    pairs = [(s, (code,)) for code, row in agent_table().iterrows()
             for s in [code, *row["synonyms"].split(";")]]
    for row in _table("regimens.tsv").itertuples():
        agents = tuple(row.agents.split(";"))
        pairs += [(s, agents) for s in [row.regimen, *row.synonyms.split(";")]]
    return _vocabulary("agents", pairs)


@cache
def comorbidity_table() -> pd.DataFrame:
    return _table("comorbidities.tsv").set_index("code")


@cache
def comorbidity_vocabulary() -> Vocabulary:
    pairs = [(s, (row.code,)) for row in _table("comorbidities.tsv").itertuples()
             for s in [row.code, *row.synonyms.split(";")]]
    return _vocabulary("comorbidities", pairs)


@cache
def _snomed_codes() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for code, row in comorbidity_table().iterrows():
        for concept in filter(None, row["snomed"].split(";")):
            out[concept] = (*out.get(concept, ()), str(code))
    return out


ATC = "http://www.whocc.no/atc"
SNOMED_CT = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@cache
def _medicine_index(name: str) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """A medicine table's ATC classes and RxNorm ingredients -> its codes (agents.tsv or
    comorbidities.tsv, columns `atc` and `rxnorm`)."""
    atc: dict[str, tuple[str, ...]] = {}
    rxnorm: dict[str, tuple[str, ...]] = {}
    key = "agent" if name == "agents.tsv" else "code"
    for row in _table(name).to_dict("records"):
        for index, column in ((atc, "atc"), (rxnorm, "rxnorm")):
            for concept in filter(None, row[column].split(";")):
                index[concept.upper()] = (*index.get(concept.upper(), ()), row[key])
    return atc, rxnorm


def medicine_codes(atc_codes: list[str], rxnorm_codes: list[str], table: str) -> list[str]:
    """The codes of a coded medicine in `table` ('agents.tsv' or 'comorbidities.tsv'): an
    ATC code by its longest listed class (C08DA01 is under C08D, rate control, not C08C), an
    RxNorm code by its ingredient. Codes in neither column read nothing (the words still do)."""
    by_atc, by_rxnorm = _medicine_index(table)
    found: list[str] = []
    for code in (c.strip().upper() for c in atc_codes):
        prefix = next((code[:n] for n in range(len(code), 0, -1) if code[:n] in by_atc), "")
        found += by_atc.get(prefix, ())
    for code in (c.strip() for c in rxnorm_codes):
        found += by_rxnorm.get(code, ())
    return list(dict.fromkeys(found))


def comorbidity_codes_of(snomed: list[str], words: str, atc_codes: list[str] | None = None,
                         rxnorm_codes: list[str] | None = None) -> list[str]:
    """History codes of a coded EHR entry: by its SNOMED CT concepts (the table's `snomed`
    column), a medicine's ATC class or RxNorm ingredient (`atc`, `rxnorm`), and by its words
    through the vocabulary ('Warfarin Sodium 5 MG Oral Tablet')."""
    found = [c for concept in snomed for c in _snomed_codes().get(concept, ())]
    found += medicine_codes(atc_codes or [], rxnorm_codes or [], "comorbidities.tsv")
    found += comorbidity_vocabulary().match(normalise_text(words)) if words else []
    return [c for c in dict.fromkeys(found) if c != "none"]


@cache
def bone_site_table() -> pd.DataFrame:
    return _table("bone_sites.tsv").set_index("region")


@cache
def bone_site_vocabulary() -> Vocabulary:
    pairs = [(s, (region,)) for region, row in bone_site_table().iterrows()
             for s in [region, *row["synonyms"].split(";")]]
    return _vocabulary("bone sites", pairs)


@cache
def sheet_terms() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for row in _table("sheet_terms.tsv").itertuples():
        out.setdefault(row.column, {})[normalise_text(row.term)] = row.code
    return out


_PHASE_WORDS = (  # first match wins: the more treatment-specific words first
    ("metastatic", ("metasta", "palliative", "stage iv", "advanced", "recurren")),
    ("neoadjuvant_chemo", ("neoadjuvant", "pre-operative chemo", "preoperative chemo")),
    ("adjuvant_chemo", ("chemo", "cycle", "infusion", "c1d1", "day 1")),
    ("radiotherapy", ("radiotherapy", "radiation", "radiother", " rt ", "fractions")),
    ("anti_her2", ("herceptin", "trastuzumab", "her2-directed", "maintenance")),
    ("endocrine", ("endocrine", "hormon", "tamoxifen", "letrozole", "anastrozole",
                   "exemestane", "aromatase")),
    ("pre_treatment", ("pre-treatment", "pretreatment", "diagnos", "prehab", "awaiting",
                       "pre-op", "preop", "before surgery", "newly")),
    ("post_surgery", ("surgery", "post-op", "postop", "mastectomy", "lumpectomy",
                      "operation", "wle")),
    ("survivorship", ("survivor", "follow", "completed", "finished", "remission", "ned")),
)
_STAGE = re.compile(r"^(iv|iii|ii|i|0|[0-4])(?:[abc]\d?)?$")
_ROMAN = {"0": "0", "i": "I", "ii": "II", "iii": "III", "iv": "IV", "1": "I", "2": "II",
          "3": "III", "4": "IV"}


@cache
def _phase_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(rf"(?<![a-z]){re.escape(w.strip())}[a-z]*"), phase)
                 for phase, words in _PHASE_WORDS for w in words)


def _phase_words_in(clause: str) -> list[tuple[int, int, str]]:
    """(start, end, phase) of every phase word in a clause (context.read_mentions finder)."""
    return [(m.start(), m.end(), phase) for pattern, phase in _phase_patterns()
            for m in pattern.finditer(clause)]


def infer_phase(text: str) -> str | None:
    """A treatment phase from free text ('AC cycle 3 of 4', 'on letrozole', 'post-op week 2');
    agent names count too, so 'weekly paclitaxel' is chemotherapy."""
    # Words match at a word start ('ned' is not 'planned'), each in its context: a finished,
    # stopped, denied or planned treatment is not the current phase ('chemo completed, on
    # letrozole' is endocrine therapy).
    mentions = read_mentions(text, _phase_words_in)
    current = {m.code for m in mentions if m.status in ("active", "possible")}
    for phase, _ in _PHASE_WORDS:
        if phase in current:
            return phase
    if any(m.status == "planned" for m in mentions):
        return "pre_treatment"  # 'planned chemo': treatment has not started
    coded = code_agents(text)
    if coded.codes:
        table = agent_table().loc[list(coded.codes)]
        if table["cytotoxic"].any():
            return "adjuvant_chemo"
        if (table["agent_class"] == "endocrine").any():
            return "endocrine"
        if (table["agent_class"] == "anti_her2").any():
            return "anti_her2"
    return None


_TNM = re.compile(r"(?:^|[^a-z])[cpy]*t(is|[0-4])[a-d]?(?:\s*\(\w+\))?\s*"
                  r"[cpy]*n(1mi|[0-3])[a-c]?(?:\s*\(\w+\))?\s*[cpy]*m([01])")
_RECEPTOR = re.compile(r"(er|pr|pgr|hr|her-?2)\s*[:(]?\s*(\+|-|pos\w*|neg\w*|3\+|2\+|1\+|0)")


@cache
def tnm_stage_groups() -> tuple[tuple[str, str, str, str], ...]:
    """(t, n, m, stage) rows of resources/clinical/tnm_stage_groups.tsv, in order."""
    table = _table("tnm_stage_groups.tsv")
    return tuple((r.t, r.n, r.m, r.stage) for r in table.itertuples(index=False))


def stage_from_tnm(t: str, n: str, m: str) -> str | None:
    """The AJCC anatomic stage group of T, N and M categories ('T2', 'N1', 'M0'), or None."""
    for rt, rn, rm, stage in tnm_stage_groups():
        if rt in ("*", t) and rn in ("*", n) and rm in ("*", m):
            return stage
    return None


def infer_stage(text: str) -> str | None:
    """AJCC stage group from 'Stage IIIA', '4', 'IV (M1)', 'T2N1M0', 'pT1c pN0 M0' (the TNM
    categories through resources/clinical/tnm_stage_groups.tsv; M1 is stage IV)."""
    low = normalise_text(text)
    if re.search(r"(?<![a-z])m1", low.replace(" ", "")):
        return "IV"
    tnm = _TNM.search(low)
    if tnm:
        t = "Tis" if tnm.group(1) == "is" else f"T{tnm.group(1)}"
        return stage_from_tnm(t, f"N{tnm.group(2)}", f"M{tnm.group(3)}")
    if "dcis" in low or "tis" in low.split():
        return "0"
    compact = low.replace("stage", "").replace(" ", "")
    match = _STAGE.match(compact)
    return _ROMAN[match.group(1)] if match else None


def infer_subtype(text: str) -> str | None:
    """The subtype from receptor notation: 'ER+/PR+/HER2-', 'ER pos PR neg HER2 neg',
    'ER+ PgR- HER2 3+'. HER2 positive (+, pos, 3+) is HER2+; else ER or PR positive is
    HR+/HER2-; ER, PR and HER2 all negative is TNBC; anything less is not guessed (None).
    HER2 IHC 2+ is equivocal until ISH says otherwise: it decides nothing."""
    found: dict[str, bool] = {}
    for name, value in _RECEPTOR.findall(normalise_text(text).replace(" / ", "/")):
        key = {"pgr": "pr", "her2": "her2", "her-2": "her2"}.get(name, name)
        if value == "2+":
            continue
        found[key] = value in ("+", "3+") or value.startswith("pos")
    if found.get("her2"):
        return "HER2+"
    if found.get("er") or found.get("pr") or found.get("hr"):
        return "HR+/HER2-" if found.get("her2") is False else None
    if found.get("her2") is False and found.get("er") is False and found.get("pr") is False:
        return "TNBC"
    return None


def coded_value(column: str, raw: str) -> str:
    """The schema code for a single-value coded cell (the text itself when no synonym fits)."""
    terms = sheet_terms().get(column)
    if not terms:
        return raw
    code = terms.get(normalise_text(raw))
    if code is None and column == "treatment_phase":
        code = infer_phase(raw)
    if code is None and column == "stage":
        code = infer_stage(raw)
    if code is None and column == "subtype":
        code = infer_subtype(raw)
    return code if code is not None else raw


@dataclass(frozen=True)
class Coded:
    codes: tuple[str, ...]
    unrecognised: tuple[str, ...]


def code_list(vocabulary: Vocabulary, text: str | None,
              patterns: tuple[tuple[re.Pattern[str], str], ...] = ()) -> Coded:
    """Codes of every term; `patterns` add a code to a term they match (spine levels)."""
    codes: list[str] = []
    unknown: list[str] = []
    for term in split_terms(text):
        found = vocabulary.match(term)
        found += [code for pattern, code in patterns
                  if code not in found and pattern.search(term)]
        if not found:
            unknown.append(term)
        codes += [c for c in found if c not in codes]
    return Coded(tuple(sorted(codes)), tuple(unknown))


def code_agents(text: str | None) -> Coded:
    return code_list(agents_vocabulary(), text)


T_SCORE = re.compile(r"(?<![a-z])t[\s-]?score\s*(?:of|=|:)?\s*([-\u2212]?\s?\d+(?:[.,]\d+)?)")


def bone_density_code(term: str) -> str | None:
    """'osteoporosis' for a written T-score at or below -2.5 (WHO 1994), 'osteopenia' between
    -1 and -2.5, 'bone_density_normal' above -1; None when the term gives no T-score."""
    match = T_SCORE.search(term)
    if match is None:
        return None
    value = float(match.group(1).replace("\u2212", "-").replace(" ", "").replace(",", "."))
    return ("osteoporosis" if value <= -2.5 else "osteopenia" if value < -1
            else "bone_density_normal")


def code_comorbidities(text: str | None) -> Coded:
    coded = code_list(comorbidity_vocabulary(), text)
    codes = [c for c in coded.codes if c != "none"]
    unknown = []
    for term in coded.unrecognised:  # "DEXA T-score -2.7" alone is a finding, not noise
        code = bone_density_code(term)
        if code is None:
            unknown.append(term)
        elif code != "bone_density_normal" and code not in codes:
            codes.append(code)
    for term in split_terms(text):  # "osteopenia, T-score -2.8": the number decides
        if bone_density_code(term) == "osteoporosis" and "osteoporosis" not in codes:
            codes.append("osteoporosis")
    return Coded(tuple(sorted(codes)), tuple(unknown))


def bone_lesion_at_risk(text: str | None) -> str:
    """Why the written sites mark a lesion at risk of fracture ('' when they do not): an
    impending or pathological fracture, a lytic lesion, Mirels 8 or more, SINS 7 or more."""
    low = " ".join(split_terms(text))
    reasons = []
    mirels = [int(m) for m in MIRELS.findall(low)]
    sins = [int(m) for m in SINS.findall(low)]
    if any(8 <= m <= 12 for m in mirels):
        reasons.append(f"Mirels score {max(mirels)}")
    if any(7 <= m <= 18 for m in sins):
        reasons.append(f"SINS {max(sins)}")
    found = AT_RISK_WORDS.search(low)
    if found:
        reasons.append(f"'{found.group(0)}'")
    return ", ".join(reasons)


def _describes_a_lesion(term: str) -> bool:
    """A fragment that only describes the lesion ('lytic', 'Mirels 9', 'impending fracture'):
    read by bone_lesion_at_risk, not an unknown site."""
    rest = LESION_WORDS.sub(" ", MIRELS.sub(" ", SINS.sub(" ", AT_RISK_WORDS.sub(" ", term))))
    rest = re.sub(r"\b(score|of|with|and|a|an|the|small|large|multiple|fracture|lesion)\b",
                  " ", rest)
    return re.sub(r"[\s\-:=()/0-9]", "", rest) == "" and rest != term


def code_bone_sites(text: str | None) -> Coded:
    coded = code_list(bone_site_vocabulary(), text, ((THORACIC_LEVEL, "thoracic_spine"),
                                                     (SPINE_LEVEL, "spine")))
    # "none"/"no" in the sites column means no sites, not an unknown term; a fragment that
    # describes the lesion (lytic, Mirels 9) is read by bone_lesion_at_risk.
    unknown = tuple(t for t in coded.unrecognised if t not in ("none", "no", "nil", "n/a")
                    and not _describes_a_lesion(t))
    codes = set(coded.codes)
    if "thoracic_spine" in codes:  # a thoracic lesion is a spinal lesion too
        codes.add("spine")
    return Coded(tuple(sorted(codes)), unknown)


def surgery_side(text: str | None) -> str:
    """left/right/bilateral from the comorbidity terms that name a surgery, else ''."""
    sides: set[str] = set()
    surgical = {"recent_surgery", "surgical_drain", "axillary_dissection"}
    for term in split_terms(text):
        if set(comorbidity_vocabulary().match(term)) & surgical:
            sides |= {_SIDES[m.group(1)] for m in SIDE.finditer(term)}
    if "bilateral" in sides or {"left", "right"} <= sides:
        return "bilateral"
    return next(iter(sides), "")
