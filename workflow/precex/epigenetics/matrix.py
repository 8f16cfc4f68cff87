"""Stream a methylation matrix (probes in rows, samples in columns), keeping only needed probes.

Real EPIC exports hold ~850,000 probes; precex needs about a thousand (clock CpGs and panel
probes), so the file is read line by line and only wanted rows are parsed: memory follows the
number of kept probes, not the file size. CSV or TSV, plain or gzip.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from precex.problems import InputError, Problem

_NA = {"", "NA", "NaN", "nan", "NULL", "null", "."}


@dataclass
class BetaMatrix:
    beta: pd.DataFrame  # probes x samples
    converted_from_m: bool
    source: str


def _open_text(path: str) -> io.TextIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - closed by the caller's with


def _fail(path: str, message: str, fix: str) -> InputError:
    return InputError([Problem(path, message, fix, stage="epigenetics")])


def read_beta_matrix(path: str, probes: Iterable[str], value_type: str = "auto") -> BetaMatrix:
    """Rows for `probes` only. value_type: 'beta', 'm' (M-values, converted) or 'auto'."""
    wanted = set(probes)
    try:
        handle = _open_text(path)
    except FileNotFoundError:
        raise _fail(path, "file not found.", "check the 'methylation' path.") from None
    with handle:
        header = handle.readline().rstrip("\r\n")
        if not header:
            raise _fail(path, "the file is empty.", "give a beta-value matrix with a header row.")
        sep = "\t" if header.count("\t") >= header.count(",") else ","
        samples = [s.strip().strip('"') for s in header.split(sep)[1:]]
        if not samples:
            raise _fail(path, "the header names no sample columns.",
                        "put probe IDs in the first column and one column per patient.")
        dup = sorted({s for s in samples if samples.count(s) > 1})
        if dup:
            raise _fail(path, f"duplicate sample columns: {', '.join(dup[:5])}.",
                        "each sample must appear once.")
        ids: list[str] = []
        rows: list[list[str]] = []
        seen: dict[str, int] = {}
        width = len(samples) + 1
        for lineno, line in enumerate(handle, start=2):
            cut = line.find(sep)
            probe = line[:cut].strip('"') if cut >= 0 else line.strip()
            if probe not in wanted:
                continue
            if probe in seen:
                raise _fail(path, f"probe '{probe}' appears on lines {seen[probe]} and {lineno}.",
                            "remove duplicate probe rows.")
            seen[probe] = lineno
            fields = line.rstrip("\r\n").split(sep)
            if len(fields) != width:
                raise _fail(path, f"line {lineno} (probe '{probe}') has {len(fields)} fields, "
                            f"the header has {width}.", "check for a truncated or shifted line.")
            ids.append(probe)
            rows.append(fields[1:])
    raw = np.array(rows, dtype=object).reshape(len(rows), len(samples))
    values = np.full(raw.shape, np.nan)
    for (i, j), cell in np.ndenumerate(raw):
        text = cell.strip().strip('"')
        if text in _NA:
            continue
        try:
            values[i, j] = float(text)
        except ValueError:
            raise _fail(path, f"probe '{ids[i]}', sample '{samples[j]}': '{cell}' is not a "
                        "number.", "beta values must be numbers (NA for missing).") from None
    converted = False
    finite = values[np.isfinite(values)]
    outside = finite[(finite < 0) | (finite > 1)]
    if value_type == "m" or (value_type == "auto" and finite.size and
                             outside.size > 0.05 * finite.size):
        values = np.exp2(values) / (np.exp2(values) + 1.0)  # M = log2(beta / (1 - beta))
        converted = True
    else:
        bad = np.argwhere(np.isfinite(values) & ((values < 0) | (values > 1)))
        if len(bad):
            i, j = bad[0]
            raise _fail(path, f"probe '{ids[i]}', sample '{samples[j]}': {values[i, j]:g} is "
                        f"outside [0, 1] ({len(bad)} such values).",
                        "give beta values, or set methylation_values: m for M-values.")
    frame = pd.DataFrame(values, index=pd.Index(ids, name="probe_id"), columns=samples)
    return BetaMatrix(frame.sort_index(), converted, path)
