"""precex: evidence-graded precision exercise prescriptions from breast-cancer multi-omics data."""

from typing import Any


def __getattr__(name: str) -> Any:
    # The version is looked up (git or package metadata) only when someone asks for it.
    if name == "__version__":
        from precex.version import current_version

        return current_version()
    raise AttributeError(f"module 'precex' has no attribute {name!r}")
