"""Typed configs from YAML with dotted overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from graphrec.utils.config import ConfigError, apply_overrides, flatten, from_dict, load_config, to_dict


@dataclass(frozen=True)
class Inner:
    lr: float = 0.01
    layers: int = 2
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    seed: int = 0
    name: str = "x"
    ks: tuple[int, ...] = (10, 20)
    inner: Inner = field(default_factory=Inner)
    path: str | None = None


def test_yaml_and_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("seed: 3\ninner:\n  lr: 0.5\n")
    cfg = load_config(Outer, p, ["inner.layers=4", "ks=[1, 2]", "inner.mode=b", "path=null"])
    assert cfg == Outer(seed=3, ks=(1, 2), inner=Inner(lr=0.5, layers=4, mode="b"))
    assert to_dict(cfg)["ks"] == [1, 2]
    assert flatten(to_dict(cfg))["inner.lr"] == 0.5


def test_int_promotes_to_float_but_not_the_reverse() -> None:
    assert from_dict(Inner, {"lr": 1}).lr == 1.0
    with pytest.raises(ConfigError, match="'inner.layers': expected an integer"):
        from_dict(Outer, {"inner": {"layers": 2.5}})


def test_exponent_without_dot_reads_as_a_number(tmp_path: Path) -> None:
    """YAML 1.1 loads 1e-05 as a string; a resolved config.json written by a stage has it so."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text('{"inner": {"lr": 1e-05}}')
    assert load_config(Outer, cfg).inner.lr == pytest.approx(1e-5)
    with pytest.raises(ConfigError, match="'inner.lr': expected a number"):
        from_dict(Outer, {"inner": {"lr": "fast"}})


@pytest.mark.parametrize(
    "data, match",
    [
        ({"sed": 1}, r"unknown config key\(s\) \['sed'\]"),
        ({"inner": {"mode": "c"}}, "expected one of"),
        ({"seed": "one"}, "expected an integer"),
        ({"inner": 3}, "expected a mapping"),
    ],
)
def test_errors_name_the_key(data, match) -> None:
    with pytest.raises(ConfigError, match=match):
        from_dict(Outer, data)


def test_override_syntax_errors() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["seed"])
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, "/nonexistent.yaml")


def test_load_section_reads_a_run_config_section_or_a_whole_file(tmp_path: Path) -> None:
    from graphrec.utils.config import load_section

    run = tmp_path / "run.yaml"
    run.write_text("seed: 7\ninner:\n  lr: 0.5\nother: {x: 1}\n")
    assert load_section(Inner, run, "inner") == Inner(lr=0.5)
    stage = tmp_path / "stage.yaml"
    stage.write_text("lr: 0.25\nlayers: 3\n")
    assert load_section(Inner, stage, "inner", ["mode=b"]) == Inner(lr=0.25, layers=3, mode="b")
    seeded = tmp_path / "seeded.yaml"
    seeded.write_text("seed: 7\nouter_section: {name: y}\n")
    assert load_section(Outer, seeded, "outer_section").seed == 7


def test_run_config_file_errors_are_one_line_config_errors(tmp_path: Path) -> None:
    from experiments.config import load_run_config

    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        load_run_config(bad)
    assert "\n" not in str(info.value)
