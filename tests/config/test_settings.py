"""Settings: environment variables, the default secret, and documentation of every setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jiqun.config import DEVELOPMENT_SECRET, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_defaults_are_a_local_sqlite_store_and_duckdb(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings()
    assert s.store_url == "sqlite:///var/jiqun.db" and s.is_sqlite
    assert s.lake_path == Path("var/lake")
    assert (s.engine, s.locale) == ("duckdb", "zh-CN")


def test_environment_variables_override(monkeypatch):
    monkeypatch.setenv("JIQUN_ENGINE", "pyspark")
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    monkeypatch.setenv("JIQUN_STORE_URL", "postgresql+psycopg://u@h/db")
    s = Settings()
    assert (s.engine, s.locale, s.is_sqlite) == ("pyspark", "en", False)


def test_unknown_engine_is_refused(monkeypatch):
    monkeypatch.setenv("JIQUN_ENGINE", "pandas")
    with pytest.raises(ValidationError):
        Settings()


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("JIQUN_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="JIQUN_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("JIQUN_SECRET_KEY", "a-real-secret-of-my-own")  # 23 bytes: too short
    with pytest.raises(ValidationError, match="shorter than 32 bytes"):
        Settings()
    monkeypatch.setenv("JIQUN_SECRET_KEY", "a-real-secret-of-my-own-0123456789")
    assert Settings().secret_key != DEVELOPMENT_SECRET


def test_every_setting_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"JIQUN_{name.upper()}" not in text]
    assert not missing, f"document these in docs/settings.md: {missing}"

