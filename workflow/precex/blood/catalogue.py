"""The marker catalogue (resources/blood/marker_catalogue.tsv): names, LOINC, units, ranges."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from precex.paths import resource_path


@dataclass(frozen=True)
class Marker:
    name: str
    label: str  # as the report shows it ("NT-proBNP", "Vitamin D (25-OH)")
    loinc: tuple[str, ...]
    canonical_unit: str
    kind: str  # count, concentration, percent, activity, volume, hba1c: how units are read
    adverse: str  # low, high or none: which direction is worse (conflicts keep the worse)
    column_unit: str  # unit as written in column names, e.g. mmol_l
    molar_mass: float  # g/mol; 0 when no mass<->molar conversion applies
    iu_in_mol: float  # moles per international unit; 0 when not applicable
    plausible: tuple[float, float]
    reference_f: tuple[float, float]
    reference_m: tuple[float, float]
    source: str

    @property
    def column(self) -> str:
        return f"{self.name}_{self.column_unit}"


@cache
def _rows() -> tuple[dict[str, str], ...]:
    """The catalogue's rows as text (read with csv, not pandas: the report kernel, which
    formats blood values by the catalogue, then starts without loading pandas)."""
    with open(resource_path("blood", "marker_catalogue.tsv"), encoding="utf-8",
              newline="") as handle:
        return tuple(csv.DictReader(handle, delimiter="\t"))


@cache
def load_catalogue() -> dict[str, Marker]:
    markers = {}
    for r in _rows():
        markers[r["marker"]] = Marker(
            name=r["marker"],
            label=r["label"],
            loinc=tuple(c for c in r["loinc"].split(";") if c),
            canonical_unit=r["canonical_unit"],
            kind=r["kind"],
            adverse=r["adverse"],
            column_unit=r["column_unit"],
            molar_mass=float(r["molar_mass_g_mol"]),
            iu_in_mol=float(r["iu_in_mol"]),
            plausible=(float(r["plausible_min"]), float(r["plausible_max"])),
            reference_f=(float(r["ref_low_f"]), float(r["ref_high_f"])),
            reference_m=(float(r["ref_low_m"]), float(r["ref_high_m"])),
            source=r["source"],
        )
    return markers


@cache
def _lookup() -> tuple[dict[str, str], dict[str, str]]:
    by_name: dict[str, str] = {}
    by_loinc: dict[str, str] = {}
    for r in _rows():
        for name in [r["marker"], *r["synonyms"].split(";")]:
            if name:
                by_name[_key(name)] = r["marker"]
        for code in r["loinc"].split(";"):
            if code:
                by_loinc[code.strip()] = r["marker"]
    return by_name, by_loinc


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def find_marker(name: str | None = None, loinc: str | None = None) -> str | None:
    by_name, by_loinc = _lookup()
    if loinc:
        hit = by_loinc.get(str(loinc).strip())
        if hit:
            return hit
    if name:
        return by_name.get(_key(str(name)))
    return None
