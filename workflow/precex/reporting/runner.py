"""Render many notebooks on one warm kernel.

The usual pattern (one papermill process plus one nbconvert per patient) starts a Python kernel
per report, about 4 s each. Here one kernel serves a whole shard: for each patient the template
is parameterised with papermill, the kernel's namespace is reset (`%reset -f`, so nothing leaks
from the previous patient), the cells run, and the HTML the notebook displayed is written as the
report. A patient whose cells fail is recorded and the kernel carries on with the next one; a
dead kernel is restarted.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from precex.io.files import write_text

log = logging.getLogger(__name__)
RESET_SOURCE = "get_ipython().run_line_magic('reset', '-f')"


@dataclass
class RenderJob:
    key: str  # patient ID
    parameters: dict[str, Any]
    out_html: str


def html_outputs(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                html = data["text/html"]
                parts.append("".join(html) if isinstance(html, list) else html)
    return "\n".join(parts)


def _execute(client: NotebookClient, nb: nbformat.NotebookNode) -> None:
    client.nb = nb
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            client.execute_cell(cell, index)


def render_many(template_path: str, jobs: Iterable[RenderJob], timeout: int = 300
                ) -> dict[str, str]:
    """Render every job; returns {key: error message} for the jobs that failed."""
    template = load_notebook_node(template_path)  # papermill's loader adds its metadata
    failures: dict[str, str] = {}
    client = NotebookClient(copy.deepcopy(template), kernel_name="python3", timeout=timeout,
                            allow_errors=False)
    reset = nbformat.v4.new_code_cell(RESET_SOURCE, metadata={"tags": ["precex-reset"]})
    with client.setup_kernel():
        for job in jobs:
            nb = parameterize_notebook(copy.deepcopy(template), job.parameters)
            nb.cells.insert(0, copy.deepcopy(reset))
            try:
                _execute(client, nb)
                html = html_outputs(nb)
                if not html.strip():
                    raise ValueError("the notebook displayed no HTML")
                write_text(job.out_html, html if html.endswith("\n") else html + "\n")
            except CellExecutionError as err:
                name = getattr(err, "ename", "error")
                value = getattr(err, "evalue", str(err))
                failures[job.key] = f"report cell failed ({name}: {value})"
                log.error("report failed for %s: %s", job.key, err)
            except DeadKernelError as err:
                failures[job.key] = f"kernel died while rendering ({err})"
                client.km.restart_kernel(now=True)
            except Exception as err:  # keep the shard going; the reason is recorded
                failures[job.key] = f"report failed ({type(err).__name__}: {err})"
                log.exception("report failed for %s", job.key)
    return failures
