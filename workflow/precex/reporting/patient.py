"""Data and HTML for the per-patient report (rendered inside the papermill notebook).

Everything shown comes from the profile and prescription JSON the pipeline wrote; this module
only arranges it. Jinja2 autoescaping escapes every value from the inputs, so a field holding
`<script>` renders as text. Charts are inline SVG: the file opens offline and requests nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Expr
from markupsafe import Markup, escape

try:  # markupsafe's own escaping (its C speedups) without the Markup around the result
    from markupsafe import _escape_inner
except ImportError:  # a markupsafe without it: the same text, slower

    def _escape_inner(text: str, /) -> str:
        return str(escape(text))

from precex.blood.catalogue import load_catalogue
from precex.io.files import write_in_job_folder, write_text
from precex.prescription.model import EMPTY, Prescription
from precex.prescription.plan import INTENSITY_TABLE, highest_intensity
from precex.prescription.restrictions import CLINICIAN_TEXT
from precex.reporting.numbers import number, quantity

STATUS_TEXT = {
    "prescribed": "Prescribed - may start",
    "clearance_required": "Medical clearance required before starting",
    "deferred": "Exercise deferred",
}
EXCLUDED_TEXT = CLINICIAN_TEXT  # resources/prescription/restrictions.tsv
SAFETY_INPUT_LABELS = {
    "platelets": "Platelets", "hemoglobin": "Haemoglobin", "neutrophils": "Neutrophils",
    "wbc": "White cells (WBC)", "fever": "Fever / temperature", "lvef": "LVEF",
    "blood_pressure": "Blood pressure", "resting_hr": "Resting heart rate",
    "bone": "Bone metastasis status",
}


def patient_context(features: dict[str, Any], prescription: Prescription
                    ) -> list[tuple[str, str]]:
    """The header line a clinician reads first: who, what disease, what treatment, when."""
    f = features
    calendar = prescription.get("treatment_calendar") or EMPTY
    items = [("Age", number(f.get("age"), 0, missing="")),
             ("Sex", str(f.get("sex") or "")),
             ("Subtype", str(f.get("subtype") or "")),
             ("Stage", str(f.get("stage") or "")),
             ("Phase", str(f.get("treatment_phase") or "").replace("_", " ")),
             ("Agents", str(f.get("agents") or "").replace(";", ", ").replace("_", " ")),
             ("Next infusion", str(calendar.get("next_infusion_rolled_forward")
                                   or calendar.get("next_infusion_date") or "")),
             ("Operated side", str(f.get("operated_side") or "")),
             ("Issued", prescription["engine"]["reference_date"])]
    return [(k, v) for k, v in items if v]


def key_measurements(features: dict[str, Any], prescription: Prescription
                     ) -> list[tuple[str, str]]:
    """The measurements the safety flags read, with dates and sources, beside the flags."""
    f = features
    inputs = prescription.get("safety_inputs") or EMPTY
    out = []
    # The values the EHR gave (the sheet left them blank), with where and when it had them.
    from_ehr = dict(part.split(": ", 1) for part in str(f.get("sheet_value_sources") or "")
                    .split(" | ") if ": " in part)

    def origin(*columns: str) -> str:
        found = [from_ehr[c] for c in columns if c in from_ehr]
        return f" ({found[0]})" if found else ""

    def add(label: str, value: Any, unit: str, extra: str = "", digits: int = 1) -> None:
        shown = quantity(value, unit, digits, missing="")
        if shown:
            out.append((label, shown + extra))

    for marker, label, unit in (("platelets", "Platelets", "x10^9/L"),
                                ("hemoglobin", "Haemoglobin", "g/dL"),
                                ("neutrophils", "Neutrophils", "x10^9/L")):
        entry = inputs.get(marker) or {}
        # Each value with its own date and source: a weekly count is not the baseline's.
        date = entry.get("date") or f.get(f"{marker}_date")
        state = entry.get("state")
        flag = f" ({state})" if state in ("conflicting", "stale", "rejected") else ""
        source = f", {entry['source']}" if entry.get("source") and entry.get("date") else ""
        add(label, entry.get("value"), unit, (f", {date}" if date else "") + source + flag)
    lvef_entry = inputs.get("lvef") or EMPTY
    lvef = lvef_entry.get("value") if lvef_entry.get("value") is not None else f.get("lvef_pct")
    base = f.get("lvef_baseline_pct")
    baseline = quantity(base, "%", 1, missing="")
    lvef_date = lvef_entry.get("date") or f.get("lvef_date")
    add("LVEF", lvef, "%", (f", {lvef_date}" if lvef_date else "")
        + (f" (baseline {baseline})" if baseline else "") + origin("lvef_pct"))
    sbp, dbp = number(f.get("systolic_bp"), 0, missing=""), number(f.get("diastolic_bp"), 0,
                                                                    missing="")
    if sbp:
        out.append(("Blood pressure", (f"{sbp}/{dbp} mmHg" if dbp else f"{sbp} mmHg systolic")
                    + origin("systolic_bp", "diastolic_bp")))
    rest = inputs.get("resting_hr") or EMPTY
    rest_source = rest.get("source")  # the EHR's resource and date when it gave the value
    add("Resting HR", rest.get("value"), "bpm", f" ({rest_source})" if rest_source else "", 0)
    add("VO2peak", f.get("vo2peak_ml_kg_min"), "mL/kg/min")
    add("BMI", f.get("bmi_kg_m2"), "kg/m2", origin("weight_kg", "height_cm"))
    if number(f.get("wear_days"), missing=""):
        parts = [quantity(f.get("wear_days"), "days worn"),
                 quantity(f.get("mvpa_min_per_week"), "min/week MVPA", missing=""),
                 quantity(f.get("steps_mean"), "steps/day", missing="")]
        out.append(("Wearable (28 days)", ", ".join(p for p in parts if p)))
    add("HRV (SDNN; not comparable with RMSSD)", f.get("hrv_sdnn_mean_ms"), "ms")
    if f.get("wearable_sources"):
        out.append(("Wearable sources", str(f["wearable_sources"])))
    return out


def intensity_summary(prescription: Prescription) -> dict[str, str]:
    """The maximum intensity the patient may do now (this week's dose, never above the cap)
    and, when the plan goes higher later, from which week: {intensity_now, intensity_later}."""
    tw = prescription.get("this_week") or EMPTY
    now = tw.get("max_intensity") or highest_intensity(tw.get("aerobic"), tw.get("resistance"))
    planned = prescription.get("max_intensity_planned") or highest_intensity(
        prescription.get("aerobic"), prescription.get("resistance"))
    later = ""
    if planned not in ("none", now):
        week = next((w["week"] for w in prescription.get("progression") or []
                     if highest_intensity(w.get("aerobic"), w.get("resistance")) == planned),
                    None)
        later = f"({planned} from week {week})" if week else f"({planned} later)"
    return {"intensity_now": now, "intensity_later": later}


def data_gaps(prescription: Prescription) -> list[dict[str, str]]:
    """Safety inputs not cleanly measured, for the Data to obtain box."""
    rows = []
    for name, entry in (prescription.get("safety_inputs") or EMPTY).items():
        if entry.get("state") in ("conflicting", "stale", "rejected"):
            rows.append({"input": SAFETY_INPUT_LABELS.get(name, name), "state": entry["state"],
                         "value": "" if entry.get("value") is None else str(entry["value"])})
    return rows


def escaped_text(value: Any) -> str:
    """A shown value as HTML text: markupsafe.escape's characters and rules, as a plain str.
    Jinja joins a page's pieces into one str, so wrapping each of them in Markup first (about
    950 per patient report, a quarter of its rendering) changes nothing on the page."""
    if type(value) is str:
        return _escape_inner(value)
    html = getattr(value, "__html__", None)
    if html is not None:  # Markup, and a block or macro's output: already safe
        return str(html())
    return _escape_inner(str(value))


class PlainEscapeCodeGenerator(CodeGenerator):
    """Jinja's code generator, except that a template's `{{ value }}` in an autoescaped
    template is written through escaped_text instead of markupsafe.escape. Everything else
    (filters, blocks, macros, `{% set %}` blocks, constants escaped at compile time) is
    Jinja's own; tests/unit/test_reporting.py checks that the pages are the same."""

    def _output_child_pre(self, node: Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("environment.escaped_text(")
        if finalize.src is not None:
            self.write(finalize.src)


class ReportEnvironment(Environment):
    """Jinja's environment, except that `x.name` on a dict looks the key up first. Jinja tries
    the attribute first, and a dict has none of our names, so every `row.value` raised and
    caught an AttributeError: about 1,100 per patient report, 45% of its rendering time. The
    templates call no dict method (tests/unit/test_reporting.py checks both, and that the
    output is the same). Shown values are escaped by escaped_text (PlainEscapeCodeGenerator).
    """

    code_generator_class = PlainEscapeCodeGenerator
    escaped_text = staticmethod(escaped_text)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


# Direction overrides and isolates (U+202A-U+202E, U+2066-U+2069): text from inputs that
# contains them is shown reordered ("dr.x" as another name), so no page shows them.
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_BIDI_CHARACTERS = tuple(chr(code) for code in _BIDI)


def bidi_free(text: str) -> str:
    """The text without direction overrides. Looked for first: translating text that is not
    all ASCII goes character by character (about 0.2 ms a handout, 2 ms a report with one
    accented name), and the characters are rare."""
    if any(character in text for character in _BIDI_CHARACTERS):
        return text.translate(_BIDI)
    return text


def without_bidi(value: Any) -> Any:
    """Every value a template shows, without direction overrides (the templates' finalize)."""
    if isinstance(value, Markup):
        return Markup(bidi_free(str(value)))
    if isinstance(value, str):
        return bidi_free(value)
    return value


class BidiFreeTemplate(Template):
    """A template whose page has no direction overrides: one pass over the rendered page
    instead of a finalize call per value shown (about 950 per patient report, a fifth of
    its rendering time). The same characters go; the templates' own text has none."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return bidi_free(super().render(*args, **kwargs))


@cache
def environment() -> Environment:
    """One per process: building it compiles every template again (about 70 ms)."""
    env = ReportEnvironment(loader=PackageLoader("precex.reporting", "templates"),
                            autoescape=select_autoescape(default=True, default_for_string=True),
                            trim_blocks=True, lstrip_blocks=True)
    env.template_class = BidiFreeTemplate
    env.filters["fmt"] = _fmt
    env.filters["fmt_trim"] = _fmt_trim
    env.filters["label"] = label
    env.filters["css_string"] = css_string
    return env


def css_string(value: Any) -> Markup:
    """Text for a double-quoted CSS string inside <style>: backslash, quote, '<' and line breaks
    escaped as CSS escapes, so no input can end the string or the style element."""
    out = []
    for ch in str(value):
        if ch in '\\"<>&' or ord(ch) < 32:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup("".join(out))


def _fmt(value: Any, digits: int = 1) -> str:
    """The templates' `fmt` filter: a number at fixed digits (thousands separated)."""
    return number(value, digits)


@cache
def _labels() -> dict[tuple[str, str], str]:
    from precex.paths import resource_rows

    return {(r["kind"], r["key"]): r["label"] for r in resource_rows("reporting", "labels.tsv")}


def label(key: Any, kind: str) -> str:
    """A clock's or format's name as readers know it (resources/reporting/labels.tsv), the
    key itself when the table has none."""
    return _labels().get((kind, str(key)), str(key))


def _fmt_trim(value: Any, digits: int = 1) -> str:
    """At most `digits` decimals, trailing zeros dropped (a count of 15 shows as 15, not
    15.00; 12.5 stays 12.5)."""
    return number(value, digits, trim=True)


def blood_rows(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Markers with value, reference range (by sex) and position flag."""
    feats = profile.get("features", {})
    female = feats.get("sex", "F") == "F"
    rows = []
    for m in load_catalogue().values():
        value = feats.get(m.column)
        if value is None:
            continue
        lo, hi = m.reference_f if female else m.reference_m
        flag = "low" if value < lo else "high" if value > hi else "in range"
        span = max(hi - lo, 1e-9)
        pos = min(100.0, max(0.0, 25 + 50 * (value - lo) / span))
        # "x10^9/L" as every other count in the report writes it
        unit = f"x{m.canonical_unit}" if m.canonical_unit.startswith("10^") else m.canonical_unit
        rows.append({"name": m.label, "value": value,
                     # '<3 mg/L' as the lab reported it (the value is the limit)
                     "censored": str(feats.get(f"{m.column}_censored") or ""),
                     "unit": unit, "low": lo, "high": hi, "flag": flag,
                     "pos": round(pos, 1), "date": feats.get(f"{m.name}_date", "")})
    return rows


def progression_points(prescription: Prescription) -> dict[str, Any]:
    """Polyline coordinates of weekly MET-minutes over 12 weeks (SVG 480 x 160)."""
    weeks = prescription.get("progression") or []
    if not weeks:
        return {"points": "", "labels": [], "max": 0}
    top = max(w["weekly_met_minutes"] for w in weeks) or 1
    pts, labels = [], []
    for w in weeks:
        x = 40 + (w["week"] - 1) * 38
        y = 140 - 110 * w["weekly_met_minutes"] / top
        pts.append(f"{x:.0f},{y:.0f}")
        labels.append({"x": x, "y": y, "week": w["week"], "met": w["weekly_met_minutes"]})
    return {"points": " ".join(pts), "labels": labels, "max": top}


def microbiome_bars(features: dict[str, Any]) -> list[dict[str, Any]]:
    """Phylum composition as stacked-bar segments (x offset and width in percent)."""
    if features.get("bacillota_pct") is None:
        return []
    parts = [("Bacillota", features.get("bacillota_pct") or 0.0, "#1f5fa8"),
             ("Bacteroidota", features.get("bacteroidota_pct") or 0.0, "#6aa84f")]
    other = max(0.0, 100.0 - sum(v for _, v, _ in parts))
    parts.append(("other phyla", other, "#b7c0cc"))
    out, x = [], 0.0
    for name, value, colour in parts:
        out.append({"name": name, "pct": round(value, 1), "x": round(x, 2),
                    "width": round(value, 2), "colour": colour})
        x += value
    return out


def age_bars(features: dict[str, Any]) -> dict[str, Any]:
    """Chronological and clock ages as bars on a common scale (width in percent of 0..top)."""
    given = [("chronological", features.get("age"))]
    given += [(c, features.get(f"{c}_age")) for c in ("horvath2013", "hannum2013",
                                                     "phenoage2018")]
    rows = [(name if name == "chronological" else label(name, "clock"), float(v))
            for name, v in given if v is not None]
    if len(rows) < 2:
        return {"rows": [], "top": 0}
    top = max(v for _, v in rows) * 1.1
    return {"top": round(top), "rows": [{"name": n, "age": round(v, 1),
                                         "width": round(100 * v / top, 2)} for n, v in rows]}


@cache
def _variant_genes() -> dict[str, str]:
    import pandas as pd

    from precex.paths import resource_path

    table = pd.read_csv(resource_path("genetics", "exercise_variants.tsv"), sep="\t", dtype=str)
    return dict(zip(table["rsid"], table["gene"], strict=True))


def genotype_rows(features: dict[str, Any]) -> list[dict[str, str]]:
    """The research-only genotypes the genetics domain refers to, with their genes."""
    genes = _variant_genes()
    return [{"rsid": rsid, "gene": gene, "genotype": str(features[f"{rsid}_genotype"])}
            for rsid, gene in sorted(genes.items())
            if features.get(f"{rsid}_genotype") not in (None, "")]


def signoff_text(prescription: Prescription) -> dict[str, str]:
    """The sign-off line the report opens with: {state, text}."""
    from precex.prescription.signoff import effective_signoff

    block = effective_signoff(prescription)
    state = block["state"]
    when = str(block.get("at", ""))[:16].replace("T", " ")
    note = f" Note: {block['note']}" if block.get("note") else ""
    if state == "approved":
        text = f"Signed: approved by {block['by']} on {when} UTC."
    elif state == "amended":
        text = f"Signed with an amendment by {block['by']} on {when} UTC.{note}"
    elif state == "rejected":
        text = f"REJECTED by {block['by']} on {when} UTC: do not use this prescription.{note}"
    elif state == "changed_since_signoff":
        text = (f"DRAFT - changed since sign-off: {block['by']} decided '{block['decision']}' "
                f"on an earlier version on {when} UTC; this version is not signed. Review it "
                "again before use.")
    else:
        text = ("DRAFT - not signed. Decision support only: a clinician reviews and signs it "
                "(precex signoff) before use.")
    return {"state": state, "text": text}


def report_context(profile: dict[str, Any], prescription: Prescription,
                   provenance: dict[str, Any]) -> dict[str, Any]:
    trace = prescription.get("trace", [])
    # The caps in force: a weekly plan's trace also records caps lifted that week (not
    # applied), which are not shown as active flags.
    safety = [t for t in trace if t["kind"] == "safety" and t["applied"]]
    evidence = [t for t in trace if t["applied"] and t["kind"] in ("base", "modifier")
                and t["grade"] != "H"]
    hypotheses = [a for a in prescription.get("annotations", []) if a["grade"] == "H"]
    other_notes = [a for a in prescription.get("annotations", []) if a["grade"] != "H"]
    research_applied = [t for t in trace if t["applied"] and t["grade"] == "H"
                        and t["kind"] == "modifier"]
    domains = [{"name": k.replace("_", " "), **v} for k, v in profile["domains"].items()]
    tw = prescription.get("this_week") or EMPTY
    tw_aerobic = tw.get("aerobic") or EMPTY
    return {
        **intensity_summary(prescription),
        "tw_rpe": list(INTENSITY_TABLE[tw_aerobic["intensity"]]["rpe"]) if tw_aerobic else [],
        "p": prescription,
        "profile": profile,
        "status_text": STATUS_TEXT[prescription["status"]],
        "signoff": signoff_text(prescription),
        "genotypes": genotype_rows(profile.get("features", {})),
        "excluded_text": [EXCLUDED_TEXT.get(e, e) for e in prescription["excluded"]],
        "data_to_obtain": prescription.get("data_to_obtain") or [],
        "context": patient_context(profile.get("features", {}), prescription),
        "measurements": key_measurements(profile.get("features", {}), prescription),
        "data_gaps": data_gaps(prescription),
        "data_issues": prescription.get("data_issues") or [],
        "safety": safety,
        "evidence": evidence,
        "hypotheses": hypotheses,
        "other_notes": other_notes,
        "research_applied": research_applied,
        "domains": domains,
        "blood": blood_rows(profile),
        "progression": progression_points(prescription),
        "provenance": provenance,
        "features": profile.get("features", {}),
        "microbiome_bars": microbiome_bars(profile.get("features", {})),
        "age_bars": age_bars(profile.get("features", {})),
    }


def research_rows(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """The responder-model section: per outcome, its skill and, when it has skill, the
    expected change under each alternative plan with its 90% interval."""
    if block is None:
        return None
    by_outcome: dict[str, list[dict[str, Any]]] = {}
    for row in block.get("predictions", []):
        by_outcome.setdefault(row["outcome"], []).append({
            **row, "label": block["plan_labels"].get(row["plan"], row["plan"])})
    outcomes = []
    for name, meta in sorted(block.get("outcomes", {}).items()):
        outcomes.append({"name": name, **meta, "rows": by_outcome.get(name, [])})
    return {"outcomes": outcomes}


def render_patient_report(profile_path: str, prescription_path: str,
                          provenance_path: str, research_path: str = "") -> str:
    with open(provenance_path, encoding="utf-8") as f:
        provenance = json.load(f)
    research = None
    if research_path:  # research_mode with a responder model (results/research/)
        with open(research_path, encoding="utf-8") as f:
            research = json.load(f)
    return _render(profile_path, prescription_path, provenance, research)


def _render(profile_path: str, prescription_path: str, provenance: dict[str, Any],
            research: dict[str, Any] | None) -> str:
    with open(profile_path, "rb") as f:
        raw_profile = f.read()
    profile = json.loads(raw_profile)
    with open(prescription_path, encoding="utf-8") as f:
        prescription = json.load(f)
    template = environment().get_template("patient.html.j2")
    context = report_context(profile, prescription, provenance)
    context["patient_data_digest"] = hashlib.sha256(raw_profile).hexdigest()
    context["research"] = None
    if research is not None:
        context["research"] = research_rows(research.get(prescription["patient_id"]))
    return template.render(**context)


# The key under which a batch reports an error of the machine (disk full, read-only, I/O)
# rather than of a patient; the stage fails the job instead of excluding anyone.
ENVIRONMENT_ERROR = "__environment_error__"
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EMFILE,
                       errno.ENFILE}


def environment_error(err: BaseException) -> bool:
    """An OS error that says nothing about the patient: no space, quota, read-only, I/O."""
    return isinstance(err, OSError) and err.errno in _ENVIRONMENT_ERRNOS


def render_patient_reports(jobs_path: str, failures_path: str) -> None:
    """Every report a batch lists (JSON: [{key, parameters, out_html}], the parameters those of
    render_patient_report), each written to its out_html; {key: reason} for the patients whose
    report failed goes to failures_path. Files shared by the batch (provenance, the responder
    model's predictions) are read once, not once per patient."""
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    shared: dict[str, Any] = {}

    def load(path: str) -> Any:
        if path not in shared:
            with open(path, encoding="utf-8") as f:
                shared[path] = json.load(f)
        return shared[path]

    failures = {}
    for job in jobs:
        parameters = job["parameters"]
        try:
            research = load(parameters["research_path"]) if parameters.get(
                "research_path") else None
            html = _render(parameters["profile_path"], parameters["prescription_path"],
                           load(parameters["provenance_path"]), research)
            if not html.strip():
                raise ValueError("the report is empty")
            write_in_job_folder(job["out_html"], html if html.endswith("\n") else html + "\n")
        except OSError as err:
            if environment_error(err):  # a full disk is the machine's problem, not the
                # patient's: the job stops (the stage fails it) and a rerun renders everyone
                failures[ENVIRONMENT_ERROR] = f"{type(err).__name__}: {err}"
                break
            failures[job["key"]] = f"report failed ({type(err).__name__}: {err})"
        except Exception as err:  # one patient's failure is recorded; the batch carries on
            failures[job["key"]] = f"report failed ({type(err).__name__}: {err})"
    write_text(failures_path, json.dumps(failures, sort_keys=True))
