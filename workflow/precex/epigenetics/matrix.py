"""Stream a methylation matrix (probes in rows, samples in columns), keeping only needed probes.

Real EPIC exports hold ~850,000 probes; precex needs about a thousand (clock CpGs and panel
probes). Text files (CSV or TSV, plain or gzip) are scanned line by line as bytes and only the
wanted lines are decoded and parsed; Parquet files are read row group by row group and filtered
with Arrow. Memory follows the number of kept probes, not the file size.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from precex.problems import InputError, Problem

_NA = {"", "NA", "NaN", "nan", "NULL", "null", "."}


@dataclass
class BetaMatrix:
    beta: pd.DataFrame  # probes x samples
    converted_from_m: bool
    source: str
    # Samples left out for a bad value (sample -> (message, fix)): one bad sample excludes
    # that patient's methylation, not the batch's.
    bad_samples: dict[str, tuple[str, str]] = field(default_factory=dict)


def _open_binary(path: str) -> io.BufferedIOBase:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # noqa: SIM115 - closed by the caller's with


def _fail(path: str, message: str, fix: str) -> InputError:
    return InputError([Problem(path, message, fix, stage="epigenetics")])


def _check_samples(path: str, samples: list[str]) -> None:
    if not samples:
        raise _fail(path, "the header names no sample columns.",
                    "put probe IDs in the first column and one column per patient.")
    counts = pd.Series(samples).value_counts()
    dup = sorted(counts.index[counts > 1])
    if dup:
        raise _fail(path, f"duplicate sample columns: {', '.join(dup[:5])}.",
                    "each sample must appear once.")


BLOCK_BYTES = 32 << 20


def scan_lines(handle: io.BufferedIOBase, sep: bytes, wanted: set[bytes], first_line: int = 1
               ) -> Iterator[tuple[int, bytes]]:
    """(line number, line without newline) for each line whose first field is in `wanted`.

    Vectorised over blocks of the file read into one reused buffer: newlines are found with
    numpy, each line's first field is gathered into a fixed-width byte array and matched with
    np.isin, so only wanted lines become Python objects (an EPIC matrix has ~850,000 lines;
    ~1,000 are wanted). Reusing the buffers avoids a fresh 32 MB allocation per block.
    """
    keys = wanted | {b'"' + w + b'"' for w in wanted}
    if not keys:
        return
    width = max(len(k) for k in keys) + 1
    wanted_arr = np.array(sorted(keys), dtype=f"S{width}")
    sep_code = sep[0]
    offsets = np.arange(width)
    buf = bytearray(BLOCK_BYTES)
    is_newline = np.empty(BLOCK_BYTES, dtype=bool)
    filled = 0  # bytes of an unfinished line carried over from the previous block
    lineno = first_line
    while True:
        n = handle.readinto(memoryview(buf)[filled:])  # type: ignore[attr-defined]
        total = filled + (n or 0)
        at_eof = not n
        if total == 0:
            break
        arr = np.frombuffer(buf, dtype=np.uint8, count=total)
        ends = np.flatnonzero(np.equal(arr, 10, out=is_newline[:total]))
        if at_eof and (ends.size == 0 or ends[-1] != total - 1):
            ends = np.append(ends, total)  # last line without a trailing newline
        if ends.size == 0:  # a line longer than the buffer: grow and read on
            del arr  # a bytearray cannot be resized while a numpy view exports it
            buf.extend(bytearray(len(buf)))
            is_newline = np.empty(len(buf), dtype=bool)
            filled = total
            continue
        starts = np.concatenate(([0], ends[:-1] + 1))
        idx = np.minimum(starts[:, None] + offsets, total - 1)
        window = arr[idx]
        # A field ends at the separator or the line end; blank everything after it.
        stop = (window == sep_code) | (window == 13) | (idx >= ends[:, None])
        first_stop = np.where(stop.any(axis=1), stop.argmax(axis=1), width)
        window = np.where(offsets[None, :] < first_stop[:, None], window, 0).astype(np.uint8)
        ids = window.view(f"S{width}").ravel()
        for i in np.flatnonzero(np.isin(ids, wanted_arr)):
            yield lineno + int(i), bytes(buf[starts[i]:ends[i]]).rstrip(b"\r")
        lineno += len(ends)
        if at_eof:
            break
        tail_start = int(ends[-1]) + 1
        filled = total - tail_start
        buf[:filled] = buf[tail_start:total]


def _read_text_rows(path: str, wanted: set[str]) -> pd.DataFrame:
    """Scan lines as bytes, decode and parse only the wanted ones (C parser, in one go)."""
    wanted_b = {w.encode() for w in wanted}
    with _open_binary(path) as handle:
        header = handle.readline()
        if not header.strip():
            raise _fail(path, "the file is empty.", "give a beta-value matrix with a header row.")
        sep = b"\t" if header.count(b"\t") >= header.count(b",") else b","
        samples = [c.strip().strip(b'"').decode() for c in header.rstrip(b"\r\n").split(sep)[1:]]
        _check_samples(path, samples)
        n_seps = len(samples)
        kept: list[bytes] = []
        seen: dict[bytes, int] = {}
        for lineno, line in scan_lines(handle, sep, wanted_b, first_line=2):
            probe = line.split(sep, 1)[0].strip(b'"')
            if probe in seen:
                raise _fail(path, f"probe '{probe.decode()}' appears on lines {seen[probe]} and "
                            f"{lineno}.", "remove duplicate probe rows.")
            seen[probe] = lineno
            if line.count(sep) != n_seps:
                raise _fail(path, f"line {lineno} (probe '{probe.decode()}') has "
                            f"{line.count(sep) + 1} fields, the header has {n_seps + 1}.",
                            "check for a truncated or shifted line.")
            kept.append(line + b"\n")
    body = b"probe_id" + sep + sep.join(s.encode() for s in samples) + b"\n" + b"".join(kept)
    frame = pd.read_csv(io.BytesIO(body), sep=sep.decode(), index_col=0,
                        na_values=sorted(_NA), keep_default_na=False, dtype={"probe_id": str})
    frame.index = frame.index.astype(str)
    return frame


def _read_parquet_rows(path: str, wanted: set[str]) -> pd.DataFrame:
    """Row groups are read batch by batch and filtered on the probe column with Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise _fail(path, f"cannot be read as Parquet ({err}).", "re-export the matrix.") from None
    meta = pf.schema_arrow.pandas_metadata or {}
    index_cols = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    names = pf.schema_arrow.names
    probe_col = index_cols[0] if index_cols else names[0]
    samples = [n for n in names if n != probe_col]
    _check_samples(path, samples)
    wanted_arr = pa.array(sorted(wanted), type=pa.string())
    parts = []
    for batch in pf.iter_batches(batch_size=65536):
        probes = pc.cast(batch.column(probe_col), pa.string())
        mask = pc.is_in(probes, value_set=wanted_arr)
        if pc.any(mask).as_py():
            parts.append(pa.Table.from_batches([batch]).filter(mask))
    if not parts:
        return pd.DataFrame(columns=samples, index=pd.Index([], name="probe_id"), dtype=str)
    table = pa.concat_tables(parts).to_pandas(ignore_metadata=True)
    table = table.set_index(probe_col)
    table.index = table.index.astype(str)
    dup = table.index[table.index.duplicated()].unique()
    if len(dup):
        raise _fail(path, f"probe '{dup[0]}' appears more than once.",
                    "remove duplicate probe rows.")
    return table[samples]


def read_beta_matrix(path: str, probes: Iterable[str], value_type: str = "auto") -> BetaMatrix:
    """Rows for `probes` only. value_type: 'beta', 'm' (M-values, converted) or 'auto'."""
    wanted = set(probes)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise _fail(path, "file not found.", "check the 'methylation' path.") from None
    raw = _read_parquet_rows(path, wanted) if magic == b"PAR1" else _read_text_rows(path, wanted)
    ids, samples = list(raw.index), list(raw.columns)
    bad_samples: dict[str, tuple[str, str]] = {}
    # The parsers already typed numeric columns; only a column holding text needs a cell check.
    for col in samples:
        if not pd.api.types.is_numeric_dtype(raw[col]):
            text = raw[col].astype(str).str.strip().str.strip('"')
            coerced = pd.to_numeric(text.mask(text.isin(_NA)), errors="coerce")
            bad = coerced.isna() & ~text.isin(_NA) & raw[col].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                bad_samples[col] = (f"probe '{ids[i]}', sample '{col}': '{raw[col].iat[i]}' is "
                                    f"not a number ({int(bad.sum())} such values).",
                                    "beta values must be numbers (NA for missing).")
            raw[col] = coerced
    raw = raw.drop(columns=list(bad_samples))
    samples = list(raw.columns)
    values = raw.to_numpy(dtype=float)
    converted = False
    finite = values[np.isfinite(values)]
    outside = finite[(finite < 0) | (finite > 1)]
    if value_type == "m" or (value_type == "auto" and finite.size and
                             outside.size > 0.05 * finite.size):
        values = np.exp2(values) / (np.exp2(values) + 1.0)  # M = log2(beta / (1 - beta))
        converted = True
    else:
        outside_mask = np.isfinite(values) & ((values < 0) | (values > 1))
        for j in np.flatnonzero(outside_mask.any(axis=0)):
            i = int(np.flatnonzero(outside_mask[:, j])[0])
            bad_samples[samples[j]] = (
                f"probe '{ids[i]}', sample '{samples[j]}': {values[i, j]:g} is outside [0, 1] "
                f"({int(outside_mask[:, j].sum())} such values).",
                "give beta values, or set methylation_values: m for M-values.")
    frame = pd.DataFrame(values, index=pd.Index(ids, name="probe_id"), columns=samples)
    frame = frame.drop(columns=[c for c in bad_samples if c in frame.columns])
    return BetaMatrix(frame.sort_index(), converted, path, bad_samples)
