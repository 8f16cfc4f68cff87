"""Microbiome profiling: readers for BIOM/QIIME 2/MetaPhlAn, taxonomy, per-patient features."""
