"""Settings: one registry, read from ``JIQUN_*`` environment variables and ``.env``.

Every setting has a default and a description; ``docs/settings.md`` lists them and a test
fails when one is missing there.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal, Self

import tomli_w
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "jiqun-development-secret-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIQUN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Deployment kind; the default secret is refused in production."
    )
    store_url: str = Field(
        "sqlite:///var/jiqun.db",
        description="SQLAlchemy URL of the store (SQLite file or postgresql+psycopg://…).",
    )
    lake_path: Path = Field(
        Path("var/lake"), description="Folder holding the Parquet lake (waybills, events)."
    )
    engine: Literal["duckdb", "pyspark"] = Field(
        "duckdb", description="Analytics engine behind Ibis: duckdb (default) or pyspark."
    )
    locale: Literal["zh-CN", "en"] = Field(
        "zh-CN", description="Default language of the UI, CLI messages and reject reports."
    )
    secret_key: str = Field(
        DEVELOPMENT_SECRET, description="Key that signs sessions, CSRF tokens and API tokens."
    )
    rules_file: Path = Field(
        Path("var/kpi-rules.toml"),
        description="TOML file of KPI rules (thresholds, windows, tiers); defaults when absent.",
    )
    planning_file: Path = Field(
        Path("var/planning.toml"),
        description="TOML file of network planning parameters (trucks, costs, radii); "
        "defaults when absent.",
    )
    token_ttl_seconds: int = Field(8 * 3600, description="Lifetime of an API bearer token.")
    session_ttl_seconds: int = Field(12 * 3600, description="Lifetime of a web session.")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "JIQUN_SECRET_KEY must be set to a secret of your own outside development"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.store_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


class FileRules(BaseModel):
    """Typed rules or parameters read from a TOML file named by a setting, so a run can be
    repeated exactly: ``KpiRules``, ``SalesRules``, ``PlanRules``, ``PlanningParams``.

    ``file_setting`` names the :class:`Settings` field holding the path; ``toml_table`` the
    table inside the file (``("sales", "plan")`` is ``[sales.plan]``; empty: the whole file).
    Values missing from the file take the model's defaults; so does a missing file.
    """

    file_setting: ClassVar[str] = "rules_file"
    toml_table: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_file(cls, path: Path) -> Self:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        for name in cls.toml_table:
            data = data.get(name, {})
        return cls.model_validate(data)

    @classmethod
    def configured(cls) -> Self:
        """The rules of the configured file when it exists, else the defaults."""
        path = getattr(get_settings(), cls.file_setting)
        return cls.from_file(path) if path.is_file() else cls()

    def to_toml(self) -> str:
        """TOML that :meth:`from_file` reads back to equal rules (the whole-file form)."""
        return tomli_w.dumps(self.model_dump(mode="json"))
