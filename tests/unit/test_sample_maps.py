"""Sample maps for every modality whose files name samples (issue 42): a methylation matrix
with array barcodes as columns (206702460034_R01C01) and a VCF with sequencing IDs. Without a
map, no sample matches a patient: an input problem that `precex validate` fails on (it said
nothing and the run gave every patient 0 % epigenetic age); with the map the same files give
every patient their values."""

from __future__ import annotations

import gzip

import pandas as pd
from precex import cli
from precex.epigenetics import stage as epigenetics
from precex.genetics.variants import read_genotypes


def barcode(i: int) -> str:
    """An Illumina EPIC sample name: the slide (Sentrix) barcode and the array position."""
    return f"2067024600{34 + i // 8:02d}_R{i % 8 + 1:02d}C01"


def to_barcodes(cohort) -> dict[str, str]:
    """Rewrite the cohort's methylation columns and VCF samples as a core's files name them,
    and write the two sample maps; returns patient -> barcode."""
    path = cohort / "methylation.tsv.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    header = lines[0].split("\t")
    names = {pid: barcode(i) for i, pid in enumerate(header[1:])}
    lines[0] = "\t".join([header[0], *(names[p] for p in header[1:])])
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    vcf = cohort / "variants.vcf"
    text = vcf.read_text().splitlines()
    for i, line in enumerate(text):
        if line.startswith("#CHROM"):
            fields = line.split("\t")
            text[i] = "\t".join(fields[:9] + [f"WGS-{p}-01" for p in fields[9:]])
    vcf.write_text("\n".join(text) + "\n")
    rows = ["sample_id\tpatient_id", *(f"{b}\t{p}" for p, b in names.items())]
    (cohort / "methylation_map.tsv").write_text("\n".join(rows) + "\n")
    vcf_rows = ["sample_id\tpatient_id", *(f"WGS-{p}-01\t{p}" for p in names)]
    (cohort / "variants_map.tsv").write_text("\n".join(vcf_rows) + "\n")
    return names


def test_barcode_columns_without_a_map_fail_validate_and_with_it_pass(demo_copy, monkeypatch,
                                                                        capsys):
    to_barcodes(demo_copy)
    monkeypatch.chdir(demo_copy)
    assert cli.main(["validate", "--configfile", "config.yaml"]) == 1
    err = capsys.readouterr().err
    assert "methylation_sample_map" in err and "variants_sample_map" in err
    assert "206702460034_R01C01" in err
    config = (demo_copy / "config.yaml").read_text()
    (demo_copy / "config.yaml").write_text(config + "methylation_sample_map: methylation_map.tsv"
                                           "\nvariants_sample_map: variants_map.tsv\n")
    assert cli.main(["validate", "--configfile", "config.yaml"]) == 0, capsys.readouterr().err


def test_mapped_samples_give_each_patient_their_own_values(demo_copy, tmp_path):
    before_vcf = read_genotypes(str(demo_copy / "variants.vcf"), {"P001", "P002"})[0]
    to_barcodes(demo_copy)
    vcf_map = pd.read_csv(demo_copy / "variants_map.tsv", sep="\t").set_index(
        "sample_id")["patient_id"].to_dict()
    after_vcf = read_genotypes(str(demo_copy / "variants.vcf"), {"P001", "P002"},
                               sample_map=vcf_map)[0]
    pd.testing.assert_frame_equal(before_vcf, after_vcf)
    unmapped, problems = read_genotypes(str(demo_copy / "variants.vcf"), {"P001", "P002"})
    assert unmapped.empty and any("variants_sample_map" in p.fix for p in problems)
    # the methylation matrix renamed back through the map
    matrix = epigenetics.read_beta_matrix(str(demo_copy / "methylation.tsv.gz"),
                                          set(epigenetics.clock_cpgs()), "beta", 0.01)
    names = pd.read_csv(demo_copy / "methylation_map.tsv", sep="\t").set_index(
        "sample_id")["patient_id"].to_dict()
    epigenetics.rename_samples(matrix, names)
    assert list(matrix.beta.columns)[:2] == ["P001", "P002"]
