"""A standalone Spark cluster on this machine for the parity tests: one master and one worker
from the pyspark package's ``spark-class``, bound to 127.0.0.1, stopped at the end.

``python -m tests.agreement.spark_cluster COMMAND…`` (run by the tests in a fresh interpreter,
so that no local Spark session of another test is reused) runs ``jiqun`` commands with the
pyspark engine against ``JIQUN_SPARK_MASTER`` and prints their JSON outputs as one JSON list.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _wait_for(log: Path, text: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"Spark did not start ({text!r} not in {log}):\n"
                       + log.read_text(errors="replace")[-2000:])


@contextmanager
def standalone_cluster(folder: Path, cores: int = 2, memory: str = "2g") -> Iterator[str]:
    """Start a master and a worker; yield the master's ``spark://`` URL."""
    home = _spark_home()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(folder), "SPARK_WORKER_DIR": str(folder / "work")}
    spark_class = str(home / "bin" / "spark-class")
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    started: list[subprocess.Popen] = []
    try:
        master_log = folder / "master.log"
        master = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(_free_port())],
            env=env, stdout=master_log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        started.append(master)
        _wait_for(master_log, "I have been elected leader", master, 120)
        worker_log = folder / "worker.log"
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
             "--webui-port", str(_free_port()), "--cores", str(cores), "--memory", memory, url],
            env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        started.append(worker)
        _wait_for(worker_log, "Successfully registered with master", worker, 120)
        yield url
    finally:
        # spark-class runs java as its child: stop the whole process group of each
        for process in reversed(started):
            _signal_group(process, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def main(commands: list[list[str]]) -> None:
    from typer.testing import CliRunner

    from jiqun.cli import app

    outputs = []
    for command in commands:
        result = CliRunner().invoke(app, command)
        if result.exit_code != 0:
            raise SystemExit(f"{command}: {result.output[-2000:]}")
        outputs.append(json.loads(result.stdout))
    print(json.dumps(outputs, ensure_ascii=False))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
