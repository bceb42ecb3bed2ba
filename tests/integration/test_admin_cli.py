"""Admin commands (`jobs`, `export`, `regate`, `migrate`) on a real database, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from gen_service.cli import main
from gen_service.store.engine import create_engine
from gen_service.store.migrate import alembic_config


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    code, output = invoke(
        "generate",
        "--db",
        url,
        "--name",
        "adm",
        "--target",
        "2",
        "--behaviours",
        "survey_before_edit,tool_intent_first",
    )
    assert code == 0, output
    return url


def test_jobs_commands(demo_db: str) -> None:
    code, output = invoke("jobs", "list", "--db", demo_db)
    assert code == 0
    assert "adm" in output and "completed" in output and "4/4" in output
    code, output = invoke("jobs", "show", "adm", "--db", demo_db)
    assert "survey_before_edit" in output and "2/2" in output
    assert "paused" not in invoke("jobs", "pause", "adm", "--db", demo_db)[1], (
        "a completed job stays completed"
    )
    code, output = invoke("jobs", "cancel", "adm", "--db", demo_db)
    assert "cancelled" in output
    code, output = invoke("jobs", "resume", "adm", "--db", demo_db)
    assert code == 1 and "cancelled" in output
    code, output = invoke("jobs", "show", "nope", "--db", demo_db)
    assert code == 1 and "no job 'nope'" in output


def test_export_and_regate_commands(demo_db: str, tmp_path: Path) -> None:
    code, output = invoke(
        "export", "--job", "adm", "--db", demo_db, "--out", str(tmp_path / "x"), "--shard-size", "1"
    )
    assert code == 0, output
    assert len(list((tmp_path / "x").glob("shard-*.jsonl"))) == 4
    code, output = invoke("regate", "--job", "adm", "--db", demo_db)
    assert code == 0
    assert "no change" in output


def test_migrate_is_idempotent_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert invoke("migrate", "--db", url)[0] == 0
    assert invoke("migrate", "--db", url)[0] == 0
    from alembic import command

    config = alembic_config()
    import asyncio

    async def tables_after_downgrade() -> set[str]:
        engine = create_engine(url)
        async with engine.begin() as conn:

            def down(sync_conn):  # type: ignore[no-untyped-def]
                config.attributes["connection"] = sync_conn
                command.downgrade(config, "base")
                return set(inspect(sync_conn).get_table_names())

            tables = await conn.run_sync(down)
        await engine.dispose()
        return tables

    assert asyncio.run(tables_after_downgrade()) <= {"alembic_version"}
    assert invoke("migrate", "--db", url)[0] == 0


def test_admin_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    code, output = invoke("jobs", "list", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 1
    assert "tracegen migrate" in output


def test_targets_budget_and_drain_commands(demo_db: str) -> None:
    code, output = invoke("jobs", "targets", "adm", "survey_before_edit=5", "--db", demo_db)
    assert code == 0, output
    assert "4/7 accepted, running" in output
    code, output = invoke("jobs", "budget", "adm", "--tokens", "1", "--db", demo_db)
    assert "exhausted" in output
    assert "open" in invoke("jobs", "budget", "adm", "--db", demo_db)[1]
    assert "paused" in invoke("jobs", "drain", "adm", "--db", demo_db)[1], (
        "nothing in flight: drained at once"
    )
    code, output = invoke("jobs", "targets", "adm", "survey_before_edit", "--db", demo_db)
    assert code == 2 and "expected behaviour=N" in output
    code, output = invoke("jobs", "targets", "adm", "nope=3", "--db", demo_db)
    assert code == 1 and "unknown behaviours: nope" in output
