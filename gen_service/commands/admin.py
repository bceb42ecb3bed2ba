"""Admin commands on the database named by --db / DATABASE_URL: jobs, export, regate, migrate."""

from __future__ import annotations

from pathlib import Path

import click

from gen_service.commands.common import (
    build_settings,
    db_option,
    load_resources_or_fail,
    open_engine,
    resolve_job,
    run_async,
)
from gen_service.export import DEFAULT_SHARD_SIZE, export_job
from gen_service.regate import regate_job
from gen_service.serialization import dumps_str
from gen_service.service import CoordinatorService
from gen_service.store.engine import create_engine
from gen_service.store.migrate import upgrade_to_head


@click.command()
@db_option
def migrate(database_url: str | None) -> None:
    """Create or upgrade the database schema (Alembic, to the newest revision)."""
    settings = build_settings(database_url=database_url)

    async def main() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    run_async(main)
    click.echo("database schema is current")


@click.command()
@db_option
@click.option("--job", "job", default="demo", show_default=True, help="Job name or id.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--shard-size", type=click.IntRange(min=1), default=DEFAULT_SHARD_SIZE, show_default=True)
def export(database_url: str | None, job: str, out: Path | None, shard_size: int) -> None:
    """Write the job's corpus: JSONL shards, manifest.json and DROP_REPORT.md."""
    settings = build_settings(database_url=database_url)
    resources = load_resources_or_fail(settings)

    async def main() -> None:
        async with open_engine(settings, migrate=False) as engine:
            service = CoordinatorService(engine, resources)
            job_id = await resolve_job(service, job)
            view = await service.get_job(job_id)
            summary = await export_job(
                engine, job_id, out or Path("tracegen-out") / view.name, shard_size=shard_size
            )
        click.echo(summary.report.rstrip())
        click.echo(f"exported {summary.kept} samples to {summary.out_dir}")

    run_async(main)


@click.command()
@db_option
@click.option("--job", "job", default="demo", show_default=True, help="Job name or id.")
@click.option("--apply", is_flag=True, help="Move samples and fix counters (default: report only).")
def regate(database_url: str | None, job: str, apply: bool) -> None:
    """Re-run the current gates over stored teacher outputs (no teacher calls)."""
    settings = build_settings(database_url=database_url)
    resources = load_resources_or_fail(settings)

    async def main() -> None:
        async with open_engine(settings, migrate=False) as engine:
            job_id = await resolve_job(CoordinatorService(engine, resources), job)
            report = await regate_job(engine, resources, job_id, apply=apply)
        click.echo(report.render())

    run_async(main)


@click.group()
def jobs() -> None:
    """List, inspect and control jobs."""


def _job_command(action: str, help_text: str) -> click.Command:
    @click.command(name=action, help=help_text)
    @db_option
    @click.argument("job")
    def command(database_url: str | None, job: str) -> None:
        settings = build_settings(database_url=database_url)
        resources = load_resources_or_fail(settings)

        async def main() -> None:
            async with open_engine(settings, migrate=False) as engine:
                service = CoordinatorService(engine, resources)
                view = await service.set_status(await resolve_job(service, job), action)
            click.echo(f"job {view.name!r} ({view.id}): {view.status}")

        run_async(main)

    return command


jobs.add_command(_job_command("pause", "Stop issuing leases; in-flight leases may still finish."))
jobs.add_command(_job_command("drain", "Stop issuing leases; becomes paused once nothing is in flight."))
jobs.add_command(_job_command("resume", "Issue leases again."))
jobs.add_command(_job_command("cancel", "Stop the job for good; late results are stale."))


@jobs.command(name="list")
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_jobs(database_url: str | None, as_json: bool) -> None:
    """One line per job."""
    settings = build_settings(database_url=database_url)
    resources = load_resources_or_fail(settings)

    async def main() -> None:
        async with open_engine(settings, migrate=False) as engine:
            views = await CoordinatorService(engine, resources).list_jobs()
        for v in views:
            if as_json:
                click.echo(
                    dumps_str(
                        {
                            "id": v.id,
                            "name": v.name,
                            "status": v.status,
                            "teacher": v.teacher,
                            "accepted": v.accepted,
                            "target": v.target,
                            "in_flight": v.in_flight,
                        }
                    )
                )
            else:
                click.echo(
                    f"{v.id:>4}  {v.name:<24} {v.status:<10} {v.accepted:>7}/{v.target:<7} "
                    f"teacher {v.teacher}"
                )
        if not views and not as_json:
            click.echo("no jobs")

    run_async(main)


@jobs.command(name="show")
@db_option
@click.argument("job")
def show_job(database_url: str | None, job: str) -> None:
    """Progress per behaviour."""
    settings = build_settings(database_url=database_url)
    resources = load_resources_or_fail(settings)

    async def main() -> None:
        async with open_engine(settings, migrate=False) as engine:
            service = CoordinatorService(engine, resources)
            job_id = await resolve_job(service, job)
            view = await service.get_job(job_id)
            rows = await service.progress(job_id)
        click.echo(
            f"job {view.name!r} ({view.id}) {view.status}, teacher {view.teacher}, "
            f"{view.accepted}/{view.target} accepted, {view.in_flight} in flight"
        )
        for r in rows:
            click.echo(
                f"  {r.layer:<16} {r.behaviour:<32} {r.accepted:>6}/{r.target:<6} "
                f"surplus {r.surplus:<4} rejected {r.rejected:<5} in flight {r.in_flight:<4} "
                f"pass {r.pass_rate:.2f}"
            )

    run_async(main)


@jobs.command(name="targets")
@db_option
@click.argument("job")
@click.argument("assignments", nargs=-1, required=True)
def set_targets(database_url: str | None, job: str, assignments: tuple[str, ...]) -> None:
    """Change targets while running: `tracegen jobs targets demo survey_before_edit=10 ...`
    (`all=N` sets every behaviour). Lowering below accepted moves the excess to surplus."""
    settings = build_settings(database_url=database_url)
    resources = load_resources_or_fail(settings)
    targets: dict[str, int] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not value.strip().isdigit():
            raise click.UsageError(f"expected behaviour=N, got {assignment!r}")
        if name == "all":
            targets.update(dict.fromkeys(resources.behaviours, int(value)))
        else:
            targets[name] = int(value)

    async def main() -> None:
        async with open_engine(settings, migrate=False) as engine:
            service = CoordinatorService(engine, resources)
            view = await service.set_targets(await resolve_job(service, job), targets)
        click.echo(f"job {view.name!r}: {view.accepted}/{view.target} accepted, {view.status}")

    run_async(main)


@jobs.command(name="budget")
@db_option
@click.argument("job")
@click.option("--tokens", type=click.IntRange(min=1), default=None, help="Prompt + completion token budget.")
@click.option("--cost", type=click.FloatRange(min=0, min_open=True), default=None, help="Cost budget.")
def set_budget(database_url: str | None, job: str, tokens: int | None, cost: float | None) -> None:
    """Set (or, with neither option, remove) the job's token and cost budgets."""
    settings = build_settings(database_url=database_url)
    resources = load_resources_or_fail(settings)

    async def main() -> None:
        async with open_engine(settings, migrate=False) as engine:
            service = CoordinatorService(engine, resources)
            view = await service.set_budget(
                await resolve_job(service, job), token_budget=tokens, cost_budget=cost
            )
        state = "exhausted" if view.budget_exhausted else "open"
        click.echo(
            f"job {view.name!r}: token budget {view.token_budget}, cost budget {view.cost_budget} ({state})"
        )

    run_async(main)
