"""teachers.toml parsing, API-key handling and Retry-After parsing (no I/O beyond tmp files)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from gen_service.teachers import (
    BUILTIN_SCRIPTED,
    TeacherConfig,
    TeacherConfigError,
    TeacherKind,
    load_teachers,
    resolve_api_key,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[teachers.local]
kind = "openai"
base_url = "http://127.0.0.1:8001/v1/"
model = "tracegen-scripted"
api_key_env = "LOCAL_TEACHER_KEY"
timeout_s = 30
max_retries = 2
max_retry_wait_s = 5.5
params = { temperature = 0.7, max_tokens = 4096 }
cost_per_1k_input = 0.001
cost_per_1k_output = 0.002

[teachers.noisy]
kind = "scripted"
defect_share = 0.5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teachers.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_gives_the_builtin_scripted_teacher() -> None:
    teachers = load_teachers(None)
    assert list(teachers) == ["scripted"]
    assert teachers["scripted"].kind is TeacherKind.SCRIPTED
    assert teachers["scripted"].defect_share == 0.2


def test_good_file(tmp_path: Path) -> None:
    teachers = load_teachers(write(tmp_path, GOOD))
    assert set(teachers) == {"scripted", "local", "noisy"}
    local = teachers["local"]
    assert local.kind is TeacherKind.OPENAI
    assert local.base_url == "http://127.0.0.1:8001/v1"  # trailing slash trimmed
    assert local.model == "tracegen-scripted"
    assert local.api_key_env == "LOCAL_TEACHER_KEY"
    assert local.params == {"temperature": 0.7, "max_tokens": 4096}
    assert (local.timeout_s, local.max_retries, local.max_retry_wait_s) == (30.0, 2, 5.5)
    assert (local.cost_per_1k_input, local.cost_per_1k_output) == (0.001, 0.002)
    assert teachers["noisy"].defect_share == 0.5
    assert teachers["scripted"] == BUILTIN_SCRIPTED


def test_file_may_redefine_scripted(tmp_path: Path) -> None:
    teachers = load_teachers(write(tmp_path, '[teachers.scripted]\nkind = "scripted"\ndefect_share = 0.0\n'))
    assert teachers["scripted"].defect_share == 0.0


def test_empty_file_gives_builtin(tmp_path: Path) -> None:
    assert list(load_teachers(write(tmp_path, "# nothing yet\n"))) == ["scripted"]


def test_repository_example_file_loads() -> None:
    teachers = load_teachers(REPO_ROOT / "teachers.toml")
    assert teachers["scripted"].kind is TeacherKind.SCRIPTED
    stub = teachers["stub"]
    assert stub.kind is TeacherKind.OPENAI
    assert stub.base_url == "http://127.0.0.1:8001/v1"


OPENAI = 'kind = "openai"\nbase_url = "http://127.0.0.1:8001/v1"\nmodel = "m"\n'


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('kind = "anthropic"\n', "kind"),
        ("defect_share = 0.1\n", "kind"),  # kind is required
        ('kind = "openai"\nmodel = "m"\n', "base_url"),
        ('kind = "openai"\nbase_url = "http://h:1/v1"\n', "model"),
        ('kind = "openai"\nbase_url = "ftp://h/v1"\nmodel = "m"\n', "base_url"),
        ('kind = "openai"\nbase_url = "http://h:1/v1/chat/completions"\nmodel = "m"\n', "base_url"),
        (OPENAI + 'colour = "blue"\n', "colour"),
        (OPENAI + 'api_key = "sk-123"\n', "api_key"),
        (OPENAI + 'api_key_env = "sk-live-123"\n', "api_key_env"),
        (OPENAI + "timeout_s = -1\n", "timeout_s"),
        (OPENAI + "timeout_s = 0\n", "timeout_s"),
        (OPENAI + 'timeout_s = "120"\n', "timeout_s"),
        (OPENAI + "timeout_s = inf\n", "timeout_s"),
        (OPENAI + "max_retries = -1\n", "max_retries"),
        (OPENAI + "max_retries = 2.5\n", "max_retries"),
        (OPENAI + "max_retries = true\n", "max_retries"),
        (OPENAI + "max_retry_wait_s = nan\n", "max_retry_wait_s"),
        (OPENAI + "cost_per_1k_input = -0.5\n", "cost_per_1k_input"),
        (OPENAI + "params = { model = 'other' }\n", "params"),
        (OPENAI + "params = 3\n", "params"),
        ('kind = "scripted"\ndefect_share = 1.5\n', "defect_share"),
        ('kind = "scripted"\nbase_url = "http://h:1/v1"\n', "base_url"),
        ('name = "other"\nkind = "scripted"\n', "name"),
    ],
)
def test_bad_field_names_file_and_field(tmp_path: Path, table: str, field: str) -> None:
    path = write(tmp_path, "[teachers.t1]\n" + table)
    with pytest.raises(ValueError, match=field) as info:
        load_teachers(path)
    assert isinstance(info.value, TeacherConfigError)
    message = str(info.value)
    assert str(path) in message
    assert "teachers.t1" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[teachers.x\n", "not valid TOML"),
        ("teachers = 3\n", "teachers"),
        ("teachers = { x = 3 }\n", "must be a table"),
        ('[other]\nkind = "scripted"\n', "other"),
        ('[teachers."bad name!"]\nkind = "scripted"\n', "name"),
    ],
)
def test_bad_file_shape(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TeacherConfigError, match=fragment) as info:
        load_teachers(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(TeacherConfigError, match="not found") as info:
        load_teachers(path)
    assert str(path) in str(info.value)


def test_config_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        BUILTIN_SCRIPTED.defect_share = 0.9  # type: ignore[misc]


# --- API keys ---------------------------------------------------------------------------------------

SECRET = "sk-test-DO-NOT-LEAK-0123456789"


def openai_config(**overrides: object) -> TeacherConfig:
    fields: dict[str, object] = {
        "name": "local",
        "kind": "openai",
        "base_url": "http://127.0.0.1:8001/v1",
        "model": "m",
        "api_key_env": "LOCAL_TEACHER_KEY",
    }
    fields.update(overrides)
    return TeacherConfig.model_validate(fields)


def test_api_key_comes_from_the_named_variable() -> None:
    config = openai_config()
    key = resolve_api_key(config, {"LOCAL_TEACHER_KEY": SECRET})
    assert key is not None
    assert key.get_secret_value() == SECRET
    assert SECRET not in repr(key)
    assert SECRET not in str(key)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert resolve_api_key(openai_config(api_key_env=None), {"LOCAL_TEACHER_KEY": SECRET}) is None


def test_unset_api_key_variable_is_a_clear_error() -> None:
    with pytest.raises(TeacherConfigError, match="LOCAL_TEACHER_KEY"):
        resolve_api_key(openai_config(), {})
    with pytest.raises(TeacherConfigError, match="LOCAL_TEACHER_KEY"):
        resolve_api_key(openai_config(), {"LOCAL_TEACHER_KEY": "  "})


def test_built_teacher_never_shows_its_key() -> None:
    from gen_service.worker.teachers import OpenAITeacher, build_teacher

    teacher = build_teacher(
        openai_config(), behaviours={}, scenarios={}, environ={"LOCAL_TEACHER_KEY": SECRET}
    )
    try:
        assert isinstance(teacher, OpenAITeacher)
        assert teacher.name == "local"
        for text in (repr(teacher), str(teacher), repr(vars(teacher))):
            assert SECRET not in text
        assert "api_key=set" in repr(teacher)
    finally:
        asyncio.run(teacher.aclose())


def test_build_teacher_scripted() -> None:
    from gen_service.worker.teachers import ScriptedTeacher, build_teacher

    teacher = build_teacher(BUILTIN_SCRIPTED, behaviours={}, scenarios={}, environ={})
    assert isinstance(teacher, ScriptedTeacher)
    assert teacher.name == "scripted"


# --- Retry-After --------------------------------------------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("0", 0.0),
        ("3", 3.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("120", 60.0),  # clamped to max_wait_s
        ("86400", 60.0),  # a day: still plausible, clamped
        ("86401", None),  # absurd: back to the backoff
        ("99999999999999999999", None),
        ("-1", None),
        ("-0.5", None),
        ("soon", None),
        ("", None),
        ("inf", None),
        ("nan", None),
        ("1e3", None),
        ("0x10", None),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW + timedelta(seconds=600), usegmt=True), 60.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),  # in the past: go now
        (format_datetime(NOW + timedelta(days=2), usegmt=True), None),
        ("Wed, 01 Jan 2025 12:00:10 -0000", 10.0),
        ("Wed, 32 Foo 2025 99:00:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    from gen_service.worker.teachers import parse_retry_after

    assert parse_retry_after(header, max_wait_s=60.0, now=NOW) == expected


def test_parse_retry_after_zero_cap() -> None:
    from gen_service.worker.teachers import parse_retry_after

    assert parse_retry_after("5", max_wait_s=0.0, now=NOW) == 0.0
