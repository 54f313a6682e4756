"""Where numba caches the kernel: one directory per digest of the modules compiled into it.

numba invalidates a cached function when its own file changes, not when a function it inlines
or calls from another file does: after an edit of `windows.py`, a cached `kernel.run_batch`
would still run the old window code. Here every jitted function of the package is cached under
`__pycache__/native-<digest of the jitted modules>` (or `$NUMBA_CACHE_DIR/native-<digest>`),
so any change to any of them starts from an empty cache. The package's `__init__` imports this
first, before any module of it jits.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from numba.core import config
from numba.core.caching import CacheImpl, _CacheLocator

PACKAGE = Path(__file__).resolve().parent
#: the modules whose code or constants are compiled into the kernel (not the Python glue)
JITTED = ("arith", "cache", "counts", "kernel", "late", "layout", "outputs", "windows")


def _digest() -> str:
    sha = hashlib.sha256()
    for source in sorted(PACKAGE / f"{name}.py" for name in JITTED):
        sha.update(source.name.encode())
        sha.update(source.read_bytes())
    return sha.hexdigest()[:16]


DIGEST = _digest()


class SourceDigestLocator(_CacheLocator):
    """A numba cache locator for this package's functions, keyed by the sources' digest."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        self._lineno = py_func.__code__.co_firstlineno
        configured: str = getattr(config, "CACHE_DIR", "")  # NUMBA_CACHE_DIR
        base = Path(configured) if configured else PACKAGE / "__pycache__"
        self._cache_path = str(base / f"native-{DIGEST}")

    def ensure_cache_path(self) -> None:
        path = Path(self._cache_path)
        path.mkdir(parents=True, exist_ok=True)
        (path / ".writable").touch()  # fail here, not later, when the directory is read-only

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return DIGEST

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> SourceDigestLocator | None:
        if Path(py_file).resolve().parent != PACKAGE:
            return None
        return cls(py_func, py_file)


if SourceDigestLocator not in CacheImpl._locator_classes:
    CacheImpl._locator_classes.insert(0, SourceDigestLocator)
