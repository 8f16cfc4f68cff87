"""Synthetic demo cohorts in real file formats (see precex.demo.cohort)."""
