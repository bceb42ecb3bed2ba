"""The `tracegen` command line.

Subcommands live in their own modules and are imported lazily, so `tracegen gate` does not pay for
FastAPI and SQLAlchemy imports, and a broken optional piece cannot stop the others from running.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute" of a click command or group
_COMMANDS: dict[str, str] = {
    "generate": "gen_service.commands.generate:generate",
    "serve": "gen_service.commands.serve:serve",
    "worker": "gen_service.commands.worker:worker",
    "export": "gen_service.commands.admin:export",
    "regate": "gen_service.commands.admin:regate",
    "migrate": "gen_service.commands.admin:migrate",
    "jobs": "gen_service.commands.admin:jobs",
    "gate": "gen_service.gate_command:gate",
    "scenarios": "gen_service.scenario_bank:scenarios",
    "teacher-stub": "gen_service.teacher_stub:teacher_stub",
    "corpus": "trainer.cli:corpus",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: Any = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="tracegen")
def main() -> None:
    """tracegen: generate synthetic agentic-coding traces, one behaviour at a time."""
