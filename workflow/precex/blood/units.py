"""Unit harmonisation with pint, UCUM codes through ucumvert.

Unit text as laboratories write it ('10^9/L', 'K/uL', 'x10E3/uL', 'cells/mm3', 'mg/dL',
'uIU/mL') is mapped to a pint expression, converted to the marker's canonical unit, with
mass <-> molar conversions through the molar mass (pint's 'chemistry' context; haemoglobin in
mmol/L through the Hb(Fe) monomer) and international units through the marker's moles per IU.
UCUM codes (what FHIR valueQuantity.code carries: '10*3/uL', 'g/dL', 'u[IU]/mL') are parsed
with ucumvert when the lab spelling does not apply. The reading depends on the marker's kind:
for a cell count 'G/L' is giga per litre (10^9/L), for a concentration it is grams per litre.
HbA1c NGSP % <-> IFCC mmol/mol uses its master equation, since pint treats both as
dimensionless.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from precex.blood.catalogue import Marker

if TYPE_CHECKING:
    import pint


def _pint() -> Any:
    """pint, imported when a unit is first converted, not with this module: most jobs that
    read units never convert one (a value in its marker's own unit, a temperature already in
    Celsius), and the import is 0.08 s of each such job."""
    import pint

    return pint

# Cell counts: 10^9/L == 10^3/uL == G/L == K/uL.
_ALIASES = {
    "10^9/l": "1e9/L", "x10^9/l": "1e9/L", "10*9/l": "1e9/L", "10e9/l": "1e9/L",
    "g/l(cells)": "1e9/L", "giga/l": "1e9/L", "10^3/ul": "1e3/uL", "x10^3/ul": "1e3/uL",
    "10*3/ul": "1e3/uL", "k/ul": "1e3/uL", "thou/ul": "1e3/uL", "10^3/mm3": "1e3/mm^3",
    "/ul": "1/uL", "cells/ul": "1/uL", "10^12/l": "1e12/L", "10*12/l": "1e12/L",
    "%": "percent", "percent": "percent", "mcg/l": "ug/L", "mcg/dl": "ug/dL",
    "mcmol/l": "umol/L", "µmol/l": "umol/L", "μmol/l": "umol/L", "µiu/ml": "uIU/mL",
    "μiu/ml": "uIU/mL", "mu/l": "mIU/L", "miu/l": "mIU/L", "iu/l": "IU/L", "u/l": "U/L",
    "fl": "fL", "mg/l": "mg/L", "mg/dl": "mg/dL", "g/dl": "g/dL", "g/l": "g/L",
    "pg/ml": "pg/mL", "ng/ml": "ng/mL", "ng/l": "ng/L", "nmol/l": "nmol/L",
    "mmol/l": "mmol/L", "umol/l": "umol/L", "pmol/l": "pmol/L", "uiu/ml": "uIU/mL",
    "mmol/mol": "mmol/mol", "gm/dl": "g/dL", "gm/l": "g/L", "gms/dl": "g/dL",
    "gm%": "g/dL", "g%": "g/dL",
}


class UnitError(ValueError):
    """The unit is unknown or of the wrong dimension for the marker."""


@cache
def registry() -> pint.UnitRegistry:
    ureg = _pint().UnitRegistry()
    ureg.define("international_unit = [biological_activity] = IU")
    return ureg


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
# Powers of ten as labs write them: 10^9/L, x10E9/L, 10*9/L (UCUM), 10e3/uL, x 10^3/mcL.
# (An exponent never starts with 0: 'x1000/uL' is a thousand per uL, not 10^00.)
_POWER_COUNT = re.compile(r"^x?10(?:\^|\*|e|\*\*)?([1-9]\d?)(?:cells)?/(ul|l|ml|mm3|mm\^3|nl)$")
_COUNT_ALIASES = {
    "g/l": "1e9/L", "gpt/l": "1e9/L", "giga/l": "1e9/L", "/nl": "1e9/L", "t/l": "1e12/L",
    "tpt/l": "1e12/L", "k/ul": "1e3/uL", "k/mm3": "1e3/mm^3", "thou/ul": "1e3/uL",
    "thou/mm3": "1e3/mm^3", "thousand/ul": "1e3/uL", "/ul": "1/uL", "/mm3": "1/mm^3",
    "/mm^3": "1/mm^3", "cells/ul": "1/uL", "cells/mm3": "1/mm^3", "/cumm": "1/mm^3",
    "cells/cumm": "1/mm^3", "cumm": "1/mm^3", "m/ul": "1e6/uL", "mill/ul": "1e6/uL",
    # US lab exports: 'cells/uL x1000', 'x1000/uL', 'thous/uL'
    "cells/ulx1000": "1e3/uL", "x1000cells/ul": "1e3/uL", "x1000/ul": "1e3/uL",
    "1000/ul": "1e3/uL", "thous/ul": "1e3/uL", "thous/mm3": "1e3/mm^3",
}


def _lab_key(unit_text: str) -> str:
    """Fold the ways labs write units: case, spaces, unicode x/micro/superscripts, mcL."""
    key = unit_text.strip().translate(_SUPERSCRIPTS)
    key = key.replace("×", "x").replace("µ", "u").replace("μ", "u").replace("³", "3")
    key = re.sub(r"\s+", "", key).lower()
    key = key.replace("mcl", "ul").replace("cu.mm", "mm3").replace("cumm", "mm3")
    return key.replace("mm³", "mm3")


def lab_expression(unit_text: str, kind: str = "") -> str:
    """A pint expression for a laboratory's unit text, read for the marker's kind."""
    key = _lab_key(unit_text)
    if kind == "count":
        power = _POWER_COUNT.match(key)
        if power:
            volume = {"mm3": "mm^3", "mm^3": "mm^3", "ul": "uL", "l": "L", "ml": "mL",
                      "nl": "nL"}[power.group(2)]
            return f"1e{power.group(1)}/{volume}"
        if key in _COUNT_ALIASES:
            return _COUNT_ALIASES[key]
    return _ALIASES.get(key, unit_text.strip())


def _from_ucum(unit_text: str) -> pint.Quantity:
    """A UCUM code as a quantity of this registry (ucumvert parses, pint converts)."""
    from ucumvert import PintUcumRegistry

    text = unit_text.strip().replace("[IU]", "IU").replace("[iU]", "IU")
    try:
        return registry().parse_expression(text)
    except Exception:  # noqa: BLE001 - fall through to the UCUM grammar
        pass
    q = _ucum_registry(PintUcumRegistry).from_ucum(text)
    base = q.to_base_units()
    return registry().Quantity(float(base.magnitude), str(base.units))


@cache
def _ucum_registry(kind: type) -> pint.UnitRegistry:
    return kind()


def _quantity(unit_text: str, kind: str = "") -> pint.Quantity:
    text = unit_text.strip()
    if not text:
        raise UnitError("the unit is empty")
    expr = lab_expression(text.replace("[IU]", "IU").replace("[iU]", "IU"), kind)
    pint = _pint()
    try:
        q = registry().parse_expression(expr)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, ValueError, SyntaxError, AssertionError):
        try:
            q = _from_ucum(text)
        except Exception as err:  # noqa: BLE001 - the UCUM grammar raises its own errors
            raise UnitError(f"unknown unit '{unit_text}'") from err
    if not isinstance(q, pint.Quantity):
        q = registry().Quantity(q, "dimensionless")
    return q


def hba1c_to_ngsp(value: float, unit_text: str) -> float:
    key = re.sub(r"\s+", "", unit_text).lower()
    if key in ("%", "percent", "%ngsp", "%dcct", "%hb", "%{hb}", "%oftotalhb", "%(ngsp)"):
        return value
    if key in ("mmol/mol", "mmol/mol(ifcc)", "mmol/mol{hb}", "mmol/molhb"):
        return value / 10.929 + 2.15  # IFCC = 10.929 x (NGSP - 2.15)
    raise UnitError(f"unit '{unit_text}' is not an HbA1c unit (% NGSP or mmol/mol IFCC)")


def to_canonical(value: float, unit_text: str, marker: Marker) -> float:
    """`value` in `unit_text` expressed in the marker's canonical unit."""
    if marker.name == "hba1c":
        return hba1c_to_ngsp(value, unit_text)
    if lab_expression(unit_text, marker.kind) == lab_expression(marker.canonical_unit,
                                                                 marker.kind):
        # the marker's own unit, however the lab spells it ('10*9/L', 'x10^9/L'): the value
        # as it is, exactly, and no unit registry to build (0.13 s a job)
        return float(value)
    pint = _pint()
    ureg = registry()
    source = _quantity(unit_text, marker.kind) * value
    target = _quantity(marker.canonical_unit, marker.kind)
    try:
        return float(source.to(target.units).magnitude / target.magnitude)
    except pint.errors.DimensionalityError:
        pass
    concentrations = (ureg.Quantity(1, "g/L").dimensionality,
                      ureg.Quantity(1, "mol/L").dimensionality)
    # Only mass <-> molar concentration goes through the molar mass; pint's chemistry context
    # would otherwise try other routes (e.g. g -> mol/L divides by a default volume of 0).
    if (marker.molar_mass > 0 and source.dimensionality in concentrations
            and target.dimensionality in concentrations):
        converted = source.to(target.units, "chemistry",
                              mw=ureg.Quantity(marker.molar_mass, "g/mol"))
        return float(converted.magnitude / target.magnitude)
    if marker.iu_in_mol > 0:
        iu = ureg.Quantity(marker.iu_in_mol, "mol/IU")
        for candidate in (source / iu, source * iu):
            try:
                return float(candidate.to(target.units).magnitude / target.magnitude)
            except pint.errors.DimensionalityError:
                continue
    raise UnitError(f"unit '{unit_text}' cannot be converted to {marker.canonical_unit} for "
                    f"{marker.name}")


# Measurement units as sheets and EHRs spell them, beside the lab spellings above: the one unit
# mechanism for every reader (vitals, body size, temperature), through this registry.
_MEASUREMENT_ALIASES = {
    "kg": "kg", "kgs": "kg", "g": "g", "lb": "lb", "lbs": "lb", "[lb_av]": "lb",
    "cm": "cm", "m": "m", "mm": "mm", "in": "inch", "[in_i]": "inch", '"': "inch",
    "/min": "1/min", "1/min": "1/min", "bpm": "1/min", "beats/min": "1/min",
    "{beats}/min": "1/min", "/minute": "1/min", "beats/minute": "1/min",
    "{beat}/min": "1/min", "mm[hg]": "mmHg", "mmhg": "mmHg",
    "%": "percent", "percent": "percent", "pct": "percent",
    "cel": "degC", "c": "degC", "°c": "degC", "degc": "degC", "celsius": "degC",
    "[degf]": "degF", "f": "degF", "°f": "degF", "degf": "degF", "fahrenheit": "degF",
}


def unit_of(unit_text: str) -> str:
    """The registry's name for a unit as sheets spell it ('bpm' -> '1/min', 'C' -> 'degC');
    other text as written (pint or UCUM reads it, or refuses it)."""
    return _MEASUREMENT_ALIASES.get(_lab_key(unit_text), unit_text)


def _measurement_units(unit_text: str) -> pint.Quantity:
    if _lab_key(unit_text) in _MEASUREMENT_ALIASES:
        return registry().Quantity(1, unit_of(unit_text))
    return _quantity(unit_text)


def convert(value: Any, unit_text: str, target: str) -> Any:
    """A measurement (a number or a numpy array) in `unit_text` as sheets, devices and EHRs
    write it ('kg', '[lb_av]', 'lbs', 'cm', '[in_i]', '/min', 'mm[Hg]', 'Cel', '[degF]', or
    any UCUM code) expressed in `target`, a unit of this registry ('kg', 'cm', '1/min',
    'mmHg', 'percent', 'degC'). UnitError when the unit is unknown or measures something else
    (a weight in cm)."""
    pint = _pint()
    ureg = registry()
    try:
        unit = _measurement_units(unit_text)
        # built from the magnitude, not multiplied: temperatures are offset units
        quantity = ureg.Quantity(value * unit.magnitude, unit.units)
        return quantity.to(target).magnitude
    except pint.errors.DimensionalityError:
        raise UnitError(f"unit '{unit_text}' is not a unit of "
                        f"{ureg.Quantity(1, target).dimensionality}") from None


def celsius(value: Any, unit_text: str = "") -> Any:
    """A body temperature in degrees C: Fahrenheit converted; without a unit, a value above
    resources/clinical/thresholds.tsv `temperature_fahrenheit_above` is read as Fahrenheit (no
    living patient is 45 C). Works on numpy arrays of values without a unit too."""
    import numpy as np

    from precex.paths import threshold

    values = np.asarray(value, dtype=float)
    # A converted value to 0.01 C: pint converts through kelvin, so 100.4 F came out as
    # 38.00000000000006 (or could fall a hair under the 38.0 fever threshold).
    # No unit registry is built (0.13 s) for values that are Celsius already: the sheet's and
    # the follow-up's temperatures nearly always are.
    if unit_text.strip():
        in_celsius = (unit_of(unit_text) == "degC"
                      or _measurement_units(unit_text).units == registry().degC)
        converted = values if in_celsius else np.round(convert(values, unit_text, "degC"), 2)
    else:
        fahrenheit = values > threshold("temperature_fahrenheit_above")
        converted = (np.where(fahrenheit, np.round(convert(values, "degF", "degC"), 2), values)
                     if fahrenheit.any() else values)
    return float(converted) if converted.ndim == 0 else converted
