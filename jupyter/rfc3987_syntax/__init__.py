"""Stand-in for rfc3987_syntax that loads the installed one on first use.

jsonschema imports ``rfc3987_syntax.is_valid_syntax`` when it is itself imported (for its "iri"
formats), and rfc3987_syntax builds a Lark Earley parser of RFC 3987 at import: about 0.5 s of CPU
in every Python process that imports jsonschema: nbconvert's export (through nbformat) and
JupyterLab (through jupyter_events), for formats neither validates on the way (the executor,
execute.py, does without the module altogether). This package is found first because jupyter/ is
on their PYTHONPATH (jupyterEnv, lib/host/jupyter.ts): it finds the installed package without
running it, and runs it on the first call or attribute asked for, so validation is the installed
package's, unchanged. Not installed (Debian's Python): ImportError, as without this.
"""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _elsewhere(entry):
    try:
        return os.path.abspath(entry or os.getcwd()) != _HERE
    except OSError:
        return True


_SPEC = importlib.machinery.PathFinder.find_spec(__name__, [p for p in sys.path if _elsewhere(p)])
if _SPEC is None or _SPEC.loader is None:
    raise ImportError("rfc3987_syntax is not installed", name=__name__)

_real = None


def _load():
    """The installed package, run once; from then on it is the one sys.modules names."""
    global _real
    if _real is None:
        module = importlib.util.module_from_spec(_SPEC)
        stand_in = sys.modules.get(__name__)
        sys.modules[__name__] = module  # its own absolute imports of rfc3987_syntax.* resolve in it
        try:
            _SPEC.loader.exec_module(module)
        except BaseException:
            if stand_in is not None:
                sys.modules[__name__] = stand_in
            raise
        _real = module
    return _real


def is_valid_syntax(*args, **kwargs):
    return _load().is_valid_syntax(*args, **kwargs)


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_load(), name)
