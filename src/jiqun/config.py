"""Settings: one registry, read from ``JIQUN_*`` environment variables and ``.env``.

Every setting has a default and a description; ``docs/settings.md`` lists them and a test
fails when one is missing there.
"""

from __future__ import annotations

import ipaddress
import sys
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

import tomli_w
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_SECRET = "jiqun-development-secret-do-not-use-in-production"
MIN_SECRET_BYTES = 32


class InsecureSecret(ValueError):
    """The secret key cannot protect sessions and tokens here (empty, short or the default)."""


def secret_problem(secret_key: str, environment: str) -> str | None:
    """Why ``secret_key`` is unfit for ``environment``, as one line; ``None`` when it is fine.

    An empty key is refused everywhere (anyone could sign a token with it); production also
    refuses the development default and keys shorter than 32 bytes.
    """
    if not secret_key:
        return "JIQUN_SECRET_KEY is empty: set a random secret of at least 32 bytes"
    if environment != "production":
        return None
    if secret_key == DEVELOPMENT_SECRET:
        return "JIQUN_SECRET_KEY is the development default: set a secret of your own in production"
    if len(secret_key.encode("utf-8")) < MIN_SECRET_BYTES:
        return (f"JIQUN_SECRET_KEY is shorter than {MIN_SECRET_BYTES} bytes: set a longer random "
                "secret in production")
    return None


def check_secret(settings: Settings) -> None:
    """Raise :class:`InsecureSecret` (one clear line) unless the settings' secret is fit."""
    problem = secret_problem(settings.secret_key, settings.environment)
    if problem:
        raise InsecureSecret(problem)


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
    spark_master: str = Field(
        "local[*]",
        description="Spark master of the pyspark engine: local[*], spark://host:7077 (a "
                    "standalone cluster) or sc://host:15002 (Spark Connect).",
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
    web_threads: int = Field(
        40, ge=1, le=1000, description="Threads of one server process that serve requests.")
    store_pool_size: int = Field(
        80, ge=1, le=10_000,
        description="Most store connections one process opens; at least JIQUN_WEB_THREADS "
        "(twice that lets each request open a short second session without waiting).")
    figure_cache_size: int = Field(
        4096, ge=0, le=1_000_000,  # a viewer's pages keep ~50–100: room for the warm-up's 30
        description="Computed figures (KPIs by scope) one server process keeps per data "
        "version; 0 turns the cache off.")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed; empty: the direct peer is the client.",
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins per client and user name within the window.")
    login_max_failures_per_user: int = Field(
        50, ge=1, description="Failed sign-ins per user name from all clients within the window.")
    login_window_seconds: int = Field(
        300, ge=1, description="Window of the sign-in throttle, in seconds.")
    serve_jobs: bool = Field(
        True, description="Run the scheduled jobs inside `jiqun serve` (off: run `jiqun worker`, "
        "or nothing runs by itself).")
    serve_warmup: bool = Field(
        True, description="After a data change (new lake files, an edited rules or planning "
        "file), load every navigation page once as each recent viewer inside `jiqun serve`, so "
        "the first visitor gets kept figures (jiqun.web.warmup).")
    warmup_interval_seconds: float = Field(
        10.0, gt=0, le=3600, description="How often the warm-up looks for a data change.")
    warmup_viewers: int = Field(
        30, ge=1, le=1000, description="Warm the pages of at most this many recent viewers "
        "(one per org unit and role, latest sign-in first).")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _refuse_unfit_secret(self) -> Settings:
        check_secret(self)
        return self

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)

    @model_validator(mode="after")
    def _pool_fits_threads(self) -> Settings:
        # A smaller pool leaves threads waiting for a connection until they time out (500s).
        if self.store_pool_size < self.web_threads:
            raise ValueError(f"JIQUN_STORE_POOL_SIZE ({self.store_pool_size}) must be at least "
                             f"JIQUN_WEB_THREADS ({self.web_threads})")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.store_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_or_exit() -> Settings:
    """The settings, or one line per problem on stderr and exit code 2 (for ``jiqun serve``:
    a misconfigured server should say what is wrong, not print a traceback)."""
    try:
        return get_settings()
    except ValidationError as err:
        for item in err.errors():
            where = ".".join(str(p) for p in item["loc"])
            message = str(item.get("ctx", {}).get("error") or item["msg"])
            print(f"jiqun: {where + ': ' if where else ''}{message}", file=sys.stderr)
        raise SystemExit(2) from None


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
    def configured(cls, settings: Settings | None = None) -> Self:
        """The rules of the file that ``settings`` name when it exists, else the defaults.

        Pass the settings of the app or command at hand (the web: ``web.deps.rules_of``);
        without them, the process-wide settings of the environment are read."""
        path = getattr(settings or get_settings(), cls.file_setting)
        return cls.from_file(path) if path.is_file() else cls()

    def to_toml(self) -> str:
        """TOML that :meth:`from_file` reads back to equal rules (the whole-file form)."""
        return tomli_w.dumps(self.model_dump(mode="json"))
