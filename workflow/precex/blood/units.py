"""Unit harmonisation with pint.

Unit text as laboratories write it ('10^9/L', 'K/uL', 'mg/dL', 'uIU/mL') is mapped to a pint
expression, converted to the marker's canonical unit, with mass <-> molar conversions through
the molar mass (pint's 'chemistry' context) and international units through the marker's
moles per IU. HbA1c NGSP % <-> IFCC mmol/mol uses its master equation, since pint treats both as
dimensionless.
"""

from __future__ import annotations

import re
from functools import cache

import pint

from precex.blood.catalogue import Marker

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
    "mmol/mol": "mmol/mol",
}


class UnitError(ValueError):
    """The unit is unknown or of the wrong dimension for the marker."""


@cache
def registry() -> pint.UnitRegistry:
    ureg = pint.UnitRegistry()
    ureg.define("international_unit = [biological_activity] = IU")
    return ureg


def _quantity(unit_text: str) -> pint.Quantity:
    text = unit_text.strip()
    if not text:
        raise UnitError("the unit is empty")
    key = re.sub(r"\s+", "", text).lower()
    expr = _ALIASES.get(key, text)
    try:
        q = registry().parse_expression(expr)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, ValueError, SyntaxError) as err:
        raise UnitError(f"unknown unit '{unit_text}'") from err
    if not isinstance(q, pint.Quantity):
        q = registry().Quantity(q, "dimensionless")
    return q


def hba1c_to_ngsp(value: float, unit_text: str) -> float:
    key = re.sub(r"\s+", "", unit_text).lower()
    if key in ("%", "percent", "%ngsp", "%dcct"):
        return value
    if key in ("mmol/mol", "mmol/mol(ifcc)"):
        return value / 10.929 + 2.15  # IFCC = 10.929 x (NGSP - 2.15)
    raise UnitError(f"unit '{unit_text}' is not an HbA1c unit (% NGSP or mmol/mol IFCC)")


def to_canonical(value: float, unit_text: str, marker: Marker) -> float:
    """`value` in `unit_text` expressed in the marker's canonical unit."""
    if marker.name == "hba1c":
        return hba1c_to_ngsp(value, unit_text)
    ureg = registry()
    source = _quantity(unit_text) * value
    target = _quantity(marker.canonical_unit)
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
