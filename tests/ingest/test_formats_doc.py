"""docs/formats.md documents every column of every import kind."""

from __future__ import annotations

from pathlib import Path

from jiqun.i18n import translator
from jiqun.ingest.columns import FORMATS
from jiqun.ingest.report import REASONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def test_every_column_is_documented_in_its_section():
    text = DOC.read_text(encoding="utf-8")
    sections = {s.split("\n", 1)[0].strip(): s for s in text.split("\n## ")}
    for kind, fmt in FORMATS.items():
        for column in fmt.columns:
            row = f"| {column.zh} | `{column.name}` |"
            assert row in sections[kind], f"{kind}.{column.name} missing from docs/formats.md"


def test_every_reason_has_a_chinese_translation():
    t = translator("zh-CN")
    untranslated = [code for code, message in REASONS.items() if t(message) == message]
    assert untranslated == []
