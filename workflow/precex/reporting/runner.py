"""Render many notebooks on one warm kernel.

The usual pattern (one papermill process plus one nbconvert per patient) starts a Python kernel
per report, about 4 s each. Here one kernel serves a whole shard: for each patient the template
is parameterised with papermill, the kernel's namespace is cleared (so nothing leaks from the
previous patient), the cells run, and the HTML the notebook displayed is written as the
report. A patient whose cells fail is recorded and the kernel carries on with the next one; a
dead kernel is restarted. Imported modules stay loaded (that is the point of a warm kernel);
every variable a patient's cells created is deleted before the next patient.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from traitlets.config import Config

from precex.io.files import write_text

log = logging.getLogger(__name__)
# The kernel's own stderr (start-up warnings, ipykernel's shutdown noise such as a ZMQError
# traceback from its output thread) is developer detail: it goes to the job log at DEBUG, never
# to the terminal. script_runner lets this logger's DEBUG records reach the log file only.
kernel_log = logging.getLogger("precex.kernel")
# A Unix socket path must fit in sun_path (108 bytes on Linux); longer temp dirs fall back to TCP.
IPC_PATH_LIMIT = 100
# Delete every name the previous patient's cells defined (all but IPython's initial namespace).
# `%reset -f` does the same and more (history, gc) but costs ~90 ms per patient; this ~1 ms.
RESET_SOURCE = (
    "_precex_ns = get_ipython().user_ns\n"
    "[_precex_ns.pop(_k) for _k in [k for k in _precex_ns "
    "if k not in get_ipython().user_ns_hidden] if _k != '_precex_ns']\n"
    "del _precex_ns"
)


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


def _prepared(template: nbformat.NotebookNode, parameters: dict[str, Any]
              ) -> nbformat.NotebookNode:
    """The template parameterised by papermill, with one round trip saved per cell merged.

    papermill keeps the template's `parameters` cell (defaults) and adds an
    `injected-parameters` cell after it. The defaults are overwritten anyway, so the default
    cell is dropped, and the namespace reset runs in the same cell as the injected parameters.
    """
    nb = parameterize_notebook(copy.deepcopy(template), parameters)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags:
            continue
        if "injected-parameters" in tags:
            cell.source = RESET_SOURCE + "\n" + cell.source
        cells.append(cell)
    nb.cells = cells
    return nb


KERNEL_ATTEMPTS = 3  # a kernel that dies before replying to kernel_info is started again


def render_many(template_path: str, jobs: Iterable[RenderJob], timeout: int = 300,
                kernel_name: str = "python3") -> dict[str, str]:
    """Render every job; returns {key: error message} for the jobs that failed.

    A kernel that fails to start (seen intermittently: "Kernel died before replying to
    kernel_info") is started again, up to KERNEL_ATTEMPTS times; a kernel that dies while
    rendering is restarted and that patient tried once more. If no kernel can be had, every
    remaining patient is a failure (an exclusion with the reason), never an exception that
    would fail the batch.
    """
    template = load_notebook_node(template_path)  # papermill's loader adds its metadata
    failures: dict[str, str] = {}
    pending = list(jobs)
    retried: set[str] = set()
    last_error = ""
    attempt = 0
    while pending and attempt < KERNEL_ATTEMPTS:
        attempt += 1
        try:
            with _kernel(copy.deepcopy(template), kernel_name, timeout) as client:
                while pending:
                    job = pending[0]
                    try:
                        _render_one(client, template, job)
                    except DeadKernelError as err:
                        if job.key in retried:
                            failures[job.key] = f"kernel died while rendering ({err})"
                            pending.pop(0)
                        else:
                            retried.add(job.key)
                        raise  # leave this kernel; a new one takes the remaining patients
                    except CellExecutionError as err:
                        name = getattr(err, "ename", "error")
                        value = getattr(err, "evalue", str(err))
                        failures[job.key] = f"report cell failed ({name}: {value})"
                        log.error("report failed for %s: %s", job.key, err)
                    except Exception as err:  # keep the shard going; the reason is recorded
                        failures[job.key] = f"report failed ({type(err).__name__}: {err})"
                        log.exception("report failed for %s", job.key)
                    pending.pop(0)  # rendered, or failed with its reason recorded
        except Exception as err:  # the kernel did not start, or died: start a new one
            last_error = f"{type(err).__name__}: {err}"
            log.warning("report kernel attempt %d of %d failed (%s)", attempt, KERNEL_ATTEMPTS,
                        last_error)
            if not isinstance(err, DeadKernelError):
                time.sleep(min(attempt, 3))
    for job in pending:
        failures[job.key] = f"report not rendered: no kernel could be started ({last_error})"
    return failures


@contextlib.contextmanager
def _kernel(nb: nbformat.NotebookNode, kernel_name: str, timeout: int
            ) -> Iterator[NotebookClient]:
    """A started kernel on local IPC sockets in a private temporary folder, its stderr captured.

    IPC rather than the default TCP: no ports to race for between concurrent jobs (a cause of
    "Kernel died before replying to kernel_info"), nothing reachable from other hosts, and no
    "running over TCP without encryption" warning per job.
    """
    with tempfile.TemporaryDirectory(prefix="precex-kernel-") as folder, \
            tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
        socket_base = os.path.join(folder, "k")
        config = Config()
        if len(socket_base) + 3 <= IPC_PATH_LIMIT:
            # through config, not a km= of our own: nbclient then owns the kernel and shuts it
            # down and closes its channels when the block ends
            config.KernelManager.transport = "ipc"
            config.KernelManager.ip = socket_base
        client = NotebookClient(nb, kernel_name=kernel_name, timeout=timeout,
                                allow_errors=False, config=config)
        try:
            with client.setup_kernel(stderr=stderr):
                yield client
        finally:
            _log_kernel_stderr(stderr)


def _log_kernel_stderr(stderr: IO[str]) -> None:
    stderr.flush()
    stderr.seek(0)
    text = stderr.read().strip()
    if text:
        kernel_log.debug("report kernel stderr:\n%s", text)


def _render_one(client: NotebookClient, template: nbformat.NotebookNode, job: RenderJob) -> None:
    nb = _prepared(template, job.parameters)
    _execute(client, nb)
    html = html_outputs(nb)
    if not html.strip():
        raise ValueError("the notebook displayed no HTML")
    write_text(job.out_html, html if html.endswith("\n") else html + "\n")
