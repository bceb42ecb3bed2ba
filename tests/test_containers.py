"""Dockerfile, docker-compose.yml and .dockerignore, checked without a Docker engine.

There is no Docker daemon where the suite runs, so the container files are parsed (PyYAML for compose, a
small line parser for the Dockerfile) and checked against the code itself:

- every command a container runs is a real `tracegen` subcommand, parsed by that subcommand's own click
  object (so unknown flags and out-of-range values fail as they would at start-up);
- every environment variable a service sets is read by what runs there: a `Settings` field (prefix
  `TRACEGEN_`, or `DATABASE_URL`), an option's `envvar`, a teacher's `api_key_env`, or a variable the
  third-party image documents; values are validated by `Settings` itself; workers get no database URL;
- every `depends_on` names a service with a valid condition the target can meet; ports, URLs, the
  database URL and the teachers file line up with the services that serve them;
- long-running services have health checks and restart policies; the worker scales and drains;
- the Dockerfile is multi-stage, non-root, installs no dev/trainer extras, and copies what the wheel needs.

The checkers return lists of problems; the tests assert that the real files have none, and that
deliberately broken copies are caught with a message naming the problem.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import click
import pytest
import yaml
from pydantic import AliasChoices, ValidationError

from gen_service.api.auth import Role, is_loopback
from gen_service.cli import main as tracegen_cli
from gen_service.commands.common import token_registry
from gen_service.settings import Settings
from gen_service.teachers import TeacherKind, load_teachers

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

# Environment variables that third-party images document (and nothing else may be set on them).
THIRD_PARTY_ENV: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        {
            "POSTGRES_PASSWORD",
            "POSTGRES_USER",
            "POSTGRES_DB",
            "POSTGRES_INITDB_ARGS",
            "POSTGRES_INITDB_WALDIR",
            "POSTGRES_HOST_AUTH_METHOD",
            "PGDATA",
        }
    ),
    "redis": frozenset(),
}
POSTGRES_PORT = 5432
REDIS_PORT = 6379
# Host variables `docker compose up` must be given (`${VAR:?...}`): secrets, never defaulted in the file.
REQUIRED_HOST_VARIABLES = frozenset({"ADMIN_TOKEN", "WORKER_TOKEN"})
# What the tests pass for them (and what an operator's .env holds).
TEST_HOST_ENV = {
    "ADMIN_TOKEN": "admin-secret-0123456789abcdef",
    "WORKER_TOKEN": "worker-secret-0123456789abcdef",
}
# Subcommands that serve the API and so hold the bearer-token settings; nothing else may get them.
TOKEN_HOLDERS = frozenset({"serve", "generate"})
# The module whose routes a role's health check must ask for.
ROUTES_MODULE = {"serve": "gen_service.api.app", "teacher-stub": "gen_service.teacher_stub"}
# Subcommands that do their work and exit; everything else a container runs is long-running.
ONE_SHOT_COMMANDS = frozenset({"migrate", "export", "regate", "jobs", "gate", "scenarios", "corpus"})
# Subcommands that call teachers themselves, so they may receive the keys teachers name in api_key_env.
TEACHER_CALLERS = frozenset({"worker", "generate"})
DEPENDS_CONDITIONS = frozenset({"service_started", "service_healthy", "service_completed_successfully"})
# The runtime image is python:*-slim: no curl, no wget. Health checks use Python's urllib.
IMAGE_EXECUTABLES = frozenset({"python", "python3", "tracegen"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# --------------------------------------------------------------------------------------------------
# Parsing: compose interpolation, the Dockerfile, .dockerignore
# --------------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: Any, host_env: Mapping[str, str]) -> Any:
    """Compose's variable substitution over a whole document: `${VAR}`, `${VAR:-default}`, `${VAR-d}`,
    `${VAR:?err}`, `$VAR`, `$$`. A required variable that is unset becomes `<VAR>`."""
    if isinstance(value, dict):
        return {key: interpolate(item, host_env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, host_env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = host_env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in {":?", "?"}:
            return current if current else f"<{name}>"
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def load_compose(path: Path = COMPOSE_FILE, host_env: Mapping[str, str] | None = None) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))  # SafeLoader resolves anchors and `<<`
    assert isinstance(document, dict), f"{path}: not a YAML mapping"
    result = interpolate(document, TEST_HOST_ENV if host_env is None else host_env)
    assert isinstance(result, dict)
    return result


def required_host_variables(text: str) -> set[str]:
    """Variables the compose file requires from the host (`${VAR:?err}` / `${VAR?err}`), outside comments."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return {m.group("braced") for m in _INTERPOLATION.finditer(text) if (m.group("op") or "").endswith("?")}


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by stage. Handles comments, parser directives, `\\` continuations (comment
    lines inside a continuation are dropped, as BuildKit does). No heredocs, no escape directive."""
    stages: list[Stage] = []
    logical: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        logical.append((start, " ".join(part for part in buffer if part)))
        buffer = []
    if buffer:
        logical.append((start, " ".join(buffer)))
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, line=number))
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"line {number}: {keyword} before the first FROM")
        else:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    return stages


def exec_form(args: str) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, or None for shell form."""
    if not args.startswith("["):
        return None
    value = json.loads(args)
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise ValueError(f"not a JSON array of strings: {args}")
    return value


def env_pairs(args: str) -> dict[str, str]:
    """ENV key=value pairs (the legacy `ENV key value` form too)."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """COPY/ADD: (flags, sources, destination)."""
    words = exec_form(args) if args.startswith("[") else shlex.split(args)
    assert words is not None
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1]


@dataclass(frozen=True)
class Image:
    """What the runtime stage of the Dockerfile gives every container that does not override it."""

    entrypoint: list[str] | None
    cmd: list[str] | None
    healthcheck: list[str] | None  # the CMD's argv; None when there is none or HEALTHCHECK NONE
    exposed: frozenset[int]


def image_of(stages: list[Stage]) -> Image:
    final = stages[-1]
    entrypoint = final.last("ENTRYPOINT")
    cmd = final.last("CMD")
    health = final.last("HEALTHCHECK")
    health_argv: list[str] | None = None
    if health is not None and health.args.upper() != "NONE":
        words = health.args
        while words.startswith("--"):
            words = words.split(" ", 1)[1].lstrip()
        assert words.upper().startswith("CMD "), f"HEALTHCHECK without CMD: {health.args}"
        rest = words[4:].strip()
        health_argv = exec_form(rest) or ["/bin/sh", "-c", rest]
    exposed = frozenset(
        int(port.split("/")[0]) for instruction in final.all("EXPOSE") for port in instruction.args.split()
    )
    return Image(
        entrypoint=exec_form(entrypoint.args) if entrypoint else None,
        cmd=exec_form(cmd.args) if cmd else None,
        healthcheck=health_argv,
        exposed=exposed,
    )


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(patterns_text: str) -> Callable[[str], bool]:
    """Docker's .dockerignore semantics (the last matching pattern wins, `!` re-includes, a pattern that
    matches a folder matches everything below it, `**` spans folders). Returns `excluded(path)`."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in patterns_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = os.path.normpath(pattern.strip("/")).replace(os.sep, "/")
        rules.append((negated, _glob_regex(pattern)))

    def excluded(path: str) -> bool:
        parts = path.strip("/").split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negated, regex in rules:
            if any(regex.match(candidate) for candidate in candidates):
                result = not negated
        return result

    return excluded


def duration_s(value: Any) -> float:
    """A compose duration ("45s", "1m30s", "500ms") in seconds."""
    total = 0.0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    matches = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    if not matches or "".join(n + u for n, u in matches) != str(value):
        raise ValueError(f"not a compose duration: {value!r}")
    for number, unit in matches:
        total += float(number) * units[unit]
    return total


# --------------------------------------------------------------------------------------------------
# What the code accepts: commands, flags, settings
# --------------------------------------------------------------------------------------------------


def tracegen_command(name: str) -> click.Command | None:
    return tracegen_cli.get_command(click.Context(tracegen_cli), name)


def option_flags(command: click.Command) -> set[str]:
    flags: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            flags.update(param.opts)
            flags.update(param.secondary_opts)
    return flags | {"--help"}


def option_envvars(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        if isinstance(envvar, str):
            names.add(envvar)
        elif isinstance(envvar, (list, tuple)):
            names.update(envvar)
    return names


def settings_env_names() -> dict[str, str]:
    """Environment variable -> Settings field, as pydantic-settings reads them."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: dict[str, str] = {}
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str) and choice.isupper():
                    names[choice] = field_name
        elif isinstance(alias, str):
            names[alias.upper()] = field_name
        else:
            names[f"{prefix}{field_name}".upper()] = field_name
    return names


def database_env_names() -> set[str]:
    return {name for name, field_name in settings_env_names().items() if field_name == "database_url"}


def token_env_names() -> set[str]:
    """The secret settings (SecretStr fields: the bearer-token lists)."""
    secret = {name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)}
    return {name for name, field_name in settings_env_names().items() if field_name in secret}


def settings_for(service: Service) -> Settings:
    """The Settings the service's process builds from its environment (raises on invalid values)."""
    names = settings_env_names()
    with only_env({k: v for k, v in service.env.items() if k in names}):
        return Settings()


def reads_settings(command: click.Command) -> bool:
    """Whether the command builds `Settings` (so `TRACEGEN_*` variables reach it)."""
    assert command.callback is not None
    module = inspect.getmodule(command.callback)
    assert module is not None
    source = inspect.getsource(module)
    return "build_settings(" in source or "Settings(" in source


@contextmanager
def only_env(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ holds exactly `env` (plus PATH) inside the block."""
    with mock.patch.dict(os.environ, {"PATH": os.environ.get("PATH", ""), **env}, clear=True):
        yield


# --------------------------------------------------------------------------------------------------
# The stack as the checkers see it
# --------------------------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    raw: dict[str, Any]
    env: dict[str, str]
    is_tracegen: bool
    argv: list[str] | None = None  # tracegen services: entrypoint + command
    subcommand: str | None = None
    command: click.Command | None = None
    params: dict[str, Any] = field(default_factory=dict)  # as click parsed them (defaults, env included)
    parsed: bool = False  # the command line parsed: params are what the process would get

    @property
    def image_name(self) -> str:
        image = str(self.raw.get("image", ""))
        return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]

    @property
    def restart(self) -> Any:
        return self.raw.get("restart", "no")

    @property
    def one_shot(self) -> bool:
        if self.is_tracegen:
            return self.subcommand in ONE_SHOT_COMMANDS
        return self.restart == "no"

    @property
    def listen_port(self) -> int | None:
        if self.parsed and self.subcommand in {"serve", "teacher-stub"}:
            port = self.params.get("port")
            return int(port) if port is not None else None
        return None


def service_env(raw: Mapping[str, Any]) -> dict[str, str]:
    environment = raw.get("environment") or {}
    if isinstance(environment, list):
        pairs = [str(item).split("=", 1) for item in environment]
        return {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}


def as_argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def build_services(compose: Mapping[str, Any], image: Image, problems: list[str]) -> dict[str, Service]:
    services: dict[str, Service] = {}
    for name, raw in (compose.get("services") or {}).items():
        raw = raw or {}
        is_tracegen = "build" in raw or str(raw.get("image", "")).startswith("tracegen")
        service = Service(name=name, raw=raw, env=service_env(raw), is_tracegen=is_tracegen)
        services[name] = service
        if not is_tracegen:
            continue
        entrypoint = as_argv(raw.get("entrypoint"))
        command = as_argv(raw.get("command"))
        if entrypoint is not None:  # compose: an entrypoint override also drops the image's CMD
            argv = entrypoint + (command or [])
        else:
            argv = (image.entrypoint or []) + (command if command is not None else image.cmd or [])
        service.argv = argv
        problems.extend(f"service {name!r}: {p}" for p in check_argv(argv, service.env, service))
    return services


def check_argv(argv: list[str], env: Mapping[str, str], into: Service | None = None) -> list[str]:
    """`argv` must run a real tracegen subcommand with flags and values it accepts (with `env` as the
    environment, so options' envvars count). Fills `into` with the parsed command."""
    if not argv or Path(argv[0]).name != "tracegen":
        return [f"runs {argv!r}, not `tracegen <subcommand>` (the image's entrypoint is tracegen)"]
    if len(argv) < 2 or argv[1].startswith("-"):
        return [f"runs {shlex.join(argv)!r}: no tracegen subcommand"]
    name, args = argv[1], argv[2:]
    command = tracegen_command(name)
    if command is None:
        known = ", ".join(tracegen_cli.list_commands(click.Context(tracegen_cli)))
        return [f"`tracegen {name}` is not a tracegen command (known: {known})"]
    if into is not None:
        into.subcommand, into.command = name, command
    accepted = option_flags(command)
    unknown = [a.split("=", 1)[0] for a in args if a.startswith("--") and a.split("=", 1)[0] not in accepted]
    if unknown:
        return [
            f"`tracegen {name}` has no option {', '.join(unknown)} (accepted: {', '.join(sorted(accepted))})"
        ]
    with only_env(env):
        try:
            context = command.make_context(f"tracegen {name}", list(args))
        except click.ClickException as exc:
            return [f"`{shlex.join(argv)}` is rejected by click: {exc.format_message()}"]
    if into is not None:
        into.params, into.parsed = dict(context.params), True
    return []


def healthcheck_argv(service: Service, image: Image) -> list[str] | None:
    """The health check a service runs (compose's, else the image's for tracegen services); None if
    it has none or it is disabled."""
    health = service.raw.get("healthcheck")
    if isinstance(health, dict):
        if health.get("disable"):
            return None
        test = health.get("test")
        if test is not None:
            if isinstance(test, str):
                return ["CMD-SHELL", test]
            argv = [str(item) for item in test]
            return None if argv[:1] == ["NONE"] else argv
    if service.is_tracegen and image.healthcheck is not None:
        return ["CMD", *image.healthcheck]
    return None


def volume_binds(service: Service) -> dict[str, str]:
    """container path -> host path (relative to the compose file) of bind mounts."""
    binds: dict[str, str] = {}
    for volume in service.raw.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
                binds[parts[1]] = parts[0]
        elif isinstance(volume, dict) and volume.get("type") == "bind":
            binds[str(volume["target"])] = str(volume["source"])
    return binds


def published_ports(service: Service) -> list[tuple[int | None, int]]:
    """(host port or None, container port) of `ports`."""
    result: list[tuple[int | None, int]] = []
    for entry in service.raw.get("ports") or []:
        if isinstance(entry, dict):
            host = entry.get("published")
            result.append((int(host) if host else None, int(entry["target"])))
            continue
        spec = str(entry).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            result.append((None, int(parts[0])))
        else:
            result.append((int(parts[-2]) if parts[-2] else None, int(parts[-1])))
    return result


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------


def check_environment(services: Mapping[str, Service], teachers_keys: Mapping[str, set[str]]) -> list[str]:
    problems: list[str] = []
    settings_names = settings_env_names()
    database_names = database_env_names()
    token_names = token_env_names()
    for service in services.values():
        if not service.is_tracegen:
            allowed = THIRD_PARTY_ENV.get(service.image_name)
            if allowed is None:
                problems.append(
                    f"service {service.name!r}: image {service.image_name!r} has no documented environment "
                    "in this test (add it to THIRD_PARTY_ENV)"
                )
                continue
            for key in sorted(set(service.env) - allowed):
                problems.append(
                    f"service {service.name!r}: {key} is not a variable the {service.image_name} image reads"
                )
            continue
        if service.command is None:
            continue  # its command is already reported
        command = service.command
        click_names = option_envvars(command)
        setting_names = set(settings_names) if reads_settings(command) else set()
        key_names = teachers_keys.get(service.name, set()) if service.subcommand in TEACHER_CALLERS else set()
        for key in sorted(service.env):
            if key in database_names and "DATABASE_URL" not in click_names:
                problems.append(
                    f"service {service.name!r} (`tracegen {service.subcommand}`) gets {key}: only commands "
                    "with --db hold database credentials; workers never do"
                )
            elif key in token_names and service.subcommand not in TOKEN_HOLDERS:
                problems.append(
                    f"service {service.name!r} (`tracegen {service.subcommand}`) gets {key}: only the "
                    "coordinator holds the token list (a worker gets its own token, TRACEGEN_TOKEN)"
                )
            elif key not in click_names | setting_names | key_names:
                problems.append(
                    f"service {service.name!r}: {key} is not read by `tracegen {service.subcommand}` "
                    "(not a Settings field, an option envvar or a teacher's api_key_env)"
                )
        if setting_names and set(service.env) & setting_names:
            try:
                settings_for(service)
            except (ValidationError, ValueError) as exc:
                problems.append(f"service {service.name!r}: Settings rejects its environment: {exc}")
    return problems


def check_commands_and_roles(services: Mapping[str, Service]) -> list[str]:
    problems: list[str] = []
    for service in services.values():
        if service.is_tracegen and service.argv and service.argv[1:2] and service.argv[1] == "generate":
            problems.append(
                f"service {service.name!r}: `tracegen generate` is the embedded mode, not a container role"
            )
        if service.listen_port is not None:
            host = str(service.params.get("host"))
            dependants = [
                s.name for s in services.values() if service.name in (s.raw.get("depends_on") or {})
            ]
            if host in LOOPBACK_HOSTS and dependants:
                problems.append(
                    f"service {service.name!r} listens on {host}: unreachable for {', '.join(dependants)}"
                )
    return problems


def check_dependencies(services: Mapping[str, Service], image: Image) -> list[str]:
    problems: list[str] = []
    graph: dict[str, dict[str, str]] = {}
    for service in services.values():
        raw = service.raw.get("depends_on") or {}
        deps = {str(d): "service_started" for d in raw} if isinstance(raw, list) else {}
        if isinstance(raw, dict):
            for target, spec in raw.items():
                deps[str(target)] = str((spec or {}).get("condition", "service_started"))
        graph[service.name] = deps
        for target, condition in deps.items():
            where = f"service {service.name!r} depends_on {target!r}"
            if target not in services:
                problems.append(f"{where}: no such service")
                continue
            if condition not in DEPENDS_CONDITIONS:
                problems.append(f"{where}: unknown condition {condition!r}")
            elif condition == "service_healthy" and healthcheck_argv(services[target], image) is None:
                problems.append(f"{where}: service_healthy, but {target!r} has no health check")
            elif condition == "service_completed_successfully" and not services[target].one_shot:
                problems.append(f"{where}: service_completed_successfully, but {target!r} never exits")

    cycles: set[frozenset[str]] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :]
            if frozenset(cycle) not in cycles:
                cycles.add(frozenset(cycle))
                problems.append(f"depends_on cycle: {' -> '.join([*cycle, name])}")
            return
        for target in graph.get(name, {}):
            visit(target, [*path, name])

    for name in graph:
        visit(name, [])

    def needs(who: Service, target: str, condition: str, why: str) -> None:
        if graph.get(who.name, {}).get(target) != condition:
            problems.append(f"service {who.name!r} must depend_on {target!r} with {condition} ({why})")

    postgres = [s for s in services.values() if s.image_name == "postgres"]
    redis = [s for s in services.values() if s.image_name == "redis"]
    migrators = [s for s in services.values() if s.subcommand == "migrate"]
    for service in services.values():
        if service.subcommand == "migrate":
            for db in postgres:
                needs(
                    service, db.name, "service_healthy", "migrations need a database that accepts connections"
                )
        if service.subcommand == "serve":
            if service.params.get("no_migrate"):
                if not migrators:
                    problems.append(
                        f"service {service.name!r} runs with --no-migrate but no service migrates"
                    )
                for migrator in migrators:
                    needs(service, migrator.name, "service_completed_successfully", "schema first")
            for cache in redis:
                needs(service, cache.name, "service_healthy", "Redis-backed limiter and events")
        if service.subcommand == "worker":
            host = urlsplit(str(service.params.get("coordinator"))).hostname
            if host in services:
                needs(service, host, "service_healthy", "workers start once the coordinator answers")
    return problems


def serves_route(module_name: str, path: str) -> bool:
    """Whether the module declares a route for `path` (FastAPI decorators or Starlette `Route`s)."""
    source = inspect.getsource(importlib.import_module(module_name))
    return f'"{path}"' in source and bool(re.search(rf'(\.get\(|Route\()\s*"{re.escape(path)}"', source))


def check_health_and_restart(services: Mapping[str, Service], image: Image) -> list[str]:
    problems: list[str] = []
    for service in services.values():
        restart = service.restart
        if not isinstance(restart, str):
            problems.append(
                f'service {service.name!r}: restart must be a string (quote "no"), got {restart!r}'
            )
            continue
        health = healthcheck_argv(service, image)
        if service.one_shot:
            if restart not in {"no"} and not restart.startswith("on-failure"):
                problems.append(f"service {service.name!r} is one-shot: restart {restart!r} would loop it")
            continue
        if restart not in {"always", "unless-stopped"} and not restart.startswith("on-failure"):
            problems.append(f"service {service.name!r} is long-running but has restart {restart!r}")
        if health is None:
            problems.append(f"service {service.name!r} is long-running but has no health check")
            continue
        if health[0] not in {"CMD", "CMD-SHELL"}:
            problems.append(f"service {service.name!r}: health check test must start with CMD or CMD-SHELL")
            continue
        if not service.is_tracegen or not service.parsed:
            continue
        executable = Path(health[1]).name if health[0] == "CMD" else shlex.split(health[1])[0]
        if executable not in IMAGE_EXECUTABLES:
            problems.append(
                f"service {service.name!r}: health check runs {executable!r}, which the slim image lacks "
                "(use python -c with urllib)"
            )
        text = " ".join(health[1:])
        for variable in re.findall(r"os\.environ(?:\.get\(|\[)\s*['\"](\w+)['\"]", text):
            if variable not in service.env:
                problems.append(f"service {service.name!r}: health check reads {variable}, which is not set")
        for url in re.findall(r"https?://[^\s'\"]+", text):
            parts = urlsplit(url)
            if parts.hostname in LOOPBACK_HOSTS and parts.port != service.listen_port:
                problems.append(
                    f"service {service.name!r}: health check asks port {parts.port}, "
                    f"but it listens on {service.listen_port}"
                )
            module = ROUTES_MODULE.get(service.subcommand or "")
            if (
                module is not None
                and parts.hostname in LOOPBACK_HOSTS
                and not serves_route(module, parts.path)
            ):
                problems.append(
                    f"service {service.name!r}: health check asks {parts.path}, which {module} does not serve"
                )
    return problems


def check_ports_and_urls(
    services: Mapping[str, Service], image: Image, compose_dir: Path, teachers: Mapping[str, Any]
) -> list[str]:
    problems: list[str] = []
    by_role: dict[str, list[Service]] = {}
    for service in services.values():
        if service.is_tracegen and not service.parsed:
            continue  # its command line is already reported; its ports are unknown
        by_role.setdefault(service.subcommand or service.image_name, []).append(service)
        listening = {service.listen_port} if service.listen_port else set()
        for _, container_port in published_ports(service):
            if service.is_tracegen and container_port not in listening:
                problems.append(
                    f"service {service.name!r} publishes container port {container_port}, "
                    f"but listens on {sorted(listening) or 'nothing'}"
                )
        for exposed in service.raw.get("expose") or []:
            if service.is_tracegen and int(str(exposed).split("/")[0]) not in listening:
                problems.append(
                    f"service {service.name!r} exposes {exposed}, but listens on {sorted(listening)}"
                )
        if service.listen_port is not None and service.listen_port not in image.exposed:
            problems.append(
                f"service {service.name!r} listens on {service.listen_port}, not EXPOSEd in the Dockerfile"
            )

    # workers -> coordinator
    for worker in by_role.get("worker", []):
        url = urlsplit(str(worker.params.get("coordinator")))
        target = services.get(url.hostname or "")
        if target is None or target.subcommand != "serve":
            problems.append(
                f"service {worker.name!r}: coordinator URL {url.geturl()!r} "
                "names no service running `tracegen serve`"
            )
        elif target.parsed and url.port != target.listen_port:
            problems.append(
                f"service {worker.name!r}: coordinator URL port {url.port} but {target.name!r} listens on "
                f"{target.listen_port}"
            )

    # DATABASE_URL -> the postgres service and its credentials
    for service in services.values():
        for key in database_env_names() & set(service.env):
            url = urlsplit(service.env[key])
            target = services.get(url.hostname or "")
            if target is None or target.image_name != "postgres":
                problems.append(
                    f"service {service.name!r}: {key} host {url.hostname!r} is no postgres service"
                )
                continue
            expected = (
                target.env.get("POSTGRES_USER", "postgres"),
                target.env.get("POSTGRES_PASSWORD"),
                target.env.get("POSTGRES_DB", target.env.get("POSTGRES_USER", "postgres")),
                POSTGRES_PORT,
            )
            actual = (url.username, url.password, url.path.lstrip("/"), url.port or POSTGRES_PORT)
            if actual != expected:
                problems.append(
                    f"service {service.name!r}: {key} (user, password, database, port) {actual} does not "
                    f"match service {target.name!r} {expected}"
                )

    # teachers file -> the stub
    for name, configs in teachers.items():
        for teacher in configs.values():
            if teacher.kind is not TeacherKind.OPENAI or teacher.base_url is None:
                continue
            url = urlsplit(teacher.base_url)
            target = services.get(url.hostname or "")
            if target is not None and target.is_tracegen and not target.parsed:
                continue
            if target is None:
                if url.hostname in LOOPBACK_HOSTS:
                    problems.append(
                        f"service {name!r}: teacher {teacher.name!r} at {teacher.base_url} "
                        "is the container itself"
                    )
                continue  # an external teacher
            if target.listen_port is None or url.port != target.listen_port:
                problems.append(
                    f"service {name!r}: teacher {teacher.name!r} at {teacher.base_url}, but {target.name!r} "
                    f"listens on {target.listen_port}"
                )
    return problems


def resolve_teachers(
    services: Mapping[str, Service], compose_dir: Path, problems: list[str]
) -> tuple[dict[str, Any], dict[str, set[str]], dict[str, Path]]:
    """Each service's teachers (by the file its settings name, found through its bind mounts), the
    api_key_env names they use, and the host file."""
    teachers: dict[str, Any] = {}
    keys: dict[str, set[str]] = {}
    files: dict[str, Path] = {}
    for service in services.values():
        if service.command is None or "--teachers" not in option_flags(service.command):
            continue
        in_container = service.params.get("teachers_file") or service.env.get("TRACEGEN_TEACHERS_FILE")
        if not in_container:
            problems.append(
                f"service {service.name!r}: no teachers file (TRACEGEN_TEACHERS_FILE or --teachers), so only "
                "the built-in scripted teacher exists there"
            )
            continue
        host_path = volume_binds(service).get(str(in_container))
        if host_path is None:
            problems.append(f"service {service.name!r}: teachers file {in_container} is not bind-mounted")
            continue
        path = (compose_dir / host_path).resolve()
        if not path.is_file():
            problems.append(f"service {service.name!r}: teachers file {host_path} does not exist")
            continue
        try:
            configs = load_teachers(path)
        except ValueError as exc:
            problems.append(f"service {service.name!r}: {exc}")
            continue
        teachers[service.name], files[service.name] = configs, path
        keys[service.name] = {c.api_key_env for c in configs.values() if c.api_key_env}
    if len(set(files.values())) > 1:
        problems.append(
            "coordinator and workers must read the same teachers file, "
            f"got {sorted(str(path) for path in set(files.values()))}"
        )
    return teachers, keys, files


def check_tokens_and_redis(services: Mapping[str, Service]) -> list[str]:
    """What `tracegen serve` and `tracegen worker` check at start, and what they need to talk."""
    problems: list[str] = []
    registries: dict[str, Any] = {}
    for service in services.values():
        if service.subcommand != "serve" or not service.parsed:
            continue
        try:
            registry = token_registry(settings_for(service))
        except (ValidationError, ValueError):
            continue  # check_environment reports it
        except click.ClickException as exc:
            problems.append(f"service {service.name!r}: {exc.format_message()}")
            continue
        registries[service.name] = registry
        host = str(service.params.get("host"))
        if not is_loopback(host) and not registry.enabled:
            problems.append(
                f"service {service.name!r}: `tracegen serve` refuses to listen on {host} without tokens "
                "(TRACEGEN_ADMIN_TOKENS, TRACEGEN_WORKER_TOKENS, TRACEGEN_VIEWER_TOKENS)"
            )
        redis_url = settings_for(service).redis_url
        if redis_url:
            url = urlsplit(redis_url)
            target = services.get(url.hostname or "")
            if target is None or target.image_name != "redis" or (url.port or REDIS_PORT) != REDIS_PORT:
                problems.append(
                    f"service {service.name!r}: TRACEGEN_REDIS_URL {redis_url!r} is no redis service"
                )
        elif any(s.image_name == "redis" for s in services.values()):
            problems.append(
                f"service {service.name!r}: a redis service runs but TRACEGEN_REDIS_URL is not set"
            )
    for worker in services.values():
        if worker.subcommand != "worker" or not worker.parsed:
            continue
        target = urlsplit(str(worker.params.get("coordinator"))).hostname or ""
        registry = registries.get(target)
        if registry is None or not registry.enabled:
            continue
        token = worker.params.get("token")
        principal = registry.authenticate(token) if token else None
        if principal is None or principal.role is not Role.WORKER:
            got = "no token" if not token else ("an unknown token" if principal is None else principal.role)
            problems.append(
                f"service {worker.name!r}: {target!r} requires a worker token (TRACEGEN_TOKEN must be one "
                f"of its TRACEGEN_WORKER_TOKENS secrets), got {got}"
            )
    return problems


def check_scaling(services: Mapping[str, Service]) -> list[str]:
    problems: list[str] = []
    workers = [s for s in services.values() if s.subcommand == "worker" and s.parsed]
    for worker in workers:
        replicas = (worker.raw.get("deploy") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 2:
            problems.append(
                f"service {worker.name!r}: deploy.replicas must be an integer >= 2, got {replicas!r}"
            )
        if "container_name" in worker.raw:
            problems.append(f"service {worker.name!r}: container_name prevents scaling")
        if any(host is not None for host, _ in published_ports(worker)):
            problems.append(f"service {worker.name!r}: a fixed host port prevents scaling")
        grace = float(worker.params.get("grace_s") or 0)
        stop = duration_s(worker.raw.get("stop_grace_period", "10s"))
        if stop <= grace:
            problems.append(
                f"service {worker.name!r}: stop_grace_period {stop:g}s must exceed --grace {grace:g}s, "
                "or Docker kills the drain"
            )
    return problems


def check_compose(compose: Mapping[str, Any], image: Image, compose_dir: Path = REPO) -> list[str]:
    problems: list[str] = []
    services = build_services(compose, image, problems)
    for name in services:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            problems.append(f"service name {name!r} is not a valid hostname")
    required_roles = {
        "postgres": any(s.image_name == "postgres" for s in services.values()),
        "redis": any(s.image_name == "redis" for s in services.values()),
        "tracegen migrate": any(s.subcommand == "migrate" for s in services.values()),
        "tracegen serve": any(s.subcommand == "serve" for s in services.values()),
        "tracegen worker": any(s.subcommand == "worker" for s in services.values()),
        "tracegen teacher-stub": any(s.subcommand == "teacher-stub" for s in services.values()),
    }
    problems.extend(f"no service runs `{role}`" for role, present in required_roles.items() if not present)
    teachers, keys, _ = resolve_teachers(services, compose_dir, problems)
    problems += check_environment(services, keys)
    problems += check_commands_and_roles(services)
    problems += check_dependencies(services, image)
    problems += check_health_and_restart(services, image)
    problems += check_ports_and_urls(services, image, compose_dir, teachers)
    problems += check_scaling(services)
    problems += check_tokens_and_redis(services)
    for name, configs in teachers.items():
        stub = configs.get("stub")
        target = services.get(urlsplit(stub.base_url or "").hostname or "") if stub else None
        if target is None or target.subcommand != "teacher-stub":
            problems.append(f"service {name!r}: teacher 'stub' must point at the teacher-stub service")
    return problems


_EXTRAS = re.compile(r"\[[^\]]*\b(dev|trainer)\b[^\]]*\]|optional-dependencies|\btorch\b")


def check_dockerfile(text: str, repo: Path = REPO) -> list[str]:
    problems: list[str] = []
    stages = parse_dockerfile(text)
    if len(stages) < 2:
        return [f"Dockerfile has {len(stages)} stage(s); a builder stage and a runtime stage are required"]
    final = stages[-1]
    names = {s.name for s in stages if s.name}
    if not re.fullmatch(r"python:3\.11-slim(-\w+)?", final.base):
        problems.append(f"runtime stage is FROM {final.base}, not python:3.11-slim")
    copies_from = [copy_parts(i.args) for i in final.all("COPY") if "--from=" in i.args]
    if not copies_from:
        problems.append("runtime stage copies nothing from the builder stage")
    venv_dirs: list[str] = []
    for flags, sources, dest in copies_from:
        source_stage = next((s for s in stages if s.name == flags["from"]), None)
        if flags["from"] not in names or source_stage is None:
            problems.append(f"COPY --from={flags['from']}: no such stage")
        elif source_stage.base != final.base:
            problems.append(
                f"stage {source_stage.name!r} is FROM {source_stage.base} but the runtime is {final.base}: "
                "a copied venv needs the same interpreter"
            )
        venv_dirs += [dest.rstrip("/")] if sources and sources[0].rstrip("/") == dest.rstrip("/") else []
    # Non-root
    user = final.last("USER")
    if user is None:
        problems.append("runtime stage has no USER: it would run as root")
    elif user.args.split(":")[0] in {"root", "0"}:
        problems.append(f"runtime stage runs as {user.args}")
    # Environment
    env: dict[str, str] = {}
    for instruction in final.all("ENV"):
        env.update(env_pairs(instruction.args))
    for key in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        if env.get(key) != "1":
            problems.append(f"runtime stage must set {key}=1")
    if venv_dirs and not any(f"{d}/bin" in env.get("PATH", "") for d in venv_dirs):
        problems.append(f"PATH does not include the venv ({venv_dirs[0]}/bin)")
    # No dev/trainer extras, no editable installs
    for stage in stages:
        for instruction in stage.all("RUN"):
            if _EXTRAS.search(instruction.args):
                problems.append(
                    f"line {instruction.line}: installs dev/trainer extras: {instruction.args[:120]}"
                )
            if re.search(r"pip\b.*\binstall\b.*(\s-e\s|--editable)", instruction.args):
                problems.append(f"line {instruction.line}: editable install in an image")
    # Entrypoint and default command
    image = image_of(stages)
    if image.entrypoint != ["tracegen"]:
        problems.append(f'ENTRYPOINT must be exec-form ["tracegen"], got {image.entrypoint!r}')
    if image.cmd is not None:
        probe = Service(name="Dockerfile CMD", raw={}, env={}, is_tracegen=True)
        problems += [f"CMD: {p}" for p in check_argv(["tracegen", *image.cmd], {}, probe)]
        if probe.listen_port is not None:
            if probe.listen_port not in image.exposed:
                problems.append(f"CMD listens on {probe.listen_port}, which is not EXPOSEd")
            if image.healthcheck is not None:
                for url in re.findall(r"https?://[^\s'\"]+", " ".join(image.healthcheck)):
                    if urlsplit(url).port != probe.listen_port:
                        problems.append(f"HEALTHCHECK asks {url}, but the CMD listens on {probe.listen_port}")
    if image.healthcheck is not None and Path(image.healthcheck[0]).name not in IMAGE_EXECUTABLES:
        problems.append(f"HEALTHCHECK runs {image.healthcheck[0]!r}, which the slim image lacks")
    # The builder copies what the wheel is built from: packages, force-included data, the readme.
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {
        "pyproject.toml",
        str(project["project"]["readme"]),
        *wheel["packages"],
        *wheel["force-include"],
    }
    copied: set[str] = set()
    for stage in stages[:-1]:
        for instruction in stage.all("COPY"):
            flags, sources, _ = copy_parts(instruction.args)
            if "from" not in flags:
                copied.update(s.rstrip("/") for s in sources)
    for missing in sorted(needed - copied):
        problems.append(f"the builder stage does not COPY {missing}, which the wheel is built from")
    return problems


def dockerfile_context_sources(text: str) -> list[str]:
    sources: list[str] = []
    for stage in parse_dockerfile(text):
        for instruction in stage.all("COPY") + stage.all("ADD"):
            flags, paths, _ = copy_parts(instruction.args)
            if "from" not in flags:
                sources += [p.rstrip("/") for p in paths]
    return sources


def tracked_files(repo: Path) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        return [p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        return [
            str(p.relative_to(repo))
            for p in repo.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(repo).parts)
        ]


# --------------------------------------------------------------------------------------------------
# Tests: the real files
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> Image:
    return image_of(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def test_dockerfile_is_multistage_nonroot_without_extras() -> None:
    assert check_dockerfile(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_compose_stack_lines_up(compose: dict[str, Any], image: Image) -> None:
    assert check_compose(compose, image) == []


def test_compose_stack_lines_up_with_a_password_from_the_host(image: Image) -> None:
    # Interpolation reaches postgres and every DATABASE_URL alike, so they still agree.
    compose = load_compose(host_env={**TEST_HOST_ENV, "POSTGRES_PASSWORD": "s3cret-from-env"})
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret-from-env"
    assert check_compose(compose, image) == []


def test_compose_takes_its_secrets_from_the_host_only(image: Image) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert required_host_variables(text) == REQUIRED_HOST_VARIABLES
    raw = yaml.safe_load(text)
    for name, service in raw["services"].items():
        for key, value in service_env(service).items():
            if key in token_env_names() | {"TRACEGEN_TOKEN"} and value:
                assert "${" in value, f"service {name!r}: {key} holds a literal secret"
    # Without them the coordinator would refuse to start; compose stops first (`:?`), and so does the check.
    problems = check_compose(load_compose(host_env={}), image)
    assert any("token is shorter than 16 characters" in p for p in problems), problems


def test_compose_runs_the_expected_roles(compose: dict[str, Any], image: Image) -> None:
    problems: list[str] = []
    services = build_services(compose, image, problems)
    assert problems == []
    roles = {name: s.subcommand or s.image_name for name, s in services.items()}
    assert roles == {
        "postgres": "postgres",
        "redis": "redis",
        "migrate": "migrate",
        "coordinator": "serve",
        "worker": "worker",
        "teacher-stub": "teacher-stub",
    }
    coordinator = services["coordinator"]
    assert coordinator.params["host"] == "0.0.0.0"
    assert coordinator.params["no_migrate"] is True
    assert services["worker"].params["coordinator"] == f"http://coordinator:{coordinator.listen_port}"
    assert "DATABASE_URL" not in services["worker"].env
    assert "DATABASE_URL" not in services["teacher-stub"].env
    assert compose["services"]["migrate"]["restart"] == "no"
    assert compose["services"]["worker"]["deploy"]["replicas"] >= 2


def test_compose_teachers_file_points_the_stub_at_its_service(compose: dict[str, Any], image: Image) -> None:
    problems: list[str] = []
    services = build_services(compose, image, problems)
    teachers, _, files = resolve_teachers(services, REPO, problems)
    assert problems == []
    assert set(files) == {"coordinator", "worker"}
    assert {p.relative_to(REPO).as_posix() for p in files.values()} == {"deploy/teachers.compose.toml"}
    stub = teachers["worker"]["stub"]
    assert stub.base_url == f"http://teacher-stub:{services['teacher-stub'].listen_port}/v1"


def test_dockerignore_lets_in_what_the_build_copies_and_nothing_else() -> None:
    excluded = dockerignore_excludes(DOCKERIGNORE.read_text(encoding="utf-8"))
    files = tracked_files(REPO)
    sources = dockerfile_context_sources(DOCKERFILE.read_text(encoding="utf-8"))
    for source in sources:
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        under = [f for f in files if f == source or f.startswith(source + "/")]
        assert under, f"no tracked file under {source}"
        shut_out = [f for f in under if excluded(f)]
        assert shut_out == [], f".dockerignore excludes files the build needs: {shut_out[:5]}"
    for path in [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_containers.py",
        "tracegen.db",
        "teachers.toml",
        "tracegen-out/demo/manifest.json",
        "gen_service/__pycache__/cli.cpython-311.pyc",
        "scenarios/calc/repo/.pytest_cache/v/cache/nodeids",
        "deploy/teachers.compose.toml",
    ]:
        assert excluded(path), f"{path} would be sent to the Docker daemon"


# --------------------------------------------------------------------------------------------------
# Tests: the checkers catch broken files
# --------------------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = compose
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = compose
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _command(service: str, transform: Callable[[list[str]], list[str]]) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        raw = compose["services"][service]
        raw["command"] = transform(list(raw["command"]))

    return mutate


def _replace(old: str, new: str) -> Callable[[list[str]], list[str]]:
    return lambda argv: [new if a == old else a for a in argv]


S = "services"
BROKEN_COMPOSE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "unknown subcommand",
        _command("worker", lambda a: ["wrker", *a[1:]]),
        "`tracegen wrker` is not a tracegen command",
    ),
    ("unknown flag", _command("coordinator", lambda a: [*a, "--workers", "4"]), "has no option --workers"),
    (
        "flag of another command",
        _command("worker", lambda a: [*a, "--no-migrate"]),
        "has no option --no-migrate",
    ),
    ("bad flag value", _command("teacher-stub", _replace("0.2", "2.5")), "rejected by click"),
    (
        "invented setting",
        _set(f"{S}.coordinator.environment.TRACEGEN_LEASE_TTL", "120"),
        "TRACEGEN_LEASE_TTL is not read",
    ),
    (
        "invalid setting value",
        _set(f"{S}.coordinator.environment.TRACEGEN_LEASE_TTL_S", "-5"),
        "Settings rejects",
    ),
    (
        "worker gets DB credentials",
        _set(f"{S}.worker.environment.DATABASE_URL", "postgresql://x@postgres/x"),
        "workers never do",
    ),
    (
        "setting on a command that ignores it",
        _set(f"{S}.teacher-stub.environment", {"TRACEGEN_LEASE_TTL_S": "5"}),
        "is not read by `tracegen teacher-stub`",
    ),
    (
        "option envvar on the wrong command",
        _set(f"{S}.coordinator.environment.TRACEGEN_COORDINATOR_URL", "http://coordinator:8000"),
        "TRACEGEN_COORDINATOR_URL is not read",
    ),
    (
        "undocumented postgres variable",
        _set(f"{S}.postgres.environment.POSTGRES_PORT", "5433"),
        "POSTGRES_PORT is not a variable",
    ),
    (
        "depends on a missing service",
        _set(f"{S}.worker.depends_on.coordinatr", {"condition": "service_healthy"}),
        "'coordinatr': no such service",
    ),
    (
        "invalid condition",
        _set(f"{S}.coordinator.depends_on.redis.condition", "service_ready"),
        "unknown condition 'service_ready'",
    ),
    (
        "healthy on a service without a check",
        _delete(f"{S}.redis.healthcheck"),
        "'redis' has no health check",
    ),
    (
        "completion of a long-running service",
        _set(f"{S}.worker.depends_on.teacher-stub.condition", "service_completed_successfully"),
        "never exits",
    ),
    (
        "coordinator before the migration",
        _delete(f"{S}.coordinator.depends_on.migrate"),
        "must depend_on 'migrate' with service_completed_successfully",
    ),
    (
        "cycle",
        _set(f"{S}.migrate.depends_on.coordinator", {"condition": "service_started"}),
        "depends_on cycle",
    ),
    (
        "coordinator port moved alone",
        _command("coordinator", _replace("8000", "9000")),
        "coordinator URL port 8000 but 'coordinator' listens on 9000",
    ),
    (
        "stub port moved alone",
        _command("teacher-stub", _replace("8001", "8002")),
        "teacher 'stub' at http://teacher-stub:8001/v1",
    ),
    (
        "worker points at a missing host",
        _set(f"{S}.worker.environment.TRACEGEN_COORDINATOR_URL", "http://coord:8000"),
        "names no service running `tracegen serve`",
    ),
    (
        "coordinator on loopback",
        _command("coordinator", _replace("0.0.0.0", "127.0.0.1")),
        "unreachable for worker",
    ),
    (
        "published port nobody listens on",
        _set(f"{S}.coordinator.ports", ["127.0.0.1:8080:8080"]),
        "publishes container port 8080",
    ),
    ("no restart policy", _delete(f"{S}.worker.restart"), "'worker' is long-running but has restart 'no'"),
    ("unquoted no", _set(f"{S}.migrate.restart", False), "restart must be a string"),
    ("one-shot that loops", _set(f"{S}.migrate.restart", "always"), "would loop it"),
    (
        "no health check",
        _set(f"{S}.teacher-stub.healthcheck", {"disable": True}),
        "'teacher-stub' is long-running but has no health check",
    ),
    (
        "curl in a slim image",
        _set(f"{S}.coordinator.healthcheck.test", ["CMD", "curl", "-f", "http://127.0.0.1:8000/healthz"]),
        "runs 'curl'",
    ),
    (
        "health check on the wrong port",
        _set(
            f"{S}.teacher-stub.healthcheck.test",
            [
                "CMD",
                "python",
                "-c",
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')",
            ],
        ),
        "health check asks port 8000",
    ),
    (
        "health check reads an unset variable",
        _delete(f"{S}.worker.environment.TRACEGEN_COORDINATOR_URL"),
        "health check reads TRACEGEN_COORDINATOR_URL",
    ),
    ("not scalable", _set(f"{S}.worker.deploy.replicas", 1), "deploy.replicas must be an integer >= 2"),
    ("fixed name", _set(f"{S}.worker.container_name", "worker"), "container_name prevents scaling"),
    ("drain killed", _set(f"{S}.worker.stop_grace_period", "10s"), "must exceed --grace 30s"),
    ("teachers file not mounted", _set(f"{S}.worker.volumes", []), "is not bind-mounted"),
    ("teachers file missing", _delete(f"{S}.worker.environment.TRACEGEN_TEACHERS_FILE"), "no teachers file"),
    (
        "database URL wrong password",
        _set(f"{S}.migrate.environment.DATABASE_URL", "postgresql://tracegen:nope@postgres:5432/tracegen"),
        "does not match service 'postgres'",
    ),
    (
        "database URL wrong host",
        _set(f"{S}.coordinator.environment.DATABASE_URL", "postgresql://tracegen:tracegen@db:5432/tracegen"),
        "host 'db' is no postgres service",
    ),
    ("no worker", _delete(f"{S}.worker"), "no service runs `tracegen worker`"),
    (
        "coordinator without tokens",
        lambda c: [c[S]["coordinator"]["environment"].pop(k) for k in sorted(token_env_names())],
        "refuses to listen on 0.0.0.0 without tokens",
    ),
    (
        "worker token the coordinator does not know",
        _set(f"{S}.worker.environment.TRACEGEN_TOKEN", "another-secret-0123456789"),
        "requires a worker token",
    ),
    (
        "worker given the admin token",
        _set(f"{S}.worker.environment.TRACEGEN_TOKEN", TEST_HOST_ENV["ADMIN_TOKEN"]),
        "got admin",
    ),
    (
        "worker without a token",
        _delete(f"{S}.worker.environment.TRACEGEN_TOKEN"),
        "got no token",
    ),
    (
        "token list on a worker",
        _set(f"{S}.worker.environment.TRACEGEN_ADMIN_TOKENS", "admin:" + TEST_HOST_ENV["ADMIN_TOKEN"]),
        "only the coordinator holds the token list",
    ),
    (
        "redis URL to nowhere",
        _set(f"{S}.coordinator.environment.TRACEGEN_REDIS_URL", "redis://cache:6379/0"),
        "is no redis service",
    ),
    (
        "redis unused",
        _delete(f"{S}.coordinator.environment.TRACEGEN_REDIS_URL"),
        "TRACEGEN_REDIS_URL is not set",
    ),
    (
        "health check on a missing route",
        _set(
            f"{S}.coordinator.healthcheck.test",
            [
                "CMD",
                "python",
                "-c",
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready')",
            ],
        ),
        "asks /ready, which gen_service.api.app does not serve",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [(m, e) for _, m, e in BROKEN_COMPOSE],
    ids=[name for name, _, _ in BROKEN_COMPOSE],
)
def test_compose_checker_catches(
    compose: dict[str, Any], image: Image, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    problems = check_compose(broken, image)
    assert any(expected in p for p in problems), f"expected a problem containing {expected!r}, got {problems}"


def test_compose_checker_catches_a_broken_teachers_file(
    tmp_path: Path, compose: dict[str, Any], image: Image
) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "teachers.compose.toml").write_text(
        '[teachers.stub]\nkind = "openai"\nbase_url = "http://127.0.0.1:8001/v1"\nmodel = "m"\n',
        encoding="utf-8",
    )
    problems = check_compose(compose, image, compose_dir=tmp_path)
    assert any("is the container itself" in p for p in problems), problems
    assert any("teacher 'stub' must point at the teacher-stub service" in p for p in problems), problems


def test_compose_checker_allows_a_real_teachers_key_on_workers_only(
    tmp_path: Path, compose: dict[str, Any], image: Image
) -> None:
    (tmp_path / "deploy").mkdir()
    text = (REPO / "deploy" / "teachers.compose.toml").read_text(encoding="utf-8")
    text += (
        '\n[teachers.vllm]\nkind = "openai"\nbase_url = "http://gpu-box:8000/v1"\nmodel = "m"\n'
        'api_key_env = "VLLM_API_KEY"\n'
    )
    (tmp_path / "deploy" / "teachers.compose.toml").write_text(text, encoding="utf-8")
    broken = copy.deepcopy(compose)
    broken[S]["worker"]["environment"]["VLLM_API_KEY"] = "<VLLM_API_KEY>"
    assert check_compose(broken, image, compose_dir=tmp_path) == []
    broken[S]["coordinator"]["environment"]["VLLM_API_KEY"] = "<VLLM_API_KEY>"
    problems = check_compose(broken, image, compose_dir=tmp_path)
    assert any("'coordinator': VLLM_API_KEY is not read" in p for p in problems), problems


def _edit(old: str, new: str) -> Callable[[str], str]:
    def apply(text: str) -> str:
        assert old in text, f"the Dockerfile no longer contains {old!r}: update this test"
        return text.replace(old, new)

    return apply


BROKEN_DOCKERFILE: list[tuple[str, Callable[[str], str], str]] = [
    (
        "one stage",
        lambda t: t[t.index("FROM python:3.11-slim-bookworm AS runtime") :].replace(
            "COPY --from=builder /opt/venv /opt/venv", ""
        ),
        "1 stage(s)",
    ),
    ("root user", _edit("USER 10001:10001", "USER root"), "runs as root"),
    ("no user", _edit("USER 10001:10001", ""), "no USER"),
    (
        "dev extra",
        _edit(
            "pip install /wheels/tracegen-*.whl", "pip install '/wheels/tracegen-0.1.0-py3-none-any.whl[dev]'"
        ),
        "dev/trainer extras",
    ),
    (
        "trainer extra",
        _edit("['project']['dependencies']", "['project']['optional-dependencies']['trainer']"),
        "dev/trainer extras",
    ),
    ("editable", _edit("pip install /wheels/tracegen-*.whl", "pip install -e ."), "editable install"),
    (
        "bytecode",
        _edit("PYTHONDONTWRITEBYTECODE=1 \\\n    PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1"),
        "PYTHONDONTWRITEBYTECODE=1",
    ),
    (
        "other interpreter",
        _edit("FROM python:3.11-slim-bookworm AS builder", "FROM python:3.12-slim-bookworm AS builder"),
        "same interpreter",
    ),
    (
        "fat runtime",
        _edit("FROM python:3.11-slim-bookworm AS runtime", "FROM python:3.11 AS runtime"),
        "not python:3.11-slim",
    ),
    (
        "shell entrypoint",
        _edit('ENTRYPOINT ["tracegen"]', "ENTRYPOINT tracegen"),
        "ENTRYPOINT must be exec-form",
    ),
    (
        "bad default command",
        _edit('CMD ["serve", "--host"', 'CMD ["serve", "--bind"'),
        "has no option --bind",
    ),
    ("health check port", _edit("127.0.0.1:8000/healthz", "127.0.0.1:8001/healthz"), "HEALTHCHECK asks"),
    ("missing data folder", _edit("COPY scenarios ./scenarios\n", ""), "does not COPY scenarios"),
    (
        "venv off PATH",
        _edit("PATH=/opt/venv/bin:$PATH", "PATH=/usr/local/bin:$PATH"),
        "PATH does not include the venv",
    ),
]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [(e, x) for _, e, x in BROKEN_DOCKERFILE],
    ids=[name for name, _, _ in BROKEN_DOCKERFILE],
)
def test_dockerfile_checker_catches(edit: Callable[[str], str], expected: str) -> None:
    problems = check_dockerfile(edit(DOCKERFILE.read_text(encoding="utf-8")))
    assert any(expected in p for p in problems), f"expected a problem containing {expected!r}, got {problems}"


def test_dockerignore_semantics() -> None:
    excluded = dockerignore_excludes("*\n!src/\n**/__pycache__\n!src/keep/__pycache__\n")
    assert excluded("README.md")
    assert not excluded("src/a.py")
    assert excluded("src/pkg/__pycache__/a.pyc")
    assert not excluded("src/keep/__pycache__/a.pyc")


def test_interpolation() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}/$SET/$$x", env) == "v/d/d//v/$x"
    assert interpolate("${NEED:?set it}", env) == "<NEED>"
