"""CLI command serve: the candidate generator over HTTP (MLflow's scoring server, /invocations).

``mlflow models serve --env-manager local`` starts ``uvicorn`` by name, so it fails when the
virtualenv's ``bin`` is not on PATH; this command runs it with the running interpreter's ``bin``
directory first on PATH. ``--run`` serves a run directory's current index (pins added by
``add-pins`` included) saved as the same pyfunc model that is registered; ``--model-uri`` serves
any MLflow model URI, e.g. ``models:/graphrec-synthetic-fashion@candidate``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from graphrec.cli import app, handle_errors


def serving_env() -> dict[str, str]:
    """This environment with the interpreter's bin directory first on PATH (uvicorn lives there)."""
    from graphrec.utils.logs import QUIET_ENV

    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {**QUIET_ENV, **os.environ, "PATH": f"{bin_dir}{os.pathsep}{path}" if path else bin_dir}
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def serve_command(model_uri: str, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def run_server(cmd: list[str], env: dict[str, str]) -> int:
    """Run the server in the foreground; SIGTERM / Ctrl-C stop it (and its uvicorn) cleanly."""
    proc = subprocess.Popen(cmd, env=env)

    def stop(signum: int, frame: object) -> None:  # noqa: ARG001
        proc.terminate()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait(timeout=30)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.kill()


@app.command("serve")
@handle_errors
def serve_cmd(
    run: Path = typer.Option(None, "--run", help="Run directory of `graphrec run`: serve its candidates/index."),
    model_uri: str = typer.Option(None, "--model-uri", help="Or a model URI: models:/graphrec-<dataset>@candidate"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 = every interface)."),
    port: int = typer.Option(5000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", help="Server worker processes."),
) -> None:
    """Serve candidates over HTTP (MLflow scoring server): POST /invocations with
    {"dataframe_records": [{"board_id": ...}], "params": {"k": 20}}."""
    if (run is None) == (model_uri is None):
        raise ValueError("give --run RUN_DIR or --model-uri URI (one of them)")
    with tempfile.TemporaryDirectory(prefix="graphrec-serve-") as tmp:
        if run is not None:
            from graphrec.candidates.pyfunc import save_candidate_model

            if not (run / "candidates").is_dir():
                raise FileNotFoundError(f"{run}: no candidates/ directory; give the --out directory of `graphrec run`")
            model_uri = str(save_candidate_model(run / "candidates", Path(tmp) / "model"))
        typer.echo(f"serving {run or model_uri} on http://{host}:{port}/invocations (Ctrl-C stops)", err=True)
        rc = run_server(serve_command(model_uri, host, port, workers), serving_env())
    if rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
        raise typer.Exit(rc)
