"""Read-classifier profiles: Kraken2/Bracken reports and nf-core/taxprofiler taxpasta tables.

Formats as their documentation describes them (no dependency on the tools themselves):

- Kraken2 report (`--report`; also Bracken's kraken-style report from `-w`): tab-separated
  percent, clade reads, direct reads, [minimizers, distinct minimizers,] rank code (U, R, D, K,
  P, C, O, F, G, S, with numbered sub-ranks such as G1 or S1), NCBI taxid, and the name indented
  by two spaces per level. Counts are the *direct* reads of each taxon (they add up to the
  classified total; clade reads would count a read once per ancestor); the lineage comes from the
  indentation. Unclassified reads (rank U) are left out, as MetaPhlAn's UNCLASSIFIED row is.
- Bracken abundance table (`name, taxonomy_id, taxonomy_lvl, kraken_assigned_reads, added_reads,
  new_est_reads, fraction_total_reads`): new_est_reads at one rank (usually species).
- taxpasta `standardise` (`taxonomy_id`, `count`) and `merge` (`taxonomy_id` and one column per
  sample) tables, optionally with `name`, `rank`, `lineage`, `id_lineage` and `rank_lineage`
  (`--add-name --add-rank --add-lineage --add-rank-lineage`): taxpasta keeps the directly
  assigned reads of every profiler it reads (Kraken2, Bracken, Centrifuge, Kaiju, mOTUs, KMCP,
  ganon, MALT, MetaPhlAn, DIAMOND, KrakenUniq), so one reader covers them all.

Each returns samples x taxa counts with a MetaPhlAn-style lineage ('d__...|p__...|g__...|s__...'),
plus the profile's own phylum and species shares when the ranks are known.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precex.io.files import open_input
from precex.problems import InputError, Problem

KRAKEN_RANK = re.compile(r"^([URDKPCOFGS])(\d*)$")
_PREFIX = {"D": "d", "K": "k", "P": "p", "C": "c", "O": "o", "F": "f", "G": "g", "S": "s"}
_NCBI_RANK = {"superkingdom": "d", "domain": "d", "realm": "d", "kingdom": "k", "phylum": "p",
              "class": "c", "order": "o", "family": "f", "genus": "g", "species": "s"}
BRACKEN_COLUMNS = ["name", "taxonomy_id", "taxonomy_lvl", "kraken_assigned_reads",
                   "added_reads", "new_est_reads", "fraction_total_reads"]
TAXPASTA_META = ("taxonomy_id", "name", "rank", "lineage", "id_lineage", "rank_lineage")


def _fail(path: str, message: str, fix: str) -> InputError:
    return InputError([Problem(str(path), message, fix, stage="microbiome")])


def sample_name(path: str) -> str:
    """A per-sample report is named by its file (P001.kreport2 -> P001)."""
    stem = Path(path).name.split(".")[0]
    for suffix in ("_report", "_kraken2", "_kraken", "_bracken", "_species", "_genus",
                   "_standardised", "_profile"):
        stem = stem.removesuffix(suffix)
    return stem


def looks_like_kraken_report(text: str) -> bool:
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) not in (6, 8):
            return False
        try:
            float(fields[0])
        except ValueError:
            return False
        return bool(KRAKEN_RANK.match(fields[3 if len(fields) == 6 else 5].strip()))
    return False


def open_text(path: str) -> Any:
    """A text handle on a plain or gzipped file (a report written as .kreport2.gz), with the
    input bounds (precex.io.files.open_input)."""
    return open_input(path, "rt", encoding="utf-8")


def refused_profile(text: str) -> str | None:
    """The name of a profiler output precex does not read directly, from its first lines, so
    the message says what the file is and how to convert it (never 'not a Kraken2 line')."""
    lines = [line for line in text.splitlines() if line.strip()][:12]
    joined = "\n".join(lines).lower()
    if "krakenuniq" in joined or any(line.startswith("%\treads\ttaxReads") for line in lines):
        return "krakenuniq"
    if "motus" in joined or any(line.startswith("#consensus_taxonomy") for line in lines):
        return "motus"
    for line in lines:
        fields = line.split("\t")
        if len(fields) == 6 and fields[3].strip() == "-":
            return "centrifuge"
    return None


REFUSED_FIX = {
    "krakenuniq": "a KrakenUniq report; convert it with taxpasta (taxpasta standardise -p "
                  "krakenuniq --add-name --add-rank --add-lineage --add-rank-lineage).",
    "motus": "raw mOTUs profiler output; convert it with taxpasta (taxpasta standardise -p "
             "motus --add-name --add-rank --add-lineage --add-rank-lineage).",
    "centrifuge": "a centrifuge-kreport (rank '-' for taxa without a rank); give centrifuge's "
                  "own report through taxpasta (taxpasta standardise -p centrifuge "
                  "--add-name --add-rank --add-lineage --add-rank-lineage).",
}


def bacteria_only(values: pd.DataFrame, lineage: pd.Series
                  ) -> tuple[pd.DataFrame, pd.Series, dict[str, str]]:
    """The bacterial features only, and per sample what was left out: a read classifier
    also assigns human, viral, archaeal and root-level reads, which would dilute every
    bacterial share and diversity. Unchanged when no feature is placed in a domain."""
    domain = lineage.reindex(values.columns).fillna("").map(
        lambda text: next((p[3:] for p in text.split("|") if p.startswith("d__")), ""))
    if not domain.eq("Bacteria").any():
        return values, lineage, {}
    other = domain.ne("Bacteria").to_numpy()
    total = values.sum(axis=1)
    notes = {}
    for sample in values.index:
        left = values.loc[sample, other]
        left = left[left > 0]
        if left.empty or not total[sample]:
            continue
        by = left.groupby(domain[other][left.index].replace("", "no domain (root)")).sum()
        shown = ", ".join(f"{name} {100 * n / total[sample]:.1f} %"
                          for name, n in by.sort_values(ascending=False).items())
        notes[str(sample)] = (f"shares and diversity are of bacterial reads; left out of "
                              f"the classified reads: {shown}")
    kept = values.columns[~other]
    return values[kept], lineage.reindex(kept), notes


def read_kraken_report(path: str) -> tuple[pd.DataFrame, pd.Series]:
    """Direct reads per taxon (one sample) and each taxon's lineage."""
    counts: dict[str, float] = {}
    lineage: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (depth, 'x__Name') of the ancestors
    with open_text(path) as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            refused = refused_profile(line) if n <= 12 else None
            if refused:
                raise _fail(path, f"is {REFUSED_FIX[refused].split(';')[0]}, which precex "
                            "does not read directly.", REFUSED_FIX[refused].split("; ", 1)[1])
            if len(fields) not in (6, 8):
                raise _fail(path, f"line {n} has {len(fields)} fields; a Kraken2 report has 6 "
                            "(or 8 with --report-minimizer-data).",
                            "give the report written by kraken2 --report (or bracken -w).")
            rank_field = fields[3 if len(fields) == 6 else 5].strip()
            match = KRAKEN_RANK.match(rank_field)
            try:
                direct = float(fields[2])
                taxid = fields[4 if len(fields) == 6 else 6].strip()
            except ValueError:
                match = None
            if match is None:
                raise _fail(path, f"line {n} is not a Kraken2 report line (rank "
                            f"'{rank_field}', reads '{fields[2]}').",
                            "give the report written by kraken2 --report (or bracken -w).")
            raw_name = fields[-1]
            depth = (len(raw_name) - len(raw_name.lstrip(" "))) // 2
            name = raw_name.strip().replace(" ", "_")
            while stack and stack[-1][0] >= depth:
                stack.pop()
            code, sub = match.group(1), match.group(2)
            label = f"{_PREFIX[code].lower()}__{name}" if code in _PREFIX and not sub else ""
            stack.append((depth, label))
            if code == "U" or direct <= 0:
                continue
            lineage[taxid] = "|".join(lab for _, lab in stack if lab)
            counts[taxid] = counts.get(taxid, 0.0) + direct
    frame = pd.DataFrame([counts], index=[sample_name(path)], dtype=float)
    return frame, pd.Series(lineage)


def read_bracken_table(path: str) -> tuple[pd.DataFrame, pd.Series]:
    with open_text(path) as handle:
        table = pd.read_csv(handle, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("name", "taxonomy_id", "taxonomy_lvl", "new_est_reads")
               if c not in table.columns]
    if missing:
        raise _fail(path, f"missing Bracken column(s): {', '.join(missing)}.",
                    "give the table written by bracken -o.")
    reads = pd.to_numeric(table["new_est_reads"], errors="coerce")
    bad = table.index[reads.isna()]
    if len(bad):
        value = table.at[bad[0], "new_est_reads"]
        raise _fail(path, f"row {int(bad[0]) + 1}: new_est_reads '{value}' is not a number.",
                    "give the table written by bracken -o.")
    lineage = {}
    for tid, name, lvl in zip(table["taxonomy_id"], table["name"], table["taxonomy_lvl"],
                              strict=True):
        label = name.strip().replace(" ", "_")
        if lvl.startswith("S"):
            lineage[tid] = f"g__{label.split('_')[0]}|s__{label}"
        elif lvl.startswith("G"):
            lineage[tid] = f"g__{label}"
        else:
            lineage[tid] = f"{_PREFIX.get(lvl[:1], 'x').lower()}__{label}"
    frame = pd.DataFrame([dict(zip(table["taxonomy_id"], reads, strict=True))],
                         index=[sample_name(path)], dtype=float)
    return frame, pd.Series(lineage)


def _taxpasta_lineage(row: pd.Series) -> str:
    names = [n for n in str(row.get("lineage", "") or "").split(";")]
    ranks = [r for r in str(row.get("rank_lineage", "") or "").split(";")]
    labels: dict[str, str] = {}
    if len(names) == len(ranks) and names != [""]:
        for name, rank in zip(names, ranks, strict=True):
            code = _NCBI_RANK.get(rank.strip().lower())
            if code:
                labels.setdefault(code, name.strip().replace(" ", "_"))
    own = str(row.get("name", "") or "").strip().replace(" ", "_")
    rank = str(row.get("rank", "") or "").strip().lower()
    if own and rank in _NCBI_RANK:
        labels.setdefault(_NCBI_RANK[rank], own)
        if rank == "species":
            labels.setdefault("g", own.split("_")[0])
    order = ["d", "k", "p", "c", "o", "f", "g", "s"]
    return "|".join(f"{c}__{labels[c]}" for c in order if c in labels)


def read_taxpasta(path: str) -> tuple[pd.DataFrame, pd.Series]:
    sep = "," if path.lower().endswith(".csv") else "\t"
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    if "taxonomy_id" not in table.columns:
        raise _fail(path, "no 'taxonomy_id' column.", "give a taxpasta standardise/merge table.")
    dup = table["taxonomy_id"][table["taxonomy_id"].duplicated()].unique()
    if len(dup):
        raise _fail(path, f"duplicate taxonomy_id values: {', '.join(dup[:5])}.",
                    "each taxon must appear once.")
    samples = [c for c in table.columns if c not in TAXPASTA_META]
    if samples == ["count"]:  # taxpasta standardise: one sample, named by the file
        table = table.rename(columns={"count": sample_name(path)})
        samples = [sample_name(path)]
    if not samples:
        raise _fail(path, "no sample columns.", "give a taxpasta merge table.")
    table = table[table["taxonomy_id"].str.strip() != "0"]  # unclassified reads
    lineage = pd.Series([_taxpasta_lineage(r) for _, r in table.iterrows()],
                        index=table["taxonomy_id"].to_numpy())
    if not lineage.str.contains("g__").any():
        raise _fail(path, "no taxon has a known genus (the table has no ranks).",
                    "run taxpasta with --add-name --add-rank --add-lineage --add-rank-lineage "
                    "(and --taxonomy) so that taxa can be placed.")
    values = table.set_index("taxonomy_id")[samples]
    numeric = values.apply(pd.to_numeric, errors="coerce")
    frame = numeric.T
    frame.columns = frame.columns.astype(str)
    return frame, lineage


def rank_shares(values: pd.DataFrame, lineage: pd.Series, rank: str) -> pd.DataFrame | None:
    """Share of each sample's reads per taxon at `rank` ('p' or 's'), from the lineages."""
    labels = lineage.reindex(values.columns).fillna("").map(
        lambda text: next((p for p in text.split("|") if p.startswith(f"{rank}__")), ""))
    if not labels.ne("").any():
        return None
    total = values.sum(axis=1).replace(0, np.nan)
    keep = labels.ne("")
    grouped = values.loc[:, keep.to_numpy()].T.groupby(labels[keep].to_numpy()).sum().T
    return grouped.div(total, axis=0).fillna(0.0)

