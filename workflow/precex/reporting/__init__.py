"""Per-patient and batch reports."""
