"""Gut genera used by the demo generator, with their SILVA 138 lineage and MetaPhlAn 4 names.

`weight` is a rough mean relative abundance in healthy adult stool (order of magnitude from
the Human Microbiome Project and MetaHIT summaries); it only shapes synthetic data.
"""

from __future__ import annotations

# genus, SILVA 138 phylum, class, order, family, MetaPhlAn phylum, mean relative abundance
GENERA: list[tuple[str, str, str, str, str, str, float]] = [
    ("Bacteroides", "Bacteroidota", "Bacteroidia", "Bacteroidales", "Bacteroidaceae",
     "Bacteroidetes", 0.18),
    ("Prevotella", "Bacteroidota", "Bacteroidia", "Bacteroidales", "Prevotellaceae",
     "Bacteroidetes", 0.05),
    ("Alistipes", "Bacteroidota", "Bacteroidia", "Bacteroidales", "Rikenellaceae",
     "Bacteroidetes", 0.04),
    ("Parabacteroides", "Bacteroidota", "Bacteroidia", "Bacteroidales", "Tannerellaceae",
     "Bacteroidetes", 0.02),
    ("Faecalibacterium", "Firmicutes", "Clostridia", "Oscillospirales", "Ruminococcaceae",
     "Firmicutes", 0.08),
    ("Roseburia", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.03),
    ("Agathobacter", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.04),
    ("Anaerostipes", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.01),
    ("Coprococcus", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.015),
    ("Lachnospira", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.01),
    ("Blautia", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.05),
    ("Dorea", "Firmicutes", "Clostridia", "Lachnospirales", "Lachnospiraceae",
     "Firmicutes", 0.01),
    ("Butyricicoccus", "Firmicutes", "Clostridia", "Oscillospirales", "Butyricicoccaceae",
     "Firmicutes", 0.005),
    ("Ruminococcus", "Firmicutes", "Clostridia", "Oscillospirales", "Ruminococcaceae",
     "Firmicutes", 0.04),
    ("Subdoligranulum", "Firmicutes", "Clostridia", "Oscillospirales", "Ruminococcaceae",
     "Firmicutes", 0.03),
    ("Streptococcus", "Firmicutes", "Bacilli", "Lactobacillales", "Streptococcaceae",
     "Firmicutes", 0.01),
    ("Lactobacillus", "Firmicutes", "Bacilli", "Lactobacillales", "Lactobacillaceae",
     "Firmicutes", 0.003),
    ("Veillonella", "Firmicutes", "Negativicutes", "Veillonellales-Selenomonadales",
     "Veillonellaceae", "Firmicutes", 0.005),
    ("Dialister", "Firmicutes", "Negativicutes", "Veillonellales-Selenomonadales",
     "Veillonellaceae", "Firmicutes", 0.01),
    ("Bifidobacterium", "Actinobacteriota", "Actinobacteria", "Bifidobacteriales",
     "Bifidobacteriaceae", "Actinobacteria", 0.04),
    ("Collinsella", "Actinobacteriota", "Coriobacteriia", "Coriobacteriales",
     "Coriobacteriaceae", "Actinobacteria", 0.02),
    ("Escherichia-Shigella", "Proteobacteria", "Gammaproteobacteria", "Enterobacterales",
     "Enterobacteriaceae", "Proteobacteria", 0.01),
    ("Klebsiella", "Proteobacteria", "Gammaproteobacteria", "Enterobacterales",
     "Enterobacteriaceae", "Proteobacteria", 0.002),
    ("Sutterella", "Proteobacteria", "Gammaproteobacteria", "Burkholderiales",
     "Sutterellaceae", "Proteobacteria", 0.01),
    ("Akkermansia", "Verrucomicrobiota", "Verrucomicrobiae", "Verrucomicrobiales",
     "Akkermansiaceae", "Verrucomicrobia", 0.02),
    ("Fusobacterium", "Fusobacteriota", "Fusobacteriia", "Fusobacteriales",
     "Fusobacteriaceae", "Fusobacteria", 0.001),
    ("Bilophila", "Desulfobacterota", "Desulfovibrionia", "Desulfovibrionales",
     "Desulfovibrionaceae", "Proteobacteria", 0.003),
]


def silva_lineage(row: tuple[str, str, str, str, str, str, float]) -> str:
    genus, phylum, cls, order, family = row[:5]
    return (f"d__Bacteria; p__{phylum}; c__{cls}; o__{order}; f__{family}; g__{genus}")


def metaphlan_genus_clade(row: tuple[str, str, str, str, str, str, float]) -> str:
    genus, _, cls, order, family, mpa_phylum = row[:6]
    name = "Escherichia" if genus == "Escherichia-Shigella" else genus
    return (f"k__Bacteria|p__{mpa_phylum}|c__{cls}|o__{order}|f__{family}|g__{name}")
