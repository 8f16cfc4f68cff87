"""Put the precex package that ships with this Snakefile first on sys.path.

Imported by every script shim (Snakemake adds this folder to sys.path), so the workflow always
runs the package version it was shipped with: the source tree in a checkout, site-packages in an
installed wheel, or a conda environment that holds only the dependencies.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _candidate in _HERE.parents:
    if (_candidate / "precex" / "__init__.py").is_file():
        if str(_candidate) not in sys.path:
            sys.path.insert(0, str(_candidate))
        break
