"""Contents managers for the Jupyter that `npm run session` starts (lib/host/session-life.ts).

A sealed session folder (one holding manifest.json, written by `npm run archive`) is read-only to the
tool: a reopened notebook's autosave must not overwrite the sealed copy, and nothing may appear in
the folder afterwards (not even .ipynb_checkpoints). These managers are the server's usual ones,
except that every write into such a folder (save, new file, rename, delete, checkpoint) is refused
with 403 and a sentence naming the fix, and a sealed file is reported as not writable, so JupyterLab
shows it read-only. The server finds this module through PYTHONPATH (the session adds jupyter/).
"""

import os

from tornado import web

MANIFEST = "manifest.json"
REFUSAL = (
    "{path} is in a sealed session folder ({manifest}): it is read-only and is never saved again. "
    "Close this tab; resume an unfinished session with npm run session -- --resume, "
    "or start a new one with npm run session -- --mode <mode>"
)


def sealed_folder(root, os_path):
    """The sealed session folder `os_path` lies in (itself or an ancestor up to `root`), or None."""
    root = os.path.abspath(root)
    d = os.path.abspath(os_path)
    if not os.path.isdir(d):
        d = os.path.dirname(d)
    while True:
        if os.path.isfile(os.path.join(d, MANIFEST)):
            return d
        if d == root or os.path.dirname(d) == d or not d.startswith(root):
            return None
        d = os.path.dirname(d)


def _refuse(manager, *paths):
    for p in paths:
        if p is not None and sealed_folder(manager.root_dir, manager._get_os_path(p.strip("/"))):
            manager.log.warning("refused a write into a sealed session folder: %s", p)
            raise web.HTTPError(403, REFUSAL.format(path=p, manifest=MANIFEST))


def _mark(manager, model):
    if model and sealed_folder(manager.root_dir, manager._get_os_path(model["path"])):
        model["writable"] = False
    return model


try:
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
except ImportError:  # Debian's classic Notebook only
    AsyncLargeFileManager = None

if AsyncLargeFileManager is not None:

    class SealedFileManager(AsyncLargeFileManager):
        """JupyterLab's (jupyter_server's) default manager, sealed folders refused."""

        async def get(self, path, content=True, type=None, format=None, require_hash=False):
            model = await super().get(path, content=content, type=type, format=format, require_hash=require_hash)
            return _mark(self, model)

        async def save(self, model, path=""):
            _refuse(self, path)
            return await super().save(model, path)

        async def delete_file(self, path):
            _refuse(self, path)
            return await super().delete_file(path)

        async def rename_file(self, old_path, new_path):
            _refuse(self, old_path, new_path)
            return await super().rename_file(old_path, new_path)

        async def create_checkpoint(self, path):
            _refuse(self, path)
            return await super().create_checkpoint(path)

        async def restore_checkpoint(self, checkpoint_id, path):
            _refuse(self, path)
            return await super().restore_checkpoint(checkpoint_id, path)

        async def delete_checkpoint(self, checkpoint_id, path):
            _refuse(self, path)
            return await super().delete_checkpoint(checkpoint_id, path)


try:
    from notebook.services.contents.largefilemanager import LargeFileManager
except ImportError:  # the venv has JupyterLab only
    LargeFileManager = None

if LargeFileManager is not None:

    class SealedClassicFileManager(LargeFileManager):
        """Debian's classic Notebook's default manager, sealed folders refused."""

        def get(self, path, content=True, type=None, format=None):
            return _mark(self, super().get(path, content=content, type=type, format=format))

        def save(self, model, path=""):
            _refuse(self, path)
            return super().save(model, path)

        def delete_file(self, path):
            _refuse(self, path)
            return super().delete_file(path)

        def rename_file(self, old_path, new_path):
            _refuse(self, old_path, new_path)
            return super().rename_file(old_path, new_path)

        def create_checkpoint(self, path):
            _refuse(self, path)
            return super().create_checkpoint(path)

        def restore_checkpoint(self, checkpoint_id, path):
            _refuse(self, path)
            return super().restore_checkpoint(checkpoint_id, path)

        def delete_checkpoint(self, checkpoint_id, path):
            _refuse(self, path)
            return super().delete_checkpoint(checkpoint_id, path)
