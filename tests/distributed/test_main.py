"""``python -m graphrec`` runs the CLI; ``--ray`` without Ray is a one-line hint."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_graphrec_runs_the_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "graphrec", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "build-graph" in r.stdout and "candidates" in r.stdout


def test_ray_flag_without_ray_prints_one_line_hint(tmp_path) -> None:
    # a sitecustomize that hides ray, so the hint path runs even where ray is installed
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env = {"PYTHONPATH": str(tmp_path), "GRAPHREC_MLFLOW": "0", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphrec",
            "candidates",
            "--graph",
            str(tmp_path / "g"),
            "--emb",
            str(tmp_path / "e"),
            "--out",
            str(tmp_path / "o"),
            "--ray",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: Ray is not installed: pip install -e '.[distributed]' (or pip install ray==2.60.0)"
    ]
    assert not (tmp_path / "o").exists()
