import pandas as pd
import pytest
from precex.genetics.variants import genome_build, read_genotypes, variant_table
from precex.problems import InputError


def test_genotypes_by_rsid_and_position(tmp_path):
    vcf = tmp_path / "v.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##reference=GRCh38\n##contig=<ID=chr11>\n##contig=<ID=chr4>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\tP2\tX9\n"
        "chr4\t23814039\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n"
        "chr11\t66560624\trs1815739\tC\tT\t.\tPASS\t.\tGT\t1|1\t./.\t0/1\n")
    frame, problems = read_genotypes(str(vcf), {"P1", "P2"})
    assert frame.loc["P1", "rs1815739_genotype"] == "T/T"
    assert frame.loc["P1", "rs1815739_effect_allele_count"] == 2
    assert frame.loc["P2", "rs1815739_genotype"] == ""  # ./. in the file
    assert frame.loc["P2", "rs1815739_call"] == "no call"
    assert frame.loc["P1", "rs8192678_genotype"] == "C/T"  # matched by chr4:pos, 'chr' prefix
    assert frame.loc["P2", "rs8192678_effect_allele_count"] == 2
    # rs4341 is not in this variant-only file: not called, never a genotype
    assert frame.loc["P1", "rs4341_genotype"] == "" and frame.loc["P1", "rs4341_call"] == (
        "not called")
    assert pd.isna(frame.loc["P1"].get("rs4341_effect_allele_count"))
    text = " ".join(p.message for p in problems)
    assert "'X9'" in text and "rs4341" in text and "not called" in text


def test_variant_table_is_research_only():
    table = variant_table()
    assert set(table["grade"]) == {"H"}
    assert table["citation"].str.contains("Webborn").all()


def test_unreadable_vcf(tmp_path):
    with pytest.raises(InputError, match="VCF"):
        read_genotypes(str(tmp_path / "absent.vcf"), set())


def test_variants_are_annotated_where_the_gtf_covers_them(tmp_path):
    from precex.epigenetics.genome import load_genome
    from precex.genetics.variants import annotate_variants
    from precex.paths import resource_path

    genome = load_genome(str(resource_path("genome", "ensembl_human_chr1_subset.gtf.gz")),
                         str(tmp_path / "cache"))
    table = annotate_variants(genome)
    # the bundled GTF holds chr1 only: the curated variants (chr4, chr11, chr17) are not covered
    assert set(table["gtf_coverage"]) == {"contig not in the GTF"}
    assert (table["grade"] == "H").all()
    gtf = tmp_path / "mini.gtf"  # test fixture: one gene around rs1815739 (illustrative span)
    gtf.write_text('11\tensembl\tgene\t66546395\t66563334\t.\t+\t.\tgene_id "ENSG00000248746"; '
                   'gene_name "ACTN3"; gene_biotype "protein_coding";\n'
                   '11\tensembl\ttranscript\t66546395\t66563334\t.\t+\t.\tgene_id '
                   '"ENSG00000248746"; transcript_id "ENST00000502692"; gene_name "ACTN3"; '
                   'gene_biotype "protein_coding"; transcript_biotype "protein_coding";\n')
    covered = annotate_variants(load_genome(str(gtf), str(tmp_path / "cache2"))).set_index(
        "rsid")
    assert covered.loc["rs1815739", "gtf_coverage"] == "covered"
    assert covered.loc["rs1815739", "ensembl_genes"] == "ACTN3"
    assert covered.loc["rs8192678", "gtf_coverage"] == "contig not in the GTF"


@pytest.mark.parametrize("record,where", [
    ("11\tnotanumber\trs1815739\tC\tT\t.\tPASS\t.\tGT\t0/1", "POS 'notanumber'"),
    ("11\t66560624\trs1815739\tC", "line 5: 4 columns, the header has 10"),
])
def test_malformed_vcf_records_are_located(tmp_path, record, where):
    vcf = tmp_path / "bad.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=11>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n" + record + "\n")
    with pytest.raises(InputError, match=where):
        read_genotypes(str(vcf), {"P1"})


HEADER = ('##fileformat=VCFv4.2\n{build}'
          '##INFO=<ID=END,Number=1,Type=Integer,Description="End of the reference block">\n'
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          '##contig=<ID=4,length=190214555>\n##contig=<ID=11,length=135086622>\n'
          '##contig=<ID=17,length=83257441>\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n")


def test_genome_build_from_the_header():
    assert genome_build("##reference=file:///ref/GRCh38_full_analysis_set.fa") == "GRCh38"
    assert genome_build("##reference=hs37d5.fa") == "GRCh37"
    assert genome_build("##contig=<ID=chr1,length=248956422>") == "GRCh38"
    assert genome_build("##contig=<ID=1,length=249250621,assembly=b37>") == "GRCh37"
    assert genome_build("##fileformat=VCFv4.2") == ""


def test_positions_follow_the_build_and_an_unknown_build_uses_rsids_only(tmp_path):
    grch37 = tmp_path / "g37.vcf"
    grch37.write_text(HEADER.format(build="##reference=GRCh37\n")
                      + "4\t23815662\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\n")
    frame, _ = read_genotypes(str(grch37), {"P1"})
    assert frame.loc["P1", "rs8192678_genotype"] == "C/T"
    unknown = tmp_path / "u.vcf"
    unknown.write_text(HEADER.format(build="") + "4\t23814039\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\n")
    frame, problems = read_genotypes(str(unknown), {"P1"})
    assert frame.loc["P1", "rs8192678_call"] == "not called"
    assert any("build is not in the header" in p.message for p in problems)


def test_gvcf_reference_blocks_give_reference_genotypes(tmp_path):
    gvcf = tmp_path / "p1.g.vcf"
    gvcf.write_text(HEADER.format(build="##reference=GRCh38\n")
                    + "4\t23800000\t.\tA\t<NON_REF>\t.\tPASS\tEND=23820000\tGT\t0/0\n"
                    + "11\t66560624\trs1815739\tC\tT,<NON_REF>\t.\tPASS\t.\tGT\t0/1\n")
    frame, _ = read_genotypes(str(gvcf), {"P1"})
    assert frame.loc["P1", "rs8192678_genotype"] == "C/C"  # the curated REF, inside the block
    assert frame.loc["P1", "rs8192678_call"] == "reference block"
    assert frame.loc["P1", "rs1815739_genotype"] == "C/T"
    assert frame.loc["P1", "rs4341_call"] == "not called"


def test_bcf_is_read(tmp_path):
    import cyvcf2

    vcf = tmp_path / "v.vcf"
    vcf.write_text(HEADER.format(build="##reference=GRCh38\n")
                   + "11\t66560624\trs1815739\tC\tT\t.\tPASS\t.\tGT\t1/1\n")
    reader = cyvcf2.VCF(str(vcf))
    writer = cyvcf2.Writer(str(tmp_path / "v.bcf"), reader, mode="wb")
    for record in reader:
        writer.write_record(record)
    writer.close()
    reader.close()
    frame, _ = read_genotypes(str(tmp_path / "v.bcf"), {"P1"})
    assert frame.loc["P1", "rs1815739_genotype"] == "T/T"


def test_an_indexed_vcf_is_queried_at_the_curated_loci_only(tmp_path):
    """With a .tbi/.csi beside the file and a known build, only the curated loci are asked
    for (a whole-genome VCF is not read through); without an index every record is read."""
    from precex.genetics.variants import _records

    class FakeVCF:
        seqnames = ["chr4", "chr11", "chr17"]
        asked: list[str] = []

        def __call__(self, region):
            self.asked.append(region)
            return iter([region])

        def __iter__(self):
            return iter(["every record"])

    path = tmp_path / "v.vcf.gz"
    path.write_bytes(b"")
    table = variant_table()
    assert list(_records(FakeVCF(), str(path), table, "pos_grch38")) == ["every record"]
    (tmp_path / "v.vcf.gz.tbi").write_bytes(b"")
    fake = FakeVCF()
    regions = list(_records(fake, str(path), table, "pos_grch38"))
    assert sorted(regions) == sorted(f"chr{r.chrom}:{r.pos_grch38}-{r.pos_grch38}"
                                     for r in table.itertuples())
    assert list(_records(FakeVCF(), str(path), table, None)) == ["every record"]
