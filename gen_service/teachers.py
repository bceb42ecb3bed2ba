"""Teacher configuration: `teachers.toml`, read by the coordinator and by every worker.

A teacher is named once here; jobs and leases carry only its name, never a URL or a key. The file
holds one `[teachers.<name>]` table per teacher:

    [teachers.scripted]                 # the built-in, deterministic teacher (no HTTP)
    kind = "scripted"
    defect_share = 0.2

    [teachers.vllm]                     # any OpenAI-compatible server
    kind = "openai"
    base_url = "http://gpu-box:8000/v1" # the API root; requests go to {base_url}/chat/completions
    model = "Qwen/Qwen2.5-Coder-32B-Instruct"
    api_key_env = "VLLM_API_KEY"        # the key is read from this variable when the client is built
    params = { temperature = 0.7, max_tokens = 8192 }

Invariants: a loaded `TeacherConfig` is valid (an `openai` teacher has a `base_url` and a `model`,
numbers are in range, no unknown keys), and it never holds a secret: only the *name* of the
environment variable does, and `resolve_api_key` turns it into a `SecretStr` at client build time.
The built-in `scripted` teacher is always present unless the file redefines it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "BUILTIN_SCRIPTED",
    "RESERVED_PARAMS",
    "TeacherConfig",
    "TeacherConfigError",
    "TeacherKind",
    "load_teachers",
    "resolve_api_key",
]

# Request fields the client sets itself; a `params` entry may not override them.
RESERVED_PARAMS = frozenset({"model", "messages", "seed", "metadata", "stream", "n"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TeacherKind(StrEnum):
    SCRIPTED = "scripted"  # built in, in-process, deterministic from (behaviour, scenario, seed)
    OPENAI = "openai"  # any server speaking the OpenAI chat-completions API over HTTP


class TeacherConfigError(ValueError):
    """A teachers file or a teacher definition is invalid; the message names the file and field."""


class TeacherConfig(BaseModel):
    """One teacher, as defined in `teachers.toml` (or the built-in default).

    `TeacherConfig(name="local", kind="openai", base_url="http://127.0.0.1:8001/v1", model="m")`
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: TeacherKind
    base_url: str | None = None  # openai: the API root, e.g. http://host:8000/v1
    model: str | None = None  # openai: the model name sent in every request
    api_key_env: str | None = None  # openai: environment variable holding the API key (never the key)
    params: dict[str, Any] = Field(default_factory=dict)  # extra request fields: temperature, max_tokens...
    # per attempt: connect, read, write and pool wait each get this long
    timeout_s: float = Field(default=120.0, gt=0, strict=True, allow_inf_nan=False)
    # retries after the first attempt, so at most max_retries + 1 requests per completion
    max_retries: int = Field(default=6, ge=0, le=100, strict=True)
    # cap on one wait between attempts, whether from Retry-After or from the backoff
    max_retry_wait_s: float = Field(default=60.0, ge=0, strict=True, allow_inf_nan=False)
    # scripted only: share of traces with a realistic defect, so that every gate fires
    defect_share: float = Field(default=0.2, ge=0, le=1, strict=True, allow_inf_nan=False)
    cost_per_1k_input: float = Field(default=0.0, ge=0, strict=True, allow_inf_nan=False)
    cost_per_1k_output: float = Field(default=0.0, ge=0, strict=True, allow_inf_nan=False)
    # openai: one budget shared by every worker (Redis GCRA when TRACEGEN_REDIS_URL is set, else per
    # process); None = unlimited. burst = requests that may go back to back after a quiet spell.
    rpm: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tpm: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    burst: int = Field(default=1, ge=1, le=10_000, strict=True)
    # openai: the most calls in flight to this teacher; halved on 429s, grown back on success (AIMD)
    max_concurrency: int = Field(default=256, ge=1, le=100_000, strict=True)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a teacher name is 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("base_url must not carry a query or fragment")
        trimmed = value.rstrip("/")
        if trimmed.endswith("/chat/completions"):
            raise ValueError("base_url is the API root (e.g. http://host:8000/v1), not the endpoint")
        return trimmed

    @field_validator("api_key_env")
    @classmethod
    def _check_api_key_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                f"api_key_env names an environment variable (e.g. OPENAI_API_KEY), got {value!r};"
                " never put the key itself in the file"
            )
        return value

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(RESERVED_PARAMS.intersection(value))
        if reserved:
            raise ValueError(f"params may not set {', '.join(reserved)}: the client sets those itself")
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> TeacherConfig:
        if self.kind is TeacherKind.OPENAI:
            missing = [field for field in ("base_url", "model") if not getattr(self, field)]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required for kind 'openai'")
        else:
            extra = [f for f in ("base_url", "model", "api_key_env") if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)} not allowed for kind 'scripted' (it makes no HTTP calls)"
                )
        return self


BUILTIN_SCRIPTED = TeacherConfig(name="scripted", kind=TeacherKind.SCRIPTED, defect_share=0.2)


def load_teachers(path: Path | None) -> dict[str, TeacherConfig]:
    """Read the teachers file; `None` gives the built-in default, `{"scripted": ...}`.

    The built-in `scripted` teacher is always in the result unless the file redefines it. Raises
    `TeacherConfigError` (a `ValueError`) naming the file, the teacher and the field on any problem:
    unreadable file, bad TOML, unknown keys, unknown kind, an `openai` teacher without `base_url` or
    `model`, numbers of the wrong type or out of range.
    """
    teachers: dict[str, TeacherConfig] = {BUILTIN_SCRIPTED.name: BUILTIN_SCRIPTED}
    if path is None:
        return teachers
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TeacherConfigError(f"{path}: teachers file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TeacherConfigError(f"{path}: cannot read teachers file: {exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TeacherConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"teachers"})
    if unknown:
        raise TeacherConfigError(
            f"{path}: unknown top-level key {', '.join(map(repr, unknown))};"
            " define teachers as [teachers.<name>] tables"
        )
    tables = document.get("teachers", {})
    if not isinstance(tables, dict):
        raise TeacherConfigError(f"{path}: 'teachers' must be a table of [teachers.<name>] tables")
    for name, table in tables.items():
        teachers[name] = _parse_teacher(path, name, table)
    return teachers


def resolve_api_key(config: TeacherConfig, environ: Mapping[str, str]) -> SecretStr | None:
    """The teacher's API key from the environment, or None when it names no variable.

    Raises `TeacherConfigError` when the named variable is unset or empty: a teacher that wants a
    key should fail at start-up, not with a 401 on every request.
    """
    if config.api_key_env is None:
        return None
    value = environ.get(config.api_key_env, "")
    if not value.strip():
        raise TeacherConfigError(
            f"teacher {config.name!r}: environment variable {config.api_key_env} (api_key_env) is not set"
        )
    return SecretStr(value.strip())


def _parse_teacher(path: Path, name: str, table: Any) -> TeacherConfig:
    where = f"{path}: [teachers.{name}]"
    if not isinstance(table, dict):
        raise TeacherConfigError(f"{where}: must be a table")
    if "name" in table and table["name"] != name:
        raise TeacherConfigError(
            f"{where}: name: the name comes from the table header, got {table['name']!r}"
        )
    try:
        return TeacherConfig.model_validate({**table, "name": name})
    except ValidationError as exc:
        raise TeacherConfigError(f"{where}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] != "value_error" and "input" in error:
            message = f"{message} (got {error['input']!r})"
        problems.append(f"{field}: {message}" if field else message)
    return "; ".join(problems)
