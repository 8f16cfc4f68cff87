"""Render many notebooks on one warm kernel, or many reports in one notebook run.

`render_batch` (the shard jobs): one run of a batch notebook renders every patient of a shard
through one call into the package, so the per-patient cost is the rendering alone, with no
kernel round trip, notebook copy or parameter cell per patient.

`render_many` (the batch report; and per patient when a batch kernel dies):

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
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from traitlets.config import Config

from precex.io.files import write_text
from precex.reporting.patient import ENVIRONMENT_ERROR, environment_error

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


class _MachineError(Exception):
    """The machine's error while rendering (no space, quota, read-only, I/O)."""


def _machine_error_text(name: str, value: str) -> bool:
    """A notebook cell's OSError that is the machine's (its errno named in the message)."""
    import errno

    codes = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
    return name in ("OSError", "IOError") and any(f"[Errno {c}]" in value for c in codes)


def render_many(template_path: str, jobs: Iterable[RenderJob], timeout: int = 300,
                kernel_name: str = "python3") -> dict[str, str]:
    """Render every job; returns {key: error message} for the jobs that failed.

    A kernel that fails to start (seen intermittently: "Kernel died before replying to
    kernel_info") is started again, up to KERNEL_ATTEMPTS times; a kernel that dies while
    rendering is restarted and that patient tried once more. If no kernel can be had, every
    remaining patient is a failure (an exclusion with the reason), never an exception that
    would fail the batch. A machine's error (no space, quota, read-only, I/O) is no job's
    failure: it raises OSError, so the job fails and a rerun after freeing space renders it.
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
                        if _machine_error_text(name, value):
                            raise _MachineError(f"{name}: {value}") from None
                        failures[job.key] = f"report cell failed ({name}: {value})"
                        log.error("report failed for %s: %s", job.key, err)
                    except Exception as err:  # keep the shard going; the reason is recorded
                        if environment_error(err):
                            raise _MachineError(f"{type(err).__name__}: {err}") from None
                        failures[job.key] = f"report failed ({type(err).__name__}: {err})"
                        log.exception("report failed for %s", job.key)
                    pending.pop(0)  # rendered, or failed with its reason recorded
        except _MachineError as err:  # no space, read-only, I/O: the job fails, nobody excluded
            raise OSError(f"the report could not be written ({err}); no patient is excluded "
                          "for it: free space or fix the file system and run again") from None
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
        # "immediate": the kernel is stopped, not asked to tidy up (0.1 s of wall and CPU per
        # kernel). Safe because the cells are done: every output and reply has arrived, and
        # the files the notebook writes were closed inside its cells.
        # The connection file and the kernel's IPython and Jupyter folders in the private
        # folder too: the kernel runs no startup script of the user's profile (IPYTHONDIR)
        # and writes nothing to the home folder.
        config.KernelManager.connection_file = os.path.join(folder, "kernel.json")
        env = {**os.environ, "IPYTHONDIR": os.path.join(folder, "ipython"),
               "JUPYTER_CONFIG_DIR": os.path.join(folder, "jupyter"),
               "JUPYTER_DATA_DIR": os.path.join(folder, "jupyter-data"),
               "JUPYTER_RUNTIME_DIR": folder, "MPLCONFIGDIR": os.path.join(folder, "mpl")}
        client = NotebookClient(nb, kernel_name=kernel_name, timeout=timeout,
                                allow_errors=False, config=config, shutdown_kernel="immediate")
        try:
            with client.setup_kernel(stderr=stderr, env=env):
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


def render_batch(template_path: str, jobs: Iterable[RenderJob], timeout_per_job: float = 5.0,
                 kernel_name: str = "python3") -> dict[str, str]:
    """Render every job with one run of a batch notebook; returns {key: error message}.

    The notebook takes two parameters, `jobs_path` (a JSON list of {key, parameters,
    out_html}) and `failures_path` (where it writes {key: reason} for the jobs that failed),
    and renders each job itself, isolating a failing patient. If the kernel dies (a crash
    no try/except catches), the unfinished jobs are rendered again one per run, so the one
    that kills the kernel fails with the reason and the others are rendered; a kernel that
    cannot start is retried as in render_many. A machine's error (no space, read-only, I/O:
    ENVIRONMENT_ERROR) raises OSError: the job fails and nobody is excluded. A failed job
    leaves no out_html (the batch notebook writes in place, so a patient that failed midway
    may have left part of one).
    """
    template = load_notebook_node(template_path)
    failures: dict[str, str] = {}
    listed = list(jobs)
    queue: list[list[RenderJob]] = [listed] if listed else []
    died: set[str] = set()
    last_error = ""
    attempt = 0
    with tempfile.TemporaryDirectory(prefix="precex-batch-") as folder:
        while queue and attempt < KERNEL_ATTEMPTS:
            attempt += 1
            try:
                with _kernel(copy.deepcopy(template), kernel_name, 300) as client:
                    attempt = 0  # counts failed starts in a row; deaths are bounded below
                    while queue:
                        chunk = queue[0]
                        client.timeout = int(300 + timeout_per_job * len(chunk))
                        try:
                            failures.update(_render_chunk(client, template, chunk, folder))
                        except DeadKernelError as err:
                            queue.pop(0)
                            if len(chunk) > 1:  # find the job that kills the kernel
                                queue[:0] = [[job] for job in chunk]
                            elif chunk[0].key in died:
                                failures[chunk[0].key] = f"kernel died while rendering ({err})"
                            else:
                                died.add(chunk[0].key)
                                queue.insert(0, chunk)
                            raise
                        except CellExecutionError as err:  # the notebook itself failed
                            name = getattr(err, "ename", "error")
                            value = getattr(err, "evalue", str(err))
                            for job in chunk:
                                failures[job.key] = f"report cell failed ({name}: {value})"
                            log.error("report batch failed: %s", err)
                        queue.pop(0)
            except Exception as err:  # the kernel did not start, or died: start a new one
                last_error = f"{type(err).__name__}: {err}"
                log.warning("report kernel attempt %d of %d failed (%s)", attempt,
                            KERNEL_ATTEMPTS, last_error)
                if not isinstance(err, DeadKernelError):
                    time.sleep(min(attempt, 3))
    for chunk in queue:
        for job in chunk:
            failures[job.key] = f"report not rendered: no kernel could be started ({last_error})"
    for job in listed:
        if job.key in failures:
            Path(job.out_html).unlink(missing_ok=True)
    if ENVIRONMENT_ERROR in failures:  # no space, read-only, I/O: the machine's, not a patient's
        raise OSError(f"the reports could not be written ({failures[ENVIRONMENT_ERROR]}); no "
                      "patient is excluded for it: free space or fix the file system and run "
                      "again")
    return failures


def _render_chunk(client: NotebookClient, template: nbformat.NotebookNode,
                  chunk: list[RenderJob], folder: str) -> dict[str, str]:
    jobs_path = os.path.join(folder, "jobs.json")
    failures_path = os.path.join(folder, "failures.json")
    with open(jobs_path, "w", encoding="utf-8") as handle:
        json.dump([{"key": j.key, "parameters": j.parameters, "out_html": j.out_html}
                   for j in chunk], handle)
    if os.path.exists(failures_path):
        os.unlink(failures_path)
    _execute(client, _prepared(template, {"jobs_path": jobs_path,
                                          "failures_path": failures_path}))
    with open(failures_path, encoding="utf-8") as handle:
        return dict(json.load(handle))
