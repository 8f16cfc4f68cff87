"""precex: evidence-graded precision exercise prescriptions from breast-cancer multi-omics data."""

__version__ = "0.1.0"
