"""The CLI's one naming scheme: new option names, old spellings as deprecated aliases."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphrec.cli import app, data, renamed  # noqa: F401  (data registers synth and validate)


def test_renamed_prefers_the_new_name_and_warns_for_the_old(capsys) -> None:
    assert renamed(Path("a"), None, "--emb", "--features") == Path("a")
    assert renamed(None, Path("b"), "--emb", "--features") == Path("b")
    assert "--features is deprecated, use --emb" in capsys.readouterr().err
    assert renamed([], [Path("c")], "--emb", "--runs") == [Path("c")]
    with pytest.raises(ValueError, match="not both"):
        renamed(Path("a"), Path("b"), "--emb", "--features")
    with pytest.raises(ValueError, match="missing option --emb"):
        renamed(None, None, "--emb", "--features")


def test_validate_takes_data_and_still_the_positional(tmp_path: Path) -> None:
    d = tmp_path / "d"
    assert CliRunner().invoke(app, ["synth", str(d), "--pins", "200", "--set", "n_styles=4"]).exit_code == 0
    new = CliRunner().invoke(app, ["validate", "--data", str(d)])
    assert new.exit_code == 0 and "ok: " in new.output and "deprecated" not in new.output
    old = CliRunner().invoke(app, ["validate", str(d)])
    assert old.exit_code == 0 and "deprecated" in old.output and "ok: " in old.output
    none = CliRunner().invoke(app, ["validate"])
    assert none.exit_code != 0 and "missing option --data" in none.output
