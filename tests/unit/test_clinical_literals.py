"""Clinical knowledge is data (issue 38): the numbers a clinical decision rests on live in
resources/ (thresholds.tsv, the prescription tables, progression.yaml, the rule base) with
their sources. This lists every numeric literal left in the modules that make clinical
decisions; each must be justified in tests/data/clinical_literals.tsv (a unit conversion, a
published formula's coefficients, calendar arithmetic, a display precision) or moved to
resources/. The list is exact both ways, so it only shrinks: a literal added to these modules
fails until it is moved or justified, and one removed fails until its line is deleted."""

from __future__ import annotations

import ast
import csv
from collections import Counter
from pathlib import Path

from precex.paths import resource_rows, threshold

PACKAGE = Path(__file__).resolve().parents[2] / "workflow" / "precex"
ALLOWED = Path(__file__).resolve().parents[1] / "data" / "clinical_literals.tsv"
# The modules that make clinical decisions (features, safety inputs, domains, the engine and
# plan builder, the weekly adaptation, the wearable signals, what the patient reads).
CLINICAL_MODULES = (
    "clinical/features.py", "clinical/facts.py", "blood/markers.py",
    "profile/safety_inputs.py", "profile/host.py", "profile/columns.py",
    "prescription/engine.py", "prescription/plan.py", "prescription/coherence.py",
    "prescription/restrictions.py", "adaptation/features.py", "adaptation/engine.py",
    "adaptation/blood_recheck.py", "wearables/features.py", "wearables/adherence.py",
    "reporting/handout.py",
)
# 0 and 1 are identity arithmetic (a start, an index, a complement) wherever they appear.
IDENTITY = {0, 1}


def literals(module: str) -> Counter[str]:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    found: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float) \
                and node.value not in IDENTITY:
            found[repr(node.value)] += 1
    return found


def allowed() -> dict[tuple[str, str], tuple[int, str]]:
    with open(ALLOWED, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {(r["module"], r["literal"]): (int(r["count"]), r["why"]) for r in rows}


def test_every_numeric_literal_in_the_clinical_modules_is_justified():
    listed = allowed()
    unjustified = [f"{m}: {lit} x{n}" for m in CLINICAL_MODULES
                   for lit, n in literals(m).items() if n > listed.get((m, lit), (0, ""))[0]]
    assert not unjustified, ("numbers in clinical code: move each to resources/ (thresholds.tsv "
                             "or the prescription tables) with its source, or justify it in "
                             "tests/data/clinical_literals.tsv:\n" + "\n".join(unjustified))


def test_the_justified_list_is_exact_so_it_only_shrinks():
    listed = allowed()
    stale = [f"{m}: {lit} listed x{n}, found x{literals(m)[lit]}"
             for (m, lit), (n, _) in listed.items() if literals(m)[lit] != n]
    assert not stale, "update tests/data/clinical_literals.tsv:\n" + "\n".join(stale)
    assert all(why.strip() for _, why in listed.values())
    assert {m for m, _ in listed} <= set(CLINICAL_MODULES)


def test_every_threshold_is_sourced_used_and_read_where_the_table_says():
    rows = resource_rows("clinical", "thresholds.tsv")
    assert len({r["name"] for r in rows}) == len(rows)
    for row in rows:
        assert all(row[k].strip() for k in ("value", "unit", "used_by", "meaning", "source")), row
        assert threshold(row["name"]) == float(row["value"])
        for module in (m.strip() for m in row["used_by"].split(",")):
            text = (PACKAGE / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
            assert f'"{row["name"]}"' in text, f"{row['name']} is not read in {module}"
