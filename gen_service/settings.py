"""Settings: frozen value objects built once at start-up and injected, never read from globals.

`Settings()` reads `TRACEGEN_*` environment variables (and `DATABASE_URL`); the CLI overrides fields
from flags with `Settings(**overrides)`. Invalid values fail at construction with a message naming
the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gen_service.memory import MAX_MMAP_THRESHOLD

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///tracegen.db"


def normalize_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver: postgres:// → postgresql+asyncpg://,
    sqlite:///x → sqlite+aiosqlite:///x, and a bare file path → a SQLite file."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{url}"
    scheme, rest = url.split("://", 1)
    if scheme in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}:
        return f"postgresql+asyncpg://{rest}"
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if scheme in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
        return url
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use postgresql:// or sqlite:///")


class Settings(BaseSettings):
    """Coordinator and embedded-mode settings."""

    model_config = SettingsConfigDict(env_prefix="TRACEGEN_", frozen=True, extra="forbid")

    database_url: str = Field(
        default=DEFAULT_SQLITE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "TRACEGEN_DATABASE_URL", "database_url"),
    )
    teachers_file: Path | None = (
        None  # None: ./teachers.toml when present, else the built-in scripted teacher
    )
    lease_ttl_s: float = Field(default=120.0, gt=0)
    reaper_interval_s: float = Field(default=5.0, gt=0)
    max_claim_batch: int = Field(default=256, ge=1, le=10_000)
    max_submit_batch: int = Field(default=256, ge=1, le=10_000)
    max_tokens: int = Field(default=16384, ge=1)  # prompt_over_cap
    prompt_version: str = "v1"
    migrate_on_start: bool = True
    # Bearer tokens per role, as comma-separated `name:secret` entries (see gen_service.api.auth).
    admin_tokens: SecretStr | None = None
    worker_tokens: SecretStr | None = None
    viewer_tokens: SecretStr | None = None
    redis_url: str | None = None  # when set, /readyz also checks Redis
    log_format: Literal["text", "json"] = "text"
    # glibc's mmap threshold, pinned at start-up by long-running commands (see gen_service.memory):
    # 0 leaves the allocator's dynamic threshold, which lets a long job's resident size creep up.
    malloc_mmap_threshold: int = Field(default=64 * 1024, ge=0, le=MAX_MMAP_THRESHOLD)

    @field_validator("database_url")
    @classmethod
    def _normalize_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_teachers_file(self) -> Path | None:
        if self.teachers_file is not None:
            return self.teachers_file
        local = Path("teachers.toml")
        return local if local.is_file() else None
