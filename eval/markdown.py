"""Escaping user text (dataset names, paths from dataset.json or the command line) for Markdown
pages such as report.md, so it renders as the literal text and never as HTML, links or markup."""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|~<>$])")


def md_text(value: object) -> str:
    """``value`` as literal Markdown text on one line: HTML-escaped, markup characters
    backslashed."""
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def md_code(value: object) -> str:
    """``value`` as an inline code span on one line (a fence longer than any backtick run
    inside)."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
