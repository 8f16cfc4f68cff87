"""Stream a methylation matrix (probes in rows, samples in columns), keeping only needed probes.

Real EPIC exports hold ~850,000 probes; precex needs about a thousand (clock CpGs and panel
probes). Text files (CSV, TSV or space-delimited, plain or gzip; the delimiter is detected) are
scanned line by line as bytes and only the wanted lines are decoded and parsed; Parquet files are
read row group by row group and filtered with Arrow. Memory follows the number of kept probes,
not the file size.

Read as GEO and array cores hand them over:
- GEO series matrices (`!Series_...` and `!Sample_...` lines, then `!series_matrix_table_begin`,
  a quoted `"ID_REF"` header and quoted GSM columns): the table is read; `!Sample_title` is kept
  so the stage can name samples by title when the sheet uses titles;
- supplementary matrices with detection p-value columns (interleaved `Detection Pval` columns,
  or `<sample>.Detection_Pval`): betas whose detection p exceeds `detection_p` (default 0.01) are
  masked, and the count is reported per sample;
- EPIC v2 probe IDs with suffixes (`cg00000029_TC21`) are matched to the clock CpG and replicate
  rows of one CpG are averaged;
- small excursions from normalisation (-0.01..0 and 1..1.01) are clipped with a note; larger
  values reject that sample only;
- the array type (27K, 450K, EPIC v1, EPIC v2) is inferred from the number of probe rows and the
  ID suffixes.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from precex.io.files import InputTooLarge, input_limits, open_input
from precex.io.tokens import NUMERIC_MISSING
from precex.problems import BadSample, InputError, Problem

_NA = NUMERIC_MISSING


CLIP_MARGIN = 0.01  # normalisation can push betas slightly outside [0, 1]
DETECTION_P_COLUMN = re.compile(r"(det(ection)?[ ._-]*)?p[ ._-]*val(ue)?$|detection[ ._-]*p$",
                                re.IGNORECASE)


@dataclass
class BetaMatrix:
    beta: pd.DataFrame  # probes x samples
    converted_from_m: bool
    source: str
    # Samples left out for a bad value: one bad sample excludes that patient's methylation,
    # not the batch's.
    bad_samples: dict[str, BadSample] = field(default_factory=dict)
    array_type: str = "unknown"
    n_probe_rows: int = 0
    # Non-excluding notes (sample or None, message): clipped or detection-masked values.
    notes: list[tuple[str | None, str]] = field(default_factory=list)
    sample_titles: dict[str, str] = field(default_factory=dict)  # GEO: GSM -> title


def array_type(n_rows: int, suffixed: bool) -> str:
    """Illumina array from the number of probe rows (27,578 / 485,577 / ~866k / ~937k)."""
    if suffixed:
        return "EPIC v2"
    if n_rows == 0:
        return "unknown"
    if n_rows <= 30_000:
        return "27K"
    if n_rows <= 500_000:
        return "450K" if n_rows >= 300_000 else "unknown (subset)"
    return "EPIC v1" if n_rows <= 900_000 else "EPIC v2"


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
MIN_BLOCK_BYTES = 64 << 10


def _bytes_left(handle: io.BufferedIOBase) -> int:
    """The bytes still to read from a plain file (BLOCK_BYTES when unknown: a compressed
    stream, whose file size says nothing of what it holds)."""
    if not isinstance(handle, io.BufferedReader):
        return BLOCK_BYTES
    try:
        return max(0, os.fstat(handle.fileno()).st_size - handle.tell())
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return BLOCK_BYTES


def scan_lines(handle: io.BufferedIOBase, sep: bytes, wanted: set[bytes], first_line: int = 1,
               stats: dict[str, int] | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, line without newline) for each line whose first field is in `wanted`.

    Vectorised over blocks of the file read into one reused buffer: newlines are found with
    numpy, each line's first field is gathered into a fixed-width byte array and matched with
    np.isin, so only wanted lines become Python objects (an EPIC matrix has ~850,000 lines;
    ~1,000 are wanted). Reusing the buffers avoids a fresh 32 MB allocation per block. The
    field is matched up to an '_' too, so EPIC v2 IDs (cg00000029_TC21) find their CpG;
    `stats['lines']` counts the lines scanned.
    """
    keys = wanted | {b'"' + w + b'"' for w in wanted}
    if not keys:
        return
    width = max(len(k) for k in keys) + 1
    wanted_arr = np.array(sorted(keys), dtype=f"S{width}")
    sep_code = sep[0]
    offsets = np.arange(width)
    # A small file gets a buffer of its own size: zeroing 32 MB cost ~9 ms a call.
    block = min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, _bytes_left(handle) + 1))
    buf = bytearray(block)
    is_newline = np.empty(block, dtype=bool)
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
            if total > input_limits()["max_line_characters"]:
                raise InputTooLarge(f"has a line longer than "
                                    f"{input_limits()['max_line_characters']:,} bytes")
            del arr  # a bytearray cannot be resized while a numpy view exports it
            buf.extend(bytearray(len(buf)))
            is_newline = np.empty(len(buf), dtype=bool)
            filled = total
            continue
        starts = np.concatenate(([0], ends[:-1] + 1))
        idx = np.minimum(starts[:, None] + offsets, total - 1)
        window = arr[idx]
        # A field ends at the separator or the line end; blank everything after it.
        stop = ((window == sep_code) | (window == 13) | (window == 95) | (window == 9)
                | (idx >= ends[:, None]))
        first_stop = np.where(stop.any(axis=1), stop.argmax(axis=1), width)
        window = np.where(offsets[None, :] < first_stop[:, None], window, 0).astype(np.uint8)
        ids = window.view(f"S{width}").ravel()
        for i in np.flatnonzero(np.isin(ids, wanted_arr)):
            yield lineno + int(i), bytes(buf[starts[i]:ends[i]]).rstrip(b"\r")
        lineno += len(ends)
        if stats is not None:
            stats["lines"] = stats.get("lines", 0) + len(ends)
        if at_eof:
            break
        tail_start = int(ends[-1]) + 1
        filled = total - tail_start
        buf[:filled] = buf[tail_start:total]


@dataclass
class _TextTable:
    raw: pd.DataFrame  # probes (full IDs) x columns, as text
    p_columns: dict[str, str]  # detection p column -> its sample
    n_rows: int
    titles: dict[str, str]


def _geo_preamble(handle: io.BufferedIOBase, path: str) -> tuple[bytes, int, dict[str, str]]:
    """Skip a GEO series-matrix preamble; the header line, its number and GSM -> title."""
    limit = input_limits()["max_line_characters"]

    def readline() -> bytes:  # a header line is bounded too
        line = handle.readline(limit + 1)
        if len(line) > limit:
            raise InputTooLarge(f"has a line longer than {limit:,} bytes")
        return line

    line, n = readline(), 1
    meta: dict[bytes, list[str]] = {}
    if not line.startswith(b"!"):
        return line, n, {}
    while line:
        stripped = line.strip()
        if stripped.lower() == b"!series_matrix_table_begin":
            header = readline()
            gsm = meta.get(b"!Sample_geo_accession", [])
            titles = meta.get(b"!Sample_title", [])
            return header, n + 1, dict(zip(gsm, titles, strict=False)) if len(gsm) == len(
                titles) else {}
        if stripped.startswith(b"!Sample_"):
            key, *values = line.rstrip(b"\r\n").split(b"\t")
            meta[key] = [v.strip().strip(b'"').decode("utf-8", "replace") for v in values]
        line, n = readline(), n + 1
    raise _fail(path, "a GEO series matrix without '!series_matrix_table_begin'.",
                "give the complete series-matrix file (or its table).")


def _split(line: bytes, sep: bytes | None) -> list[bytes]:
    return line.split() if sep is None else line.split(sep)


# What a field of a tab-separated line may hold that bytes.strip() or the quote strip would
# remove (quotes, white space other than the separating tabs): a line without any is kept as
# read instead of being split and joined again.
_NEEDS_STRIP = re.compile(rb'[" \r\n\x0b\x0c]')


def _read_text_rows(path: str, wanted: set[str]) -> _TextTable:
    """Scan lines as bytes, decode and parse only the wanted ones (C parser, in one go)."""
    wanted_b = {w.encode() for w in wanted}
    with open_input(path) as handle:
        header, header_line, titles = _geo_preamble(handle, path)
        if not header.strip():
            raise _fail(path, "the file is empty.", "give a beta-value matrix with a header row.")
        tabs, commas = header.count(b"\t"), header.count(b",")
        sep: bytes | None = b"\t" if tabs and tabs >= commas else b"," if commas else None
        names = [c.strip().strip(b'"').decode("utf-8", "replace")
                 for c in _split(header.rstrip(b"\r\n"), sep)]
        if any(ch in name for name in names for ch in "\r\n\x00"):
            raise _fail(path, "the header line holds control characters.",
                        "save the matrix as plain text with one header line.")
        columns, p_columns = _name_columns(names[1:])
        _check_samples(path, [c for c in columns if c not in p_columns])
        n_cols = len(columns)
        kept: list[bytes] = []
        seen: dict[bytes, int] = {}
        stats: dict[str, int] = {}
        for lineno, line in scan_lines(handle, b" " if sep is None else sep, wanted_b,
                                       first_line=header_line + 1, stats=stats):
            body = line.rstrip(b"\r\n")
            bare = sep == b"\t" and not _NEEDS_STRIP.search(body)
            if bare:  # bare tab-separated values (the usual export): counted, kept as read
                fields = None
                n_fields = body.count(b"\t") + 1
                probe = body.split(b"\t", 1)[0]
            else:
                fields = _split(line, sep)
                n_fields = len(fields)
                probe = fields[0].strip(b'"')
            if probe in seen:
                raise _fail(path, f"probe '{probe.decode()}' appears on lines {seen[probe]} and "
                            f"{lineno}.", "remove duplicate probe rows.")
            seen[probe] = lineno
            if n_fields != n_cols + 1:
                raise _fail(path, f"line {lineno} (probe '{probe.decode()}') has "
                            f"{n_fields} fields, the header has {n_cols + 1}.",
                            "check for a truncated or shifted line.")
            if fields is None:
                kept.append(body + b"\n")
            else:
                kept.append(b"\t".join([probe, *(f.strip().strip(b'"') for f in fields[1:])])
                            + b"\n")
    body = b"probe_id\t" + b"\t".join(c.encode() for c in columns) + b"\n" + b"".join(kept)
    try:
        frame = pd.read_csv(io.BytesIO(body), sep="\t", index_col=0, na_values=sorted(_NA),
                            keep_default_na=False, dtype={"probe_id": str})
    except (pd.errors.ParserError, ValueError) as err:
        raise _fail(path, f"the matrix cannot be parsed ({err}).",
                    "give one probe per line with one value per sample column.") from None
    frame.index = frame.index.astype(str)
    end_marker = 1 if titles else 0  # '!series_matrix_table_end'
    return _TextTable(frame, p_columns, max(0, stats.get("lines", 0) - end_marker), titles)


def _name_columns(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Columns with detection p-value columns renamed '<sample> detection p' and paired with
    their sample: '<sample>.Detection Pval' by prefix, a bare 'Detection Pval' by position."""
    columns: list[str] = []
    p_columns: dict[str, str] = {}
    previous = None
    for name in names:
        if DETECTION_P_COLUMN.search(name) and name.lower() not in ("p", "pval"):
            prefix = DETECTION_P_COLUMN.sub("", name).rstrip(" ._-")
            sample = prefix if prefix and prefix in columns else previous
            label = f"{sample} detection p" if sample else name
            columns.append(label)
            if sample:
                p_columns[label] = sample
            continue
        columns.append(name)
        previous = name
    return columns, p_columns


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


def read_beta_matrix(path: str | list[str], probes: Iterable[str], value_type: str,
                     detection_p: float) -> BetaMatrix:
    """Rows for `probes` only. value_type: 'beta', 'm' (M-values, converted) or 'auto'.

    Several matrices (per plate or batch) are read one by one and joined by probe; a sample in
    two matrices keeps the first and the second is reported.
    """
    if isinstance(path, list):  # a plate's matrix holds many samples: a broken one stops
        return _join([read_beta_matrix(p, probes, value_type, detection_p) for p in path])
    wanted = set(probes)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise _fail(path, "file not found.", "check the 'methylation' path.") from None
    if magic == b"PAR1":
        text = _TextTable(_read_parquet_rows(path, wanted), {}, 0, {})
    else:
        try:
            text = _read_text_rows(path, wanted)
        except InputTooLarge as err:  # a compression bomb or a line without end
            raise _fail(path, f"is beyond precex's input bounds: it {err}.", "give the "
                        "matrix as exported (one probe per line); if it is real, raise the "
                        "bound in resources/limits.yaml.") from None
    raw = text.raw
    ids, columns = list(raw.index), list(raw.columns)
    bad_samples: dict[str, BadSample] = {}
    notes: list[tuple[str | None, str]] = []
    # The parsers already typed numeric columns; only a column holding text needs a cell check.
    for col in columns:
        if not pd.api.types.is_numeric_dtype(raw[col]):
            text_values = raw[col].astype(str).str.strip().str.strip('"')
            coerced = pd.to_numeric(text_values.mask(text_values.isin(_NA)), errors="coerce")
            bad = coerced.isna() & ~text_values.isin(_NA) & raw[col].notna()
            if bad.any() and col not in text.p_columns:
                i = int(np.flatnonzero(bad.to_numpy())[0])
                bad_samples[col] = BadSample(
                    f"probe '{ids[i]}', sample '{col}': '{raw[col].iat[i]}' is not a number "
                    f"({int(bad.sum())} such values).",
                    "beta values must be numbers (NA for missing).")
            raw[col] = coerced
    for pcol, sample in text.p_columns.items():  # mask betas that failed detection
        if sample in raw.columns:
            failed = raw[pcol].astype(float) > detection_p
            if failed.any():
                raw.loc[failed, sample] = np.nan
                notes.append((sample, f"sample '{sample}': {int(failed.sum())} of {len(raw)} "
                              f"needed probes masked (detection p > {detection_p:g})."))
    raw = raw.drop(columns=list(bad_samples) + list(text.p_columns))
    suffixed = any("_" in i for i in ids)
    if suffixed:  # EPIC v2: cg00000029_TC21 and its replicates are one CpG
        raw = raw.groupby(raw.index.str.split("_").str[0]).mean()
    ids, samples = list(raw.index), list(raw.columns)
    values = raw.to_numpy(dtype=float)
    converted = False
    finite = values[np.isfinite(values)]
    outside = finite[(finite < -CLIP_MARGIN) | (finite > 1 + CLIP_MARGIN)]
    if value_type == "m" or (value_type == "auto" and finite.size and
                             outside.size > 0.05 * finite.size):
        with np.errstate(over="ignore"):  # huge M-values: beta 1 (inf/inf handled below)
            power = np.exp2(np.clip(values, -60, 60))
        values = power / (power + 1.0)  # M = log2(beta / (1 - beta))
        converted = True
    else:
        slight = np.isfinite(values) & (((values < 0) & (values >= -CLIP_MARGIN))
                                        | ((values > 1) & (values <= 1 + CLIP_MARGIN)))
        for j in np.flatnonzero(slight.any(axis=0)):
            notes.append((samples[j], f"sample '{samples[j]}': {int(slight[:, j].sum())} beta "
                          f"values within {CLIP_MARGIN:g} of [0, 1] clipped (normalisation)."))
        values = np.where(slight, np.clip(values, 0, 1), values)
        outside_mask = np.isfinite(values) & ((values < 0) | (values > 1))
        for j in np.flatnonzero(outside_mask.any(axis=0)):
            i = int(np.flatnonzero(outside_mask[:, j])[0])
            bad_samples[samples[j]] = BadSample(
                f"probe '{ids[i]}', sample '{samples[j]}': {values[i, j]:g} is outside [0, 1] "
                f"({int(outside_mask[:, j].sum())} such values).",
                "give beta values, or set methylation_values: m for M-values.")
    frame = pd.DataFrame(values, index=pd.Index(ids, name="probe_id"), columns=samples)
    frame = frame.drop(columns=[c for c in bad_samples if c in frame.columns])
    return BetaMatrix(frame.sort_index(), converted, path, bad_samples,
                      array_type(text.n_rows, suffixed), text.n_rows, notes, text.titles)


def _join(matrices: list[BetaMatrix]) -> BetaMatrix:
    """Matrices joined by probe; a sample already read keeps its first matrix."""
    first = matrices[0]
    beta = first.beta
    bad = dict(first.bad_samples)
    notes = list(first.notes)
    titles = dict(first.sample_titles)
    for m in matrices[1:]:
        again = [c for c in m.beta.columns if c in beta.columns]
        for c in again:
            notes.append((c, f"sample '{c}' is also in {m.source}; the first matrix's values "
                          "are used."))
        beta = beta.join(m.beta.drop(columns=again), how="outer")
        bad.update({k: v for k, v in m.bad_samples.items() if k not in bad})
        notes += m.notes
        titles.update(m.sample_titles)
    types = sorted({m.array_type for m in matrices})
    return BetaMatrix(beta.sort_index(), any(m.converted_from_m for m in matrices),
                      ", ".join(m.source for m in matrices), bad, " + ".join(types),
                      sum(m.n_probe_rows for m in matrices), notes, titles)
