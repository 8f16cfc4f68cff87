"""Read microbiome tables in the formats cores hand over, detected from the file's content.

- BIOM 2.1 (HDF5) and BIOM 1.0 (JSON) through biom-format;
- classic BIOM TSV (`# Constructed from biom file`, `#OTU ID`, optional `taxonomy` column);
- QIIME 2 artifacts (.qza zip: <uuid>/data/feature-table.biom, taxonomy.tsv), no QIIME 2 needed;
- MetaPhlAn 3/4 per-sample profiles and merged tables (relative abundances in percent);
- Kraken2 and Bracken reports, Bracken tables and nf-core/taxprofiler taxpasta tables (which
  cover Kraken2, Bracken, Centrifuge, Kaiju, mOTUs, KMCP, ganon, MALT, ...): see profilers.py.

Every reader returns a `MicrobiomeTable`: samples x features, with the lineage of each feature.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from precex.io.files import InputTooLarge, input_limits, open_input
from precex.microbiome.profilers import (
    BRACKEN_COLUMNS,
    REFUSED_FIX,
    bacteria_only,
    looks_like_kraken_report,
    rank_shares,
    read_bracken_table,
    read_kraken_report,
    read_taxpasta,
    refused_profile,
)
from precex.problems import BadSample, InputError, Problem

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FORMATS = ("biom-hdf5", "biom-json", "biom-tsv", "qiime2-qza", "metaphlan", "kraken2",
           "bracken", "taxpasta")


BAD_VALUE_FIX = "counts and abundances must be non-negative numbers; fix or re-export this sample."


@dataclass
class MicrobiomeTable:
    values: pd.DataFrame  # samples x features; counts, or proportions when relative
    lineage: pd.Series  # feature -> lineage string ('' when unknown)
    relative: bool
    source: str
    format: str
    # Samples left out for a bad value: one bad sample excludes that patient's microbiome,
    # not the batch's.
    bad_samples: dict[str, BadSample] = field(default_factory=dict)
    # Profilers that report every rank (MetaPhlAn, Kraken2, taxpasta) give their own phylum
    # and species shares (samples x clade, share of the whole profile): features use them
    # instead of re-deriving phyla from renormalised genera, and guilds count species.
    phylum: pd.DataFrame | None = None
    species: pd.DataFrame | None = None
    # What a read classifier's shares leave out, per sample (human, viral, archaeal reads).
    left_out: dict[str, str] = field(default_factory=dict)


def _fail(path: str | os.PathLike[str], message: str, fix: str) -> InputError:
    return InputError([Problem(str(path), message, fix, stage="microbiome")])


def detect_format(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    if not p.is_file():
        raise _fail(path, "file not found.", "check the 'microbiome' path in the config.")
    with open(p, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(HDF5_SIGNATURE):
        return "biom-hdf5"
    if zipfile.is_zipfile(p):
        return "qiime2-qza"
    if head.startswith(b"\x1f\x8b"):  # a gzipped report or table: its text decides
        with open_input(p, "rb") as handle:
            try:
                head = handle.read(4096)
            except (OSError, EOFError):
                raise _fail(path, "is a damaged gzip file.", "compress it again, or give "
                            "the file uncompressed.") from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("{"):
        return "biom-json"
    first = text.splitlines()[0] if text else ""
    if first.startswith("#mpa_v") or re.search(r"^#?clade_name\t", text, re.M):
        return "metaphlan"
    if first.startswith("# Constructed from biom file") or first.startswith("#OTU ID"):
        return "biom-tsv"
    if re.split(r"[\t,]", first)[0] == "taxonomy_id":
        return "taxpasta"
    if first.split("\t")[:len(BRACKEN_COLUMNS)] == BRACKEN_COLUMNS:
        return "bracken"
    if looks_like_kraken_report(text):
        return "kraken2"
    refused = refused_profile(text)
    if refused:
        what, fix = REFUSED_FIX[refused].split("; ", 1)
        raise _fail(path, f"is {what}, which precex does not read directly.", fix)
    raise _fail(path, "format not recognised.",
                "give a BIOM (1.0 JSON or 2.1 HDF5), classic BIOM TSV, QIIME 2 .qza feature "
                "table, MetaPhlAn 3/4 profile, Kraken2/Bracken report or taxpasta table.")


def _from_biom(table: object, path: str, fmt: str) -> MicrobiomeTable:
    # A sparse table's dense size is known before it is made: refuse one beyond the bound
    # (a sparse BIOM once asked for 8.9 GiB: a MemoryError, not an input problem).
    n_features, n_samples = table.shape  # type: ignore[attr-defined]
    dense = n_features * n_samples * 8
    if dense > input_limits()["max_dense_table_bytes"]:
        raise _fail(path, f"would be {dense / 2**30:.1f} GiB as a dense table ({n_samples:,} "
                    f"samples x {n_features:,} features).", "collapse the features to a rank "
                    "(e.g. genus) or split the samples into batches; if it is real, raise the "
                    "bound in resources/limits.yaml.")
    frame = table.to_dataframe(dense=True).T  # type: ignore[attr-defined]
    lineage = pd.Series("", index=frame.columns, dtype=object)
    metadata = table.metadata(axis="observation")  # type: ignore[attr-defined]
    if metadata is not None:
        for fid, md in zip(frame.columns, metadata, strict=True):
            tax = (md or {}).get("taxonomy")
            if isinstance(tax, list | tuple):
                tax = "; ".join(map(str, tax))
            lineage[fid] = tax or ""
    return MicrobiomeTable(frame.astype(float), lineage, False, path, fmt)


def _load_biom_bytes(data: bytes, path: str, fmt: str) -> MicrobiomeTable:
    import biom
    import h5py

    try:
        if data.startswith(HDF5_SIGNATURE):
            with h5py.File(io.BytesIO(data), "r") as handle:
                table = biom.Table.from_hdf5(handle)
        else:
            table = biom.Table.from_json(json.loads(data.decode("utf-8")))
    except Exception as err:  # biom/h5py raise many types for corrupt input
        raise _fail(path, f"cannot be read as a BIOM table ({type(err).__name__}: {err}).",
                    "re-export the table (e.g. `biom convert --to-hdf5`) and check that the "
                    "file was copied completely.") from None
    return _from_biom(table, path, fmt)


def _read_classic_tsv(path: str) -> MicrobiomeTable:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.startswith("#OTU ID")), None)
    if header_at is None:
        raise _fail(path, "no '#OTU ID' header line.", "export with `biom convert --to-tsv`.")
    # pandas would silently rename a repeated column (S1 -> S1.1): check the raw header first.
    _check_unique(pd.Index(lines[header_at].split("\t")[1:]), path, "sample")
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines[header_at:])), sep="\t", dtype=str,
                            keep_default_na=False)
    except pd.errors.ParserError as err:
        raise _fail(path, f"rows do not match the header ({err}).",
                    "give one value per sample on every row.") from None
    frame = frame.rename(columns={"#OTU ID": "feature_id"})
    lineage = pd.Series("", index=frame["feature_id"], dtype=object)
    meta_cols = [c for c in frame.columns if c.lower() in ("taxonomy", "consensus lineage")]
    if meta_cols:
        lineage = pd.Series(frame[meta_cols[0]].to_numpy(), index=frame["feature_id"])
        frame = frame.drop(columns=meta_cols)
    values = frame.set_index("feature_id")
    _check_unique(values.index, path, "feature")
    _check_unique(values.columns, path, "sample")
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = _text_cells(values, numeric.isna() & (values != ""), "feature")
    return MicrobiomeTable(numeric.fillna(0).T.astype(float), lineage, False, path, "biom-tsv",
                           bad)


def _text_cells(text: pd.DataFrame, bad: pd.DataFrame, row_name: str) -> dict[str, BadSample]:
    """Per sample (column), the first cell that is not a number."""
    out = {}
    for j in np.flatnonzero(bad.to_numpy().any(axis=0)):
        i = int(np.flatnonzero(bad.iloc[:, j].to_numpy())[0])
        out[str(text.columns[j])] = BadSample(
            f"{row_name} '{text.index[i]}', sample '{text.columns[j]}': '{text.iat[i, j]}' is "
            "not a number.", BAD_VALUE_FIX)
    return out


def _archive_member(archive: zipfile.ZipFile, name: str, path: str) -> bytes:
    """A member of a zip archive, refused when the archive says it decompresses beyond the
    bound (a zip bomb reached 6.5 GB before an error), and read in chunks that stop at the
    bound whatever the archive claims."""
    limit = input_limits()["max_archive_bytes"]
    if sum(i.file_size for i in archive.infolist()) > limit:
        raise _fail(path, f"decompresses to more than {limit / 2**30:g} GiB.", "give the "
                    "artifact as QIIME 2 wrote it; if it is real, raise the bound in "
                    "resources/limits.yaml.")
    out = bytearray()
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            out += chunk
            if len(out) > limit:
                raise _fail(path, f"decompresses to more than {limit / 2**30:g} GiB.",
                            "give the artifact as QIIME 2 wrote it.")
    return bytes(out)


def _read_qza(path: str, taxonomy: str | None) -> MicrobiomeTable:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        biom_name = next((n for n in names if n.endswith("/data/feature-table.biom")), None)
        if biom_name is None:
            tax_name = next((n for n in names if n.endswith("/data/taxonomy.tsv")), None)
            hint = " It holds a taxonomy; give it as 'microbiome_taxonomy'." if tax_name else ""
            raise _fail(path, "this QIIME 2 artifact holds no feature table "
                        "(no <uuid>/data/feature-table.biom)." + hint,
                        "give a FeatureTable[Frequency] artifact (table.qza).")
        table = _load_biom_bytes(_archive_member(archive, biom_name, path), path,
                                 "qiime2-qza")
    if taxonomy:
        table.lineage = read_taxonomy(taxonomy, list(table.values.columns))
    return table


def _artifact_or_text(path: str, member: str, fix: str) -> str:
    """The text of <uuid>/data/<member> in a QIIME 2 artifact, or of the plain file."""
    if not zipfile.is_zipfile(path):
        return Path(path).read_text(encoding="utf-8")
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith(f"/data/{member}")), None)
        if name is None:
            raise _fail(path, f"this QIIME 2 artifact holds no {member}.", fix)
        return _archive_member(archive, name, path).decode("utf-8")


def read_taxonomy(path: str, features: list[str]) -> pd.Series:
    """QIIME 2 taxonomy (.qza or exported taxonomy.tsv: Feature ID, Taxon[, Confidence])."""
    text = _artifact_or_text(path, "taxonomy.tsv", "give a FeatureData[Taxonomy] artifact.")
    frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False,
                        comment=None)
    frame = frame[~frame.iloc[:, 0].str.startswith("#")]  # QIIME 2 '#q2:types' directive rows
    if "Feature ID" not in frame.columns or "Taxon" not in frame.columns:
        raise _fail(path, "taxonomy needs the columns 'Feature ID' and 'Taxon'.",
                    "export it with `qiime tools export` or give the taxonomy .qza.")
    _check_unique(pd.Index(frame["Feature ID"]), path, "feature")
    lineage = pd.Series(frame["Taxon"].to_numpy(), index=frame["Feature ID"])
    missing = [f for f in features if f not in lineage.index]
    if missing:
        raise _fail(path, f"does not cover {len(missing)} of the table's {len(features)} "
                    f"features (e.g. {', '.join(missing[:3])}).",
                    "use the taxonomy made from the same feature table (same representative "
                    "sequences).")
    return lineage.reindex(features)


METAPHLAN_DEFAULT_SAMPLE = "Metaphlan_Analysis"


def _metaphlan_sample_id(comments: list[str], path: str) -> str:
    """MetaPhlAn writes '#<sample_id_key>\t<sample_id>' above the header; its default
    ('Metaphlan_Analysis') says nothing, so the file name names the sample (P001.txt -> P001)."""
    for line in comments:
        fields = line.lstrip("#").split("\t")
        if len(fields) == 2 and fields[0] != "clade_name" and fields[1].strip():
            if fields[1].strip() != METAPHLAN_DEFAULT_SAMPLE:
                return fields[1].strip()
    sample = Path(path).name.split(".")[0]
    for suffix in ("_profile", "_metaphlan", "_mpa", "_metaphlan_profile"):
        sample = sample.removesuffix(suffix)
    return sample


def _read_metaphlan(path: str) -> MicrobiomeTable:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    header_at = next((i for i, line in enumerate(lines)
                      if line.lstrip("#").split("\t")[0] == "clade_name"), None)
    if header_at is None:
        raise _fail(path, "no 'clade_name' header line.",
                    "give a MetaPhlAn profile or a table from merge_metaphlan_tables.py.")
    header = lines[header_at].lstrip("#").split("\t")
    _check_unique(pd.Index(header), path, "sample")
    body = [line.split("\t") for line in lines[header_at + 1:] if line and not
            line.startswith("#")]
    for offset, row in enumerate(body):
        if len(row) > len(header):
            raise _fail(path, f"a row has {len(row)} fields, the header {len(header)} (line "
                        f"{header_at + 2 + offset} or near it).",
                        "give one value per sample on every row.")
    frame = pd.DataFrame([row + [""] * (len(header) - len(row)) for row in body],
                         columns=header)
    per_sample = "relative_abundance" in header
    if per_sample:  # one profile, named by its #SampleID line or the file
        sample = _metaphlan_sample_id(lines[:header_at], path)
        frame = frame[["clade_name", "relative_abundance"]].rename(
            columns={"relative_abundance": sample})
    drop = [c for c in frame.columns if c in ("NCBI_tax_id", "clade_taxid", "additional_species")]
    frame = frame.drop(columns=drop).set_index("clade_name")
    unclassified = frame.index.str.upper().str.startswith(("UNCLASSIFIED", "UNKNOWN"))
    frame = frame[~unclassified]
    _check_unique(frame.columns, path, "sample")
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = _text_cells(frame, numeric.isna(), "clade")
    last_rank = numeric.index.str.split("|").str[-1].str[:1]
    level = "g" if (last_rank == "g").any() else "s"
    genus_rows = numeric[last_rank == level]
    if genus_rows.empty:
        if per_sample:  # a profile with no detections excludes that sample, not the batch
            empty = pd.DataFrame(index=pd.Index([], dtype=object), dtype=float)
            return MicrobiomeTable(empty, pd.Series(dtype=object), True, path, "metaphlan",
                                   {sample: BadSample(
                                       f"sample '{sample}': the profile has no detections "
                                       "(UNKNOWN/UNCLASSIFIED 100%).",
                                       "check the sample's sequencing and profiling; a profile "
                                       "without detections cannot be summarised.")})
        raise _fail(path, "no genus- or species-level clades.",
                    "run MetaPhlAn with the default (all ranks) output.")
    _check_unique(genus_rows.index, path, "clade")
    values = genus_rows.T / 100.0
    lineage = pd.Series(genus_rows.index.to_numpy(), index=genus_rows.index)
    table = MicrobiomeTable(values, lineage, True, path, "metaphlan", bad)
    table.phylum = _rank_rows(numeric, last_rank, "p")
    table.species = _rank_rows(numeric, last_rank, "s")
    return table


def _rank_rows(numeric: pd.DataFrame, last_rank: pd.Index, rank: str) -> pd.DataFrame | None:
    rows = numeric[last_rank == rank]
    if rows.empty:
        return None
    return rows.T.fillna(0) / 100.0


def _check_unique(index: pd.Index, path: str, what: str) -> None:
    dup = index[index.duplicated()].unique()
    if len(dup):
        raise _fail(path, f"duplicate {what} IDs: {', '.join(map(str, dup[:5]))}.",
                    f"each {what} must appear once.")


def read_microbiome(path: str, taxonomy: str | None = None) -> MicrobiomeTable:
    """Detect the format of `path` and read it; validate counts and IDs. A file beyond the
    input bounds (resources/limits.yaml: a compression bomb, a line without end) is an input
    problem naming it."""
    try:
        return _read_microbiome(path, taxonomy)
    except InputTooLarge as err:
        raise _fail(path, f"is beyond precex's input bounds: it {err}.", "give the table as "
                    "the profiler wrote it; if it is real, raise the bound in "
                    "resources/limits.yaml.") from None


def _read_microbiome(path: str, taxonomy: str | None) -> MicrobiomeTable:
    fmt = detect_format(path)
    if fmt == "biom-json" and os.path.getsize(path) > input_limits()["max_json_bytes"]:
        raise _fail(path, f"is larger than {input_limits()['max_json_bytes'] / 2**20:g} MiB of "
                    "JSON, read whole.", "convert it to BIOM 2.1 (HDF5): `biom convert "
                    "--to-hdf5`.")
    if fmt == "biom-hdf5" or fmt == "biom-json":
        table = _load_biom_bytes(Path(path).read_bytes(), path, fmt)
    elif fmt == "biom-tsv":
        table = _read_classic_tsv(path)
    elif fmt == "qiime2-qza":
        table = _read_qza(path, taxonomy)
    elif fmt in ("kraken2", "bracken", "taxpasta"):
        reader = {"kraken2": read_kraken_report, "bracken": read_bracken_table,
                  "taxpasta": read_taxpasta}[fmt]
        values, lineage = reader(path)
        values, lineage, left_out = bacteria_only(values, lineage)
        _check_unique(values.index, path, "sample")
        numeric = values.apply(pd.to_numeric, errors="coerce")
        table = MicrobiomeTable(numeric.fillna(np.nan), lineage.reindex(values.columns)
                                .fillna(""), False, path, fmt, left_out=left_out)
        table.phylum = rank_shares(numeric.fillna(0), table.lineage, "p")
        table.species = rank_shares(numeric.fillna(0), table.lineage, "s")
    else:
        table = _read_metaphlan(path)
    if taxonomy and fmt != "qiime2-qza":
        table.lineage = read_taxonomy(taxonomy, list(table.values.columns))
    _validate(table)
    return table


def _validate(table: MicrobiomeTable) -> None:
    v = table.values
    if v.shape[0] == 0 and table.bad_samples:  # every sample left out, each with its reason
        return
    if v.shape[0] == 0 or v.shape[1] == 0:
        raise _fail(table.source, "the table is empty (no samples or no features).",
                    "check the export; an empty table cannot be profiled.")
    _check_unique(v.index, table.source, "sample")
    _check_unique(v.columns, table.source, "feature")
    arr = v.to_numpy()
    for s in np.flatnonzero(~np.isfinite(arr).all(axis=1)):
        f = int(np.flatnonzero(~np.isfinite(arr[s]))[0])
        table.bad_samples.setdefault(str(v.index[s]), BadSample(
            f"sample '{v.index[s]}', feature '{v.columns[f]}': value is not a finite number.",
            BAD_VALUE_FIX))
    for s in np.flatnonzero((arr < 0).any(axis=1)):
        f = int(np.flatnonzero(arr[s] < 0)[0])
        table.bad_samples.setdefault(str(v.index[s]), BadSample(
            f"sample '{v.index[s]}', feature '{v.columns[f]}': negative value {arr[s, f]:g}.",
            BAD_VALUE_FIX))
    if table.bad_samples:
        table.values = v.drop(index=[s for s in table.bad_samples if s in v.index])


def read_tree(path: str) -> object:
    """A phylogeny for Faith's PD: Newick, or a QIIME 2 Phylogeny[Rooted] artifact (.qza)."""
    from skbio import TreeNode

    try:
        text = _artifact_or_text(path, "tree.nwk",
                                 "give a Phylogeny[Rooted] artifact (rooted-tree.qza).")
        return TreeNode.read(io.StringIO(text), format="newick")
    except InputError:
        raise
    except FileNotFoundError:
        raise _fail(path, "file not found.", "check 'microbiome_tree'.") from None
    except Exception as err:  # scikit-bio raises several types for malformed Newick
        raise _fail(path, f"cannot be read as a Newick tree ({type(err).__name__}: {err}).",
                    "export the rooted tree (qiime tools export) as Newick.") from None
