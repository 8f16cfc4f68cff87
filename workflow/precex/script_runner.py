"""Run one workflow step from a Snakemake `script:` shim with clear errors and a log file.

Input problems (InputError) are written to the rule's log and to stderr as plain sentences
naming the file, row and fix, and the job fails without a Python traceback. Unexpected errors
keep their traceback in the log file only, for the developers.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from precex.problems import InputError


def run_step(snakemake: Any, step: Callable[[], None]) -> None:
    log_path = snakemake.log[0] if len(snakemake.log) else None
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [terminal]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(levelname)s %(name)s: %(message)s")
    # A notebook kernel's own stderr (shutdown noise) is kept for developers in the log file only.
    logging.getLogger("precex.kernel").setLevel(logging.DEBUG)
    # pyensembl and datacache log every SQL statement at INFO: keep the job log readable
    # unless `precex run --verbose` asked for everything.
    if os.environ.get("PRECEX_VERBOSE") != "1":
        for noisy in ("pyensembl", "datacache", "gtfparse"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("precex")
    try:
        step()
    except InputError as err:
        log.error("%s", err)
        sys.exit(1)
    except Exception as err:  # unexpected: short message to the user, traceback to the log
        if log_path:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(traceback.format_exc())
        print(f"precex: internal error in rule {snakemake.rule} ({type(err).__name__}: {err}); "
              f"details in {log_path}", file=sys.stderr)
        sys.exit(1)
