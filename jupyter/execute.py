#!/usr/bin/env python3
"""Executes a session notebook headless and saves it after every cell (papermill's habit).
Over 300 lines, not split: one script that Jupyter's Python runs by path; its saves, its exit codes
and its export server share the run's state and are read together.

    python3 jupyter/execute.py NOTEBOOK [--kernel tslab] [--timeout SECONDS]
                               [--serve-export TEMPLATE_BASEDIR]

Run by lib/host/jupyter.ts `executeNotebook` with the Python of the `jupyter` it picked (the
project .venv's nbclient 0.11, or Debian's python3-nbclient 0.7.2; both work). Each save is
atomic: the notebook is serialised to a hidden temp file in the same folder, fsynced, renamed
over the target and the folder fsynced, so the file on disk is always a whole, valid notebook:
the one after the last finished cell. `metadata.payment_e2e` says how far it got
(`executed_through`: index of the last finished cell, `complete`: true only after the last one,
and only when no cell threw: a throwing cell makes tslab skip every later cell, so `errored` then
names the cells that threw and `silent` the code cells that showed nothing).

stdout stays empty (but for --serve-export's answers): cell outputs never leave the notebook, and
secrets travel in the environment.
stderr gets one line per problem. Exit codes (EXIT_* below):
  0 every cell ran and the notebook is saved
  2 usage, or the notebook is unreadable
  3 a save failed (ENOSPC, EROFS, EACCES, ...): the earlier copy on disk is intact; execution
    stopped there, so no later step runs without its record
  4 the kernel died in a cell
  5 a cell ran past its timeout
  6 the kernel could not start, or another execution error
  7 stopped by SIGTERM or SIGINT (the caller's overall timeout)

Outputs left from an earlier run of the same notebook are cleared first, so no cell shows what an
earlier run printed as if this run had printed it (papermill does the same).

The save after the last code cell is the final one (`complete` and, when a cell threw, `errored` and
`silent` set): the notebook is whole before the kernel shuts down, and not written again. A failure
while the kernel shuts down (SIGTERM, an error in jupyter_client) is said on stderr and in the exit
code only: every cell ran and its record is on disk. A caller may therefore read, and seal, the
notebook from `execute.py-cells-done` on (below); nothing nbclient adds to it later (widget state,
which tslab never sends) is kept.

--serve-export (one Python process for execute and HTML export, issue 15): while the kernel starts
and runs the cells, a thread imports nbconvert and loads the audit template (the `audit` template
under TEMPLATE_BASEDIR, prompts excluded: what `jupyter nbconvert --to html --template audit
--no-prompt` uses). The thread starts once the kernel's process is launched, not before: the import
holds the GIL, and the launch (kernelspec lookup, connection file, spawn) is on the run's critical
path, while the kernel's own start leaves this process idle (bench P1). Requests on stdin, one JSON
line each, {"export": COPY, "out": HTML}: the driver exports COPY (the audit copy lib/host/html.ts
prepared) to HTML and answers {"ok": true} or {"ok": false, "error": "..."} on stdout, one line
each, in order. It starts taking them once the last code cell's final save is on disk, saying so
with `execute.py-cells-done` on stderr, so that the caller can have the page made, and the archive
start, while the kernel shuts down (the kernel's exit and jupyter_client's polling of it leave this
process idle; bench P1).
After the shutdown, instead of exiting, it writes `execute.py-executed: CODE` on stderr (CODE as
above; stderr, so that it follows every line said before it), and keeps serving until the end of
stdin, or until no request came within --serve-idle seconds, then exits with CODE. The caller
(lib/host/jupyter.ts exportHtml) applies the same self-containment checks to the page as to
nbconvert's. stdout carries only the answers, never a cell output.
"""

import argparse
import asyncio
import errno
import glob
import os
import json
import select
import signal
import sys
import threading

# jsonschema (imported by nbformat) imports rfc3987_syntax, when installed (JupyterLab's
# jupyter-events brings it into the venv), for its "iri" format check; that module builds a Lark
# grammar at import: 1.3 s of every executor start on 2 cores, before the kernel is even launched
# (issue 26 item 2). The notebook schema uses no "iri" format, and jsonschema skips the check when
# the import fails, so the executor does without it. Not done when something imported it already.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402 - after the line above, on purpose
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError

EXIT_OK, EXIT_USAGE, EXIT_SAVE, EXIT_DEAD, EXIT_TIMEOUT, EXIT_ERROR, EXIT_STOPPED = 0, 2, 3, 4, 5, 6, 7
META_KEY = "payment_e2e"




def say(msg):
    sys.stderr.write(f"execute.py: {msg}\n")
    sys.stderr.flush()


class SaveError(Exception):
    def __init__(self, path, err):
        code = errno.errorcode.get(err.errno, "EIO") if err.errno else "EIO"
        super().__init__(f"{path}: {err.strerror or err} ({code})")
        self.path, self.code, self.reason = path, code, err.strerror or str(err)


def temp_name(path, pid=None):
    """Hidden, in the same folder (rename stays on one file system); the trailing `~` marks it as
    an editor leftover, which the manifest never hashes if a killed driver leaves one behind."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{pid or os.getpid()}.saving~")


def atomic_write(path, text):
    """Writes `text` to `path` so that a reader sees either the old file or the whole new one.
    On any failure the temp file is removed, the old file is untouched, and SaveError is raised."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = temp_name(path)
    data = text.encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked (a nearly full disk)
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SaveError(path, err) from err
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as err:  # the rename is done; only its durability is in doubt
        raise SaveError(folder, err) from err


def remove_stale_temps(path):
    for stale in glob.glob(temp_name(path, "*")):
        try:
            os.unlink(stale)
        except OSError:
            pass


class SavingClient(NotebookClient):
    """nbclient's client, saving the notebook after every code cell. Overrides the per-cell method
    (present in nbclient 0.5 to 0.11) rather than a hook, so the save sees the cell's final outputs."""

    def __init__(self, nb, path, on_kernel_launched=None, on_cells_done=None, **kw):
        super().__init__(nb, **kw)
        self.path = path
        self.on_kernel_launched = on_kernel_launched
        self.on_cells_done = on_cells_done
        self.saved_through = None  # index of the last cell whose outputs are on disk
        self.running = None
        self.errored = []  # cells whose execute_reply said "error" (tslab shows the throw on stderr only)
        codes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        self.last_code = codes[-1] if codes else None
        self.saved_text = None  # the notebook as last written
        self.final = False  # the last code cell's final save is on disk: the notebook is not written again

    def _check_raise_for_error(self, cell, cell_index, exec_reply):
        if exec_reply is not None and exec_reply.get("content", {}).get("status") == "error":
            self.errored.append(cell.get("id") or f"#{cell_index}")
        return super()._check_raise_for_error(cell, cell_index, exec_reply)

    def mark(self, complete, **extra):
        meta = {"executed_through": self.saved_through, "complete": complete}
        meta.update(extra)
        self.nb.metadata[META_KEY] = meta

    def save(self, complete=False, **extra):
        self.mark(complete, **extra)
        text = nbformat.writes(self.nb)
        atomic_write(self.path, text)
        self.saved_text = text

    def save_final(self):
        """Marks the notebook complete, or names the cells that threw and the ones the kernel then
        skipped; saves it unless the copy on disk says exactly that already. Returns (errored, silent)."""
        errored, silent = outcome_of_cells(self.nb, self.errored)
        extra = {"errored": errored, "silent": silent} if errored else {}
        self.mark(not errored, **extra)
        text = nbformat.writes(self.nb)
        if text != self.saved_text:
            atomic_write(self.path, text)
            self.saved_text = text
        return errored, silent

    async def async_start_new_kernel(self, **kw):
        await super().async_start_new_kernel(**kw)
        if self.on_kernel_launched is not None:
            self.on_kernel_launched()


    async def async_execute_cell(self, cell, cell_index, *args, **kw):
        if cell.cell_type != "code":
            return await super().async_execute_cell(cell, cell_index, *args, **kw)
        self.running = cell_index
        out = await super().async_execute_cell(cell, cell_index, *args, **kw)
        previous = self.saved_through
        self.saved_through = cell_index
        try:
            if cell_index == self.last_code:
                self.save_final()  # the last code cell's save is the final one
                self.final = True
            else:
                self.save()
        except SaveError:
            self.saved_through = previous  # `running` still names the cell whose save failed
            raise
        self.running = None
        if cell_index == self.last_code and self.on_cells_done is not None:
            self.on_cells_done()
        return out


class ExportWarmup:
    """Imports nbconvert and loads the audit template in a thread, while the kernel works."""

    def __init__(self, basedir):
        self.exporter, self.error = None, None
        self.thread = threading.Thread(target=self.load, args=(basedir,), daemon=True)
        self.thread.start()

    def load(self, basedir):
        try:
            from nbconvert import HTMLExporter
            from traitlets.config import Config

            c = Config()
            c.TemplateExporter.extra_template_basedirs = [basedir]
            c.TemplateExporter.exclude_input_prompt = True  # --no-prompt
            c.TemplateExporter.exclude_output_prompt = True
            exporter = HTMLExporter(config=c, template_name="audit")
            exporter.from_notebook_node(nbformat.v4.new_notebook())  # compiles the template once
            self.exporter = exporter
        except Exception as err:  # noqa: BLE001 - reported on the export request
            self.error = f"{type(err).__name__}: {err}"

    def export(self, copy, out):
        self.thread.join()
        if self.exporter is None:
            raise RuntimeError(self.error or "the exporter did not load")
        name = os.path.splitext(os.path.basename(copy))[0]
        # The resources nbconvert's command line gives a notebook (the page is byte-identical).
        body, _ = self.exporter.from_filename(copy, resources={"unique_key": name, "output_files_dir": f"{name}_files"})
        with open(out, "w", encoding="utf-8") as f:
            f.write(body)


def executed(code):
    sys.stderr.write(f"execute.py-executed: {code}\n")
    sys.stderr.flush()


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class ExportServer:
    """Answers export requests from stdin, in order, in a thread: from the last cell's final save
    (while the kernel shuts down) until the end of stdin or `idle_s` seconds without a request."""

    def __init__(self, warm, idle_s):
        self.warm, self.idle_s = warm, idle_s
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            ready, _, _ = select.select([sys.stdin], [], [], self.idle_s)
            line = sys.stdin.readline() if ready else ""
            if not line.strip():  # idle, the end of stdin, or a blank line: no more requests
                return
            try:
                req = json.loads(line)
                self.warm.export(req["export"], req["out"])
                reply({"ok": True})
            except Exception as err:  # noqa: BLE001 - the caller falls back to nbconvert's command line
                reply({"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"})


def start_server(a):
    """Starts answering export requests, once (--serve-export with a loaded or loading exporter)."""
    if a.warm is not None and a.server is None:
        a.server = ExportServer(a.warm, a.serve_idle)


def serve_export(a, code):
    """Says how execution ended, then serves export requests until told there are no more; returns `code`."""
    executed(code)
    if a.warm is None:  # nothing ran (an unreadable notebook): nothing to export
        return code
    start_server(a)
    try:
        a.server.thread.join()
    except KeyboardInterrupt:  # SIGTERM while waiting: the execution's code stands
        pass
    return code


def cells_done(a):
    """The last code cell's final save is on disk: export requests are taken from now on."""
    if a.serve_export is None or a.warm is None:
        return
    start_server(a)
    sys.stderr.write("execute.py-cells-done\n")
    sys.stderr.flush()


def outcome_of_cells(nb, replied_error=()):
    """Cells that threw (an error reply or an `error` output) and code cells that showed nothing."""
    errored, silent = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        name = cell.get("id") or f"#{i}"
        if name in replied_error or any(o.get("output_type") == "error" for o in cell.outputs):
            errored.append(name)
        elif not cell.outputs and "".join(cell.source).strip() and not {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
            silent.append(name)
    return errored, silent


def describe(nb, index):
    if index is None:
        return "none"
    cid = nb.cells[index].get("id")
    return f"cell {index}" + (f" ({cid})" if cid else "")


def main(argv):
    ap = argparse.ArgumentParser(description="Execute a notebook, saving it after every cell.")
    ap.add_argument("notebook")
    ap.add_argument("--kernel", default="tslab")
    ap.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    ap.add_argument("--serve-export", metavar="TEMPLATE_BASEDIR", help="stay for one audit HTML export (see above)")
    ap.add_argument("--serve-idle", type=int, default=600, help="seconds to wait for the export request")
    a = ap.parse_args(argv)
    a.warm = None
    a.server = None
    a.readable = False
    code = run(a)
    if a.serve_export is None:
        return code
    if a.readable:  # the kernel never launched: the exporter loads now, for the export asked next
        start_warmup(a)
    # The kernel is shut down by now; only the export is left, in this interpreter.
    return serve_export(a, code)


def start_warmup(a):
    """Starts loading the exporter, once (--serve-export only)."""
    if a.serve_export is not None and a.warm is None:
        a.warm = ExportWarmup(a.serve_export)


def run(a):

    path = os.path.abspath(a.notebook)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable notebook is a usage error
        say(f"cannot read {path}: {err}")
        return EXIT_USAGE
    a.readable = True
    remove_stale_temps(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

    def stop(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)  # unwinds through nbclient, which shuts the kernel down
    client = SavingClient(
        nb,
        path,
        on_kernel_launched=lambda: start_warmup(a),
        on_cells_done=lambda: cells_done(a),
        kernel_name=a.kernel,
        timeout=a.timeout,
        allow_errors=True,
        resources={"metadata": {"path": os.path.dirname(path)}},
    )
    try:
        # Before the kernel starts: a folder that cannot take the notebook stops the run here,
        # before any cell can move money without its record.
        client.save()
        asyncio.run(client.async_execute())
        # Saved for good after the last code cell (a notebook without code cells: now).
        errored, silent = outcome_of_cells(nb, client.errored) if client.final else client.save_final()
        if errored:
            say(f"a cell threw: {', '.join(errored)}; the kernel skipped {len(silent)} later cell(s) (metadata complete: false)")
        return EXIT_OK
    except SaveError as err:
        after = client.running if client.running is not None else client.saved_through
        if after is None:
            say(f"notebook not saved before the first cell: {err.reason} ({err.code}) writing {err.path}; nothing ran")
        else:
            say(
                f"notebook not saved after {describe(nb, after)}: {err.reason} ({err.code}) writing {err.path}"
                f" (the copy on disk is the one after {describe(nb, client.saved_through)}); execution stopped"
            )
        return EXIT_SAVE
    except DeadKernelError:
        code, what = EXIT_DEAD, "the kernel died"
    except CellTimeoutError:
        code, what = EXIT_TIMEOUT, f"timed out after {a.timeout} s"
    except KeyboardInterrupt as err:
        code, what = EXIT_STOPPED, f"stopped by {err or 'SIGINT'}"
    except Exception as err:  # noqa: BLE001 - reported, and the notebook saved as far as it got
        code, what = EXIT_ERROR, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if client.final:  # every cell ran; the notebook on disk is final and may be sealed already
        say(f"{what} while the kernel shut down, after the last cell; the notebook is saved, final, through {describe(nb, client.saved_through)}")
        return code
    where = describe(nb, client.running) if client.running is not None else "before the first cell"
    say(f"{what} in {where}; the notebook is saved through {describe(nb, client.saved_through)}")
    try:
        client.save(stopped_in=client.running, reason=what)
    except SaveError as err:
        say(f"notebook not saved after the failure: {err.reason} ({err.code}) writing {err.path}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
