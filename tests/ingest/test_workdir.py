"""An import's temporary folder: a killed import's folder is removed by the next import, a
running import's folder is left alone."""

from __future__ import annotations

import fcntl
import os
import time

from jiqun.ingest import workdir


def _aged(folder, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_the_folder_of_a_killed_import_is_removed_and_a_running_one_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(workdir.tempfile, "tempdir", None)  # TMPDIR is read again
    killed = tmp_path / f"{workdir.PREFIX}killed"
    killed.mkdir()
    (killed / ".running").touch()  # its lock died with its process
    (killed / "duckdb_spill.tmp").write_bytes(b"x" * 1024)
    _aged(killed, 60)
    running = tmp_path / f"{workdir.PREFIX}running"
    running.mkdir()
    other = tmp_path / "someone-else"
    other.mkdir()
    with open(running / ".running", "w") as lock:  # as the running import holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        _aged(running, 60)
        with workdir.import_folder() as work:
            assert work.parent == tmp_path and work.is_dir()
            assert not killed.exists()
            assert running.exists() and other.exists()
            assert workdir.remove_stale(tmp_path) == []  # this import's own folder is locked
        assert not work.exists()
    assert workdir.remove_stale(tmp_path) == [running]  # its import has ended now
