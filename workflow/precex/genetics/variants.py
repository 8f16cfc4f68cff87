"""Genotypes at the curated variant table (resources/genetics/exercise_variants.tsv).

A 2015 consensus (Webborn et al., BJSM) found no role for such genotypes in individual exercise
prescription: precex displays them for research and never lets them change a dose (grade H).
Columns of results/genetics/genotypes.tsv: one row per patient; per variant <rsid>_genotype
(e.g. 'C/T', empty when not called) and <rsid>_effect_allele_count (0, 1, 2).
"""

from __future__ import annotations

import re

import pandas as pd

from precex.epigenetics.features import normalise_contig
from precex.io.validated import report_unmatched
from precex.paths import resource_path
from precex.problems import InputError, Problem


def variant_table() -> pd.DataFrame:
    return pd.read_csv(resource_path("genetics", "exercise_variants.tsv"), sep="\t",
                       dtype={"chrom": str})


def annotate_variants(genome: object | None) -> pd.DataFrame:
    """The curated variants with the Ensembl genes at their position, where the GTF covers them.

    Columns: rsid, chrom, pos_grch38, gene (curated), ensembl_genes (gene names from the GTF,
    ';'-joined), ensembl_gene_ids, gtf_coverage ('covered' or 'contig not in the GTF'), grade,
    trait, citation.
    """
    table = variant_table()
    contigs = ({normalise_contig(c) for c in genome.contigs()}  # type: ignore[attr-defined]
               if genome is not None else set())
    names, ids, coverage = [], [], []
    for r in table.itertuples():
        contig = normalise_contig(r.chrom)
        if genome is None or contig not in contigs:
            names.append("")
            ids.append("")
            coverage.append("contig not in the GTF")
            continue
        genes = genome.genes_at_locus(contig, int(r.pos_grch38))  # type: ignore[attr-defined]
        names.append(";".join(sorted(g.gene_name for g in genes)))
        ids.append(";".join(sorted(g.gene_id for g in genes)))
        coverage.append("covered")
    return pd.DataFrame({"rsid": table["rsid"], "chrom": table["chrom"],
                         "pos_grch38": table["pos_grch38"], "gene": table["gene"],
                         "ensembl_genes": names, "ensembl_gene_ids": ids,
                         "gtf_coverage": coverage, "grade": table["grade"],
                         "trait": table["trait"], "citation": table["citation"]})


_GENOTYPE = re.compile(r"^(\.|\d+)([/|](\.|\d+))*$")
_ALLELES = re.compile(r"^([ACGTNacgtn]+|\*|\.|<[^>]+>)(,([ACGTNacgtn]+|\*|\.|<[^>]+>))*$")


def locate_malformed_record(path: str) -> str:
    """' at line N: why' for the first line that breaks the VCF layout, or ''.

    Run before htslib sees the file: cyvcf2 crashes the process (segmentation fault) on some
    malformed records instead of raising, which would take a job down without a message."""
    import gzip

    with open(path, "rb") as probe:
        opener = gzip.open if probe.read(2) == b"\x1f\x8b" else open
    n_columns = None
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith("##"):
                continue
            fields = line.rstrip("\n").split("\t")
            if line.startswith("#CHROM"):
                n_columns = len(fields)
                if n_columns < 8 or n_columns == 9:
                    return f" at line {lineno}: the #CHROM header has {n_columns} columns"
                continue
            if not line.strip():  # htslib crashes on these
                return f" at line {lineno}: an empty line (VCF has none; remove it)"
            if n_columns is None:
                return f" at line {lineno}: a record before the #CHROM header line"
            if len(fields) != n_columns:
                return f" at line {lineno}: {len(fields)} columns, the header has {n_columns}"
            if not fields[0] or not fields[1].isdigit():
                return (f" at line {lineno}: CHROM '{fields[0]}' / POS '{fields[1]}' is not a "
                        "position")
            if not _ALLELES.match(fields[3]) or not _ALLELES.match(fields[4]):
                return f" at line {lineno}: REF '{fields[3]}' / ALT '{fields[4]}' are not alleles"
            if n_columns > 9:
                keys = fields[8].split(":")
                if "GT" in keys:
                    at = keys.index("GT")
                    for value in fields[9:]:
                        parts = value.split(":")
                        if at < len(parts) and not _GENOTYPE.match(parts[at]):
                            return f" at line {lineno}: genotype '{parts[at]}' is not one"
    if n_columns is None:
        return ": no #CHROM header line"
    return ""


def read_genotypes(vcf_path: str, patients: set[str], excluded: frozenset[str] = frozenset()
                   ) -> tuple[pd.DataFrame, list[Problem]]:
    import cyvcf2

    table = variant_table()
    by_id = {r.rsid: r for r in table.itertuples()}
    by_pos = {(normalise_contig(r.chrom), int(r.pos_grch38)): r for r in table.itertuples()}
    try:
        where = locate_malformed_record(vcf_path)
    except OSError as err:
        raise InputError([Problem(vcf_path, f"cannot be read as VCF ({err}).",
                                  "check the 'variants' path.", stage="genetics")]) from None
    if where:
        raise InputError([Problem(vcf_path, f"malformed VCF{where}.",
                                  "fix or remove that line; `bcftools view` shows the record.",
                                  stage="genetics")])
    try:
        vcf = cyvcf2.VCF(vcf_path)
    except (OSError, Exception) as err:  # cyvcf2 raises OSError or generic errors
        raise InputError([Problem(vcf_path, f"cannot be read as VCF ({err}).",
                                  "give a VCF 4.x file, plain or bgzipped.",
                                  stage="genetics")]) from None
    samples = list(vcf.samples)
    problems = report_unmatched(vcf_path, [s for s in samples if s not in patients], patients,
                                set(excluded), "genetics", "samples")
    out: dict[str, dict[str, object]] = {s: {} for s in samples if s in patients}
    try:
        for rec in vcf:
            row = by_id.get(rec.ID) or by_pos.get((normalise_contig(rec.CHROM), rec.POS))
            if row is None:
                continue
            alleles = [rec.REF, *rec.ALT]
            for sample, gt in zip(samples, rec.genotypes, strict=True):
                if sample not in out:
                    continue
                calls = [a for a in gt[:-1] if a is not None and a >= 0]
                if len(calls) < 2:
                    out[sample][f"{row.rsid}_genotype"] = ""
                    continue
                named = [alleles[a] if a < len(alleles) else "?" for a in calls]
                out[sample][f"{row.rsid}_genotype"] = "/".join(named)
                out[sample][f"{row.rsid}_effect_allele_count"] = sum(
                    a == row.effect_allele for a in named)
    except Exception as err:
        where = locate_malformed_record(vcf_path)
        raise InputError([Problem(vcf_path, f"malformed VCF record{where} ({err}).",
                                  "fix or remove that line; `bcftools view` shows the record.",
                                  stage="genetics")]) from None
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "patient_id"
    cols = sorted(frame.columns)
    return frame.reindex(columns=cols).sort_index(), problems
