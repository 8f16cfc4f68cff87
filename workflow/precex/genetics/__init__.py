"""Germline genotypes at curated exercise-related variants (display only, grade H)."""
