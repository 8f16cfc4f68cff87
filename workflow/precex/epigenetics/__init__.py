"""Epigenetic profiling: clocks, age acceleration, gene-level methylation."""
