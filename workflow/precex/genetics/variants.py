"""Genotypes at the curated variant table (resources/genetics/exercise_variants.tsv).

A 2015 consensus (Webborn et al., BJSM) found no role for such genotypes in individual exercise
prescription: precex displays them for research and never lets them change a dose (grade H).
Columns of results/genetics/genotypes.tsv: one row per patient; per variant <rsid>_genotype
(e.g. 'C/T', empty when not called), <rsid>_effect_allele_count (0, 1, 2) and <rsid>_call:
'called', 'no call' (./. in the file), 'reference block' (inside a gVCF <NON_REF> block: REF/REF)
or 'not called' (absent from a variant-only file: never read as reference).

Read as callers write them: VCF (plain or bgzipped), BCF (binary, read by htslib), and gVCF
(reference blocks with END). The genome build is taken from the header (##reference, or the
length of chr1 in ##contig) and the curated table carries GRCh37 and GRCh38 positions; records
are matched by rsID first, by position on the file's build otherwise.
"""

from __future__ import annotations

import re

import pandas as pd

from precex.epigenetics.features import normalise_contig
from precex.io.files import InputTooLarge, open_input
from precex.paths import resource_path
from precex.problems import InputError, Problem
from precex.roster import no_sample_matches, report_unmatched


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
    n_columns = None
    with open_input(path, "rt", encoding="utf-8", errors="replace") as handle:
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


CHR1_LENGTH = {248956422: "GRCh38", 249250621: "GRCh37"}
NON_REF = {"<NON_REF>", "<*>", "<X>"}


def is_bcf(path: str) -> bool:
    """BCF is BGZF-compressed binary starting 'BCF\\2' (or uncompressed 'BCF')."""
    try:
        with open_input(path) as handle:
            return handle.read(3) == b"BCF"
    except OSError:
        return False


def genome_build(header: str) -> str:
    """GRCh37 or GRCh38 from ##reference or chr1's ##contig length; '' when unknown."""
    for line in header.splitlines():
        low = line.lower()
        if low.startswith("##reference") or low.startswith("##assembly"):
            if any(k in low for k in ("grch38", "hg38", "hs38")):
                return "GRCh38"
            if any(k in low for k in ("grch37", "hg19", "b37", "hs37")):
                return "GRCh37"
        match = re.match(r"##contig=<ID=(?:chr)?1,.*length=(\d+)", line)
        if match and int(match.group(1)) in CHR1_LENGTH:
            return CHR1_LENGTH[int(match.group(1))]
    return ""


def read_genotypes(vcf_path: str, patients: set[str], excluded: frozenset[str] = frozenset(),
                   sample_map: dict[str, str] | None = None
                   ) -> tuple[pd.DataFrame, list[Problem]]:
    """Genotypes of the exercise variants per patient; `sample_map` names the patient of each
    VCF sample when the VCF's sample names are not patient IDs."""
    import cyvcf2

    table = variant_table()
    by_id = {r.rsid: r for r in table.itertuples()}
    try:
        where = "" if is_bcf(vcf_path) else locate_malformed_record(vcf_path)
    except InputTooLarge as err:  # a compression bomb or a line without end: never to htslib
        raise InputError([Problem(vcf_path, f"is beyond precex's input bounds: it {err}.",
                                  "give the VCF as the caller wrote it; if it is real, raise "
                                  "the bound in resources/limits.yaml.", stage="genetics")]
                         ) from None
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
    samples = [(sample_map or {}).get(s, s) for s in vcf.samples]
    problems = no_sample_matches(vcf_path, samples, patients | set(excluded), "genetics",
                                 "variants_sample_map")
    problems += report_unmatched(vcf_path, [s for s in samples if s not in patients], patients,
                                 set(excluded), "genetics", "samples")
    build = genome_build(vcf.raw_header)
    column = {"GRCh37": "pos_grch37", "GRCh38": "pos_grch38"}.get(build)
    by_pos = ({(normalise_contig(r.chrom), int(getattr(r, column))): r
               for r in table.itertuples()} if column else {})
    if not build:
        problems.append(Problem(vcf_path, "the genome build is not in the header (##reference "
                                "or ##contig lengths): variants are matched by rsID only.",
                                "add ##reference or ##contig lines (bcftools reheader), or "
                                "annotate rsIDs.", stage="genetics", excludes=False))
    out: dict[str, dict[str, object]] = {s: {} for s in samples if s in patients}
    seen: set[str] = set()
    try:
        for rec in _records(vcf, vcf_path, table, column):
            alt = list(rec.ALT)
            if column and alt and set(alt) <= NON_REF:  # gVCF reference block
                end = rec.INFO.get("END") or rec.POS
                inside = [r for (chrom, pos), r in by_pos.items()
                          if chrom == normalise_contig(rec.CHROM) and rec.POS <= pos <= end]
                for row in inside:
                    seen.add(row.rsid)
                    _record(out, samples, rec.genotypes, [row.ref], row, "reference block")
                continue
            row = by_id.get(rec.ID) or by_pos.get((normalise_contig(rec.CHROM), rec.POS))
            if row is None:
                continue
            seen.add(row.rsid)
            alleles = [rec.REF, *[a for a in alt if a not in NON_REF]]
            _record(out, samples, rec.genotypes, alleles, row, "called")
    except Exception as err:
        where = locate_malformed_record(vcf_path)
        raise InputError([Problem(vcf_path, f"malformed VCF record{where} ({err}).",
                                  "fix or remove that line; `bcftools view` shows the record.",
                                  stage="genetics")]) from None
    absent = [r for r in table.itertuples() if r.rsid not in seen]
    for sample in out:
        for row in absent:
            out[sample][f"{row.rsid}_genotype"] = ""
            out[sample][f"{row.rsid}_call"] = "not called"
    if absent and out:
        problems.append(Problem(vcf_path, f"{len(absent)} curated locus/loci absent from the "
                                f"file ({', '.join(r.rsid for r in absent)}): reported as not "
                                "called, never as a genotype (a variant-only VCF says nothing "
                                "about loci it does not list).", "call these sites (or give a "
                                "gVCF) if they are wanted.", stage="genetics", excludes=False))
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "patient_id"
    cols = sorted(frame.columns)
    return frame.reindex(columns=cols).sort_index(), problems


def _records(vcf: object, path: str, table: pd.DataFrame, column: str | None) -> object:
    """The records to look at: with a tabix/CSI index and a known build, only the curated
    loci (a whole-genome VCF is not read through); otherwise every record."""
    import os

    indexed = any(os.path.exists(path + ext) for ext in (".tbi", ".csi"))
    if not indexed or column is None:
        yield from vcf  # type: ignore[misc]
        return
    names = set(vcf.seqnames)  # type: ignore[attr-defined]
    for row in table.itertuples():
        pos = int(getattr(row, column))
        for chrom in (str(row.chrom), f"chr{row.chrom}"):
            if chrom in names:
                yield from vcf(f"{chrom}:{pos}-{pos}")  # type: ignore[operator]


def _record(out: dict[str, dict[str, object]], samples: list[str], genotypes: list,
            alleles: list[str], row: object, how: str) -> None:
    """One record's genotype for every patient sample (a no-call stays empty)."""
    rsid = row.rsid  # type: ignore[attr-defined]
    for sample, gt in zip(samples, genotypes, strict=True):
        if sample not in out:
            continue
        calls = [a for a in gt[:-1] if a is not None and a >= 0]
        if len(calls) < 2:
            out[sample][f"{rsid}_genotype"] = ""
            out[sample][f"{rsid}_call"] = "no call"
            continue
        named = [alleles[a] if a < len(alleles) else "?" for a in calls]
        out[sample][f"{rsid}_genotype"] = "/".join(named)
        out[sample][f"{rsid}_effect_allele_count"] = sum(
            a == row.effect_allele for a in named)  # type: ignore[attr-defined]
        out[sample][f"{rsid}_call"] = how
