"""The temporary folder of an import, and the folders that killed imports left behind.

An import works in a folder of its own under the temporary directory (``TMPDIR``): DuckDB
spills there and a transcoded copy of a GBK file lives there. A killed import cannot remove
its folder, which may hold gigabytes of spill; so every import first removes the folders of
imports that are no longer running. A running import holds an exclusive lock on a file in its
folder for as long as it runs; the kernel lets go of the lock when the process dies, however it
dies, so a folder whose lock can be taken belongs to nobody.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "jiqun-import-"
_LOCK = ".running"
# A folder without a lock file is older than the lock (or made by source.load for a caller of
# its own): removed only when nothing can still be using it.
_UNLOCKED_AFTER_S = 24 * 3600
# Between creating a folder and locking it, an import holds no lock for an instant.
_LOCKED_AFTER_S = 10


@contextmanager
def import_folder() -> Iterator[Path]:
    """A fresh temporary folder for one import, locked while the import runs; removed after."""
    remove_stale()
    with tempfile.TemporaryDirectory(prefix=PREFIX) as work, \
            open(Path(work) / _LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield Path(work)


def remove_stale(root: Path | None = None) -> list[Path]:
    """Remove the import folders under ``root`` (default: the temporary directory) whose
    import is not running; returns them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(PREFIX + "*"):
        if folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        age = time.time() - folder.stat().st_mtime
        lock_file = folder / _LOCK
        if not lock_file.exists():
            return age > _UNLOCKED_AFTER_S
        if age < _LOCKED_AFTER_S:
            return False
        with open(lock_file, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # its import is running
            fcntl.flock(lock, fcntl.LOCK_UN)
            return True
    except OSError:  # gone meanwhile, or another user's: not ours to remove
        return False
