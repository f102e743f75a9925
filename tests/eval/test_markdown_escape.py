"""User text reaching report.md / ablation.md is escaped (issue 11, item 6)."""

from __future__ import annotations

from eval.markdown import md_code, md_text
from eval.report import render
from experiments.ablation import format_markdown

EVIL = "<script>alert(1)</script> [click](http://x) *bold* `code`\n# heading"


def _metrics(name: str) -> dict:
    return {"dataset": name, "protocol": {"split": "test", "k": [10]}, "models": {}}


def test_dataset_name_in_report_is_escaped() -> None:
    manifest = {"graph": {"path": "/data/`evil`<b>"}, "models": {"m": {"source": "/x/<img src=y>"}}}
    text = render(_metrics(EVIL), manifest)
    head = text.splitlines()[0]
    assert head.startswith("# Evaluation: ") and "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;" in head and r"\[click\]" in head and r"\*bold\*" in head
    assert "\n# heading" not in text  # a newline in the name cannot start a new heading
    assert "``/data/`evil`<b>``" in text  # inside a code span: literal, not HTML


def test_ablation_title_is_escaped() -> None:
    doc = {"dataset": EVIL, "protocol": {"split": "test"}, "rows": [], "metrics": [], "models": {}}
    assert "<script>" not in format_markdown(doc).splitlines()[0]


def test_plain_names_stay_readable() -> None:
    assert md_text("movielens-small v2.0 (2018)") == "movielens-small v2.0 (2018)"
    assert md_code("/tmp/run/graph") == "`/tmp/run/graph`"
