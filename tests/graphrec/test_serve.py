"""``graphrec serve``: MLflow's scoring server on 127.0.0.1 answers a board and a pin query like
the Python API, even with the virtualenv's bin directory off PATH (the reason
``mlflow models serve --env-manager local`` failed), and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import graphrec
from graphrec.cli.serve import serve_command, serving_env

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, payload: dict) -> list[dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["predictions"]


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {proc.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail("server did not come up")


def test_serving_env_puts_this_interpreters_bin_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env = serving_env()
    assert env["PATH"].split(os.pathsep)[0] == str(BIN) and (BIN / "uvicorn").exists()
    cmd = serve_command("models:/m@candidate", "127.0.0.1", 5001, 1)
    assert cmd[:3] == [sys.executable, "-m", "mlflow"] and "--env-manager" in cmd and "local" in cmd


def test_serve_answers_a_board_and_a_pin_then_stops(tiny_run: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PATH": "/usr/bin:/bin", "GRAPHREC_NO_PROGRESS": "1"}  # no venv bin on PATH
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [str(BIN / "graphrec"), "serve", "--run", str(tiny_run), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_ready(port, proc)
        run = graphrec.load_run(tiny_run)
        board = run.graph.boards["board_id"].iloc[5]
        got = _post(port, {"dataframe_records": [{"board_id": board}], "params": {"k": 7}})
        want = run.recommend([board], k=7)
        assert [g["candidate_pin_id"] for g in got] == want["pin_id"].tolist()
        assert [g["rank"] for g in got] == list(range(1, 8)) and {g["query_type"] for g in got} == {"board"}
        pin = run.graph.pins["pin_id"].iloc[9]
        got = _post(port, {"dataframe_records": [{"pin_id": pin}]})
        assert [g["candidate_pin_id"] for g in got] == run.similar_pins([pin], k=10)[
            "pin_id"
        ].tolist()  # k of tiny.yaml
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, proc.stderr.read()[-2000:]
    with pytest.raises(OSError):  # nothing listens any more: uvicorn stopped with it
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
