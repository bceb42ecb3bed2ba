"""De-identification: repair a trace so that it can pass the gates instead of being dropped.

Two things are rewritten, in every string of a trace (messages, tool call arguments, tool specs, meta):

- **Tool names** outside the vocabulary are mapped to their behavioural category by a `ToolMap`
  (`bash`→`run_command`, `grep`/`rg`→`repo_search`, `str_replace_editor`→`edit_file`, ...), in the
  assistant's calls, in `tool` messages' `name` and in the `tools` list. A mapping may rename argument
  keys (`pattern`→`query`). A shell command that runs a test suite becomes `run_tests`, because that is
  the category a verification belongs to. The `tools` list is rebuilt from the vocabulary's own specs
  for the (mapped) names it offered, so every output trace carries one schema.
- **Identifiers** become stable placeholders: the same identifier gets the same placeholder within one
  trace (numbered in order of first appearance), distinct identifiers get distinct ones. Placeholders
  are chosen so that the service's `identifier_leak` gate accepts them and a second pass replaces
  nothing (idempotent):

  | kind | example | placeholder |
  |---|---|---|
  | `private_key` | `-----BEGIN RSA PRIVATE KEY----- ... END ...-----` | `<PRIVATE_KEY_1>` |
  | `secret` | `sk-…`, `ghp_…`, `AKIA…`, `AIza…`, `xox…`, `token=…`, `Bearer …` | `<SECRET_1>` |
  | `email` | `alice.smith@acme.io` | `person1@example.com` |
  | `home_path` | `/home/alice`, `/Users/alice`, `C:\\Users\\alice` | `~user1` (the user is `user1`) |
  | `absolute_path` | `/srv/acme-billing` (a workspace root + one folder) | `/project1` |
  | `hostname` | `ci.acme.internal`, the host of `https://grafana.acme.io/` | `host1.example` |
  | `ip_address` | `10.2.3.4` | `192.0.2.1` (documentation range) |
  | `username` | `alice` elsewhere in a trace that revealed it | `user1` |
  | `custom` | a configured literal (a company or project name) | `name1` |

  Usernames are learned from the trace itself (the folder of a home path, the local part of a real
  e-mail address, `user@host` remotes) and then replaced wherever they occur as a whole word.

Judgment calls: public hosts (a configurable allow-list: github.com, pypi.org, python.org, ...) and the
reserved documentation domains and networks are not identifiers; neither are loopback and version-like
dotted quads (the gate's own rules). System paths (`/usr/...`, `/etc/...`) are left alone: only home
folders and the configured workspace roots (`/srv`, `/opt`, `/data`, ...) identify a machine.

Pure: no I/O. `DeidConfig.from_mapping` reads the decoded TOML of `--deid-config`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gen_service.core.trace import string_leaves
from gen_service.core.vocabulary import Vocabulary
from gen_service.serialization import JSONDecodeError, dumps_str, loads

__all__ = [
    "DEFAULT_PUBLIC_HOSTS",
    "DEFAULT_TOOL_MAP",
    "DEFAULT_WORKSPACE_ROOTS",
    "DeidConfig",
    "Deidentifier",
    "ToolMapping",
]


@dataclass(frozen=True, slots=True)
class ToolMapping:
    """Where one foreign tool name goes: a vocabulary name and argument keys to rename."""

    target: str
    rename_args: Mapping[str, str] = field(default_factory=dict)
    drop_args: frozenset[str] = frozenset()


def _m(target: str, drop: Iterable[str] = (), **rename: str) -> ToolMapping:
    return ToolMapping(target, dict(rename), frozenset(drop))


# Common vendor and agent-framework tool names, mapped to the behavioural category they stand for.
DEFAULT_TOOL_MAP: Mapping[str, ToolMapping] = {
    "bash": _m("run_command", cmd="command"),
    "shell": _m("run_command", cmd="command"),
    "sh": _m("run_command", cmd="command"),
    "terminal": _m("run_command", cmd="command"),
    "execute_command": _m("run_command", cmd="command"),
    "run_terminal_cmd": _m("run_command", drop=("is_background", "explanation")),
    "run_shell_command": _m("run_command", cmd="command"),
    "exec": _m("run_command", cmd="command"),
    "grep": _m("repo_search", pattern="query", regex="query", drop=("path", "include", "glob")),
    "rg": _m("repo_search", pattern="query", regex="query", drop=("path", "include", "glob")),
    "ripgrep": _m("repo_search", pattern="query", regex="query", drop=("path", "include", "glob")),
    "search": _m("repo_search", pattern="query", q="query"),
    "code_search": _m("repo_search", pattern="query", q="query"),
    "codebase_search": _m("repo_search", drop=("target_directories", "explanation")),
    "grep_search": _m("repo_search", drop=("include_pattern", "case_sensitive", "explanation")),
    "glob": _m("list_files", pattern="path"),
    "ls": _m("list_files", dir="path", directory="path"),
    "list_dir": _m("list_files", relative_workspace_path="path", drop=("explanation",)),
    "list_directory": _m("list_files", dir="path", directory="path"),
    "cat": _m("read_file", file="path", file_path="path", filename="path"),
    "view": _m("read_file", file="path", file_path="path"),
    "open_file": _m("read_file", file="path", file_path="path"),
    "read": _m("read_file", file="path", file_path="path"),
    "str_replace_editor": _m(
        "edit_file", old_str="old", new_str="new", file_path="path", drop=("command", "view_range")
    ),
    "str_replace": _m("edit_file", old_str="old", new_str="new", file_path="path"),
    "str_replace_based_edit_tool": _m(
        "edit_file", old_str="old", new_str="new", file_path="path", drop=("command", "view_range")
    ),
    "apply_patch": _m("edit_file", file_path="path"),
    "replace_in_file": _m("edit_file", old_string="old", new_string="new", file_path="path"),
    "edit": _m("edit_file", old_string="old", new_string="new", file_path="path"),
    "create_file": _m("write_file", file_text="content", file_path="path", text="content"),
    "write": _m("write_file", file_path="path", text="content"),
    "pytest": _m("run_tests", args="command"),
    "run_test": _m("run_tests", cmd="command"),
    "web_search": _m("docs_lookup", query="topic", q="topic"),
    "fetch_docs": _m("docs_lookup", query="topic", url="topic"),
    "browser": _m("render_or_visual_proof", url="target", page="target"),
    "screenshot": _m("render_or_visual_proof", url="target", page="target"),
    "recall": _m("memory_search"),
    "remember": _m("memory_write", text="note", content="note"),
    "ask_followup_question": _m("ask_user"),
}

DEFAULT_PUBLIC_HOSTS: tuple[str, ...] = (
    "github.com",
    "githubusercontent.com",
    "gitlab.com",
    "bitbucket.org",
    "pypi.org",
    "python.org",
    "pythonhosted.org",
    "readthedocs.io",
    "readthedocs.org",
    "npmjs.com",
    "npmjs.org",
    "nodejs.org",
    "crates.io",
    "docs.rs",
    "rust-lang.org",
    "go.dev",
    "golang.org",
    "pkg.go.dev",
    "mozilla.org",
    "w3.org",
    "wikipedia.org",
    "stackoverflow.com",
    "huggingface.co",
    "pytorch.org",
    "numpy.org",
    "example.com",
    "example.org",
    "example.net",
)

DEFAULT_WORKSPACE_ROOTS: tuple[str, ...] = (
    "/srv",
    "/opt",
    "/data",
    "/mnt",
    "/workspace",
    "/workspaces",
    "/builds",
    "/var/www",
    "/root",
    "/app",
    "/code",
)

# Never taken for usernames: too common as words, or generic account names.
_USERNAME_STOPLIST = frozenset(
    {
        "admin", "root", "user", "users", "ubuntu", "runner", "dev", "developer", "test", "tests",
        "info", "support", "git", "home", "mail", "noreply", "no-reply", "build", "ci", "app",
        "default", "guest", "me", "you", "team", "hello", "contact", "shared", "public", "www",
    }
)  # fmt: skip

_TEST_RUNNER = re.compile(
    r"^\s*(?:cd\s+\S+\s*&&\s*)?(?:(?:uv|poetry|pdm|hatch|pipenv)\s+run\s+)?"
    r"(?:pytest|py\.test|tox|nox|python(?:3(?:\.\d+)?)?\s+-m\s+(?:pytest|unittest)"
    r"|(?:npm|pnpm|yarn)\s+(?:run\s+)?test|npm\s+t|(?:npx\s+)?(?:jest|vitest)|node\s+--test"
    r"|cargo(?:\s+\+\S+)?\s+(?:test|nextest)|go\s+test)(?=\s|$)"
)


@dataclass(frozen=True)
class DeidConfig:
    """What de-identification rewrites. The defaults serve the service's vocabulary.

    >>> DeidConfig().tool_map["bash"].target
    'run_command'
    >>> cfg = DeidConfig.from_mapping({"tool_map": {"my_shell": "run_command"}, "identifiers": ["Acme"]})
    >>> cfg.tool_map["my_shell"].target, cfg.custom_identifiers
    ('run_command', ('Acme',))
    """

    tool_map: Mapping[str, ToolMapping] = field(default_factory=lambda: dict(DEFAULT_TOOL_MAP))
    public_hosts: tuple[str, ...] = DEFAULT_PUBLIC_HOSTS
    workspace_roots: tuple[str, ...] = DEFAULT_WORKSPACE_ROOTS
    custom_identifiers: tuple[str, ...] = ()  # literals (company, project, person) to replace anywhere
    promote_test_commands: bool = True  # a shell call running a test suite becomes run_tests

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DeidConfig:
        """Build from decoded TOML. `tool_map` entries extend (and override) the defaults; a value is a
        vocabulary name or a table `{target = "...", rename_args = {...}, drop_args = [...]}`.
        Raises ValueError naming the offending key."""
        unknown = set(data) - {
            "tool_map",
            "replace_default_tool_map",
            "public_hosts",
            "workspace_roots",
            "identifiers",
            "promote_test_commands",
        }
        if unknown:
            raise ValueError(f"de-identification config: unknown key(s) {sorted(unknown)}")
        base: dict[str, ToolMapping] = {} if data.get("replace_default_tool_map") else dict(DEFAULT_TOOL_MAP)
        raw_map = data.get("tool_map", {})
        if not isinstance(raw_map, Mapping):
            raise ValueError("de-identification config: 'tool_map' must be a table")
        for name, value in raw_map.items():
            base[str(name)] = _parse_mapping(str(name), value)
        kwargs: dict[str, Any] = {"tool_map": base}
        for key, attr in (
            ("public_hosts", "public_hosts"),
            ("workspace_roots", "workspace_roots"),
            ("identifiers", "custom_identifiers"),
        ):
            if key in data:
                value = data[key]
                if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                    raise ValueError(f"de-identification config: '{key}' must be a list of strings")
                kwargs[attr] = tuple(value)
        if "promote_test_commands" in data:
            if not isinstance(data["promote_test_commands"], bool):
                raise ValueError("de-identification config: 'promote_test_commands' must be true or false")
            kwargs["promote_test_commands"] = data["promote_test_commands"]
        return cls(**kwargs)


def _parse_mapping(name: str, value: Any) -> ToolMapping:
    where = f"de-identification config: tool_map.{name}"
    if isinstance(value, str):
        return ToolMapping(value)
    if not isinstance(value, Mapping) or not isinstance(value.get("target"), str):
        raise ValueError(f"{where} must be a tool name or a table with 'target'")
    unknown = set(value) - {"target", "rename_args", "drop_args"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    rename = value.get("rename_args", {})
    drop = value.get("drop_args", [])
    if not isinstance(rename, Mapping) or not all(isinstance(v, str) for v in rename.values()):
        raise ValueError(f"{where}.rename_args must be a table of strings")
    if not isinstance(drop, list) or not all(isinstance(v, str) for v in drop):
        raise ValueError(f"{where}.drop_args must be a list of strings")
    return ToolMapping(value["target"], {str(k): v for k, v in rename.items()}, frozenset(drop))


# --------------------------------------------------------------------------------------------------
# Identifier patterns. Order is priority: an earlier kind wins where matches overlap.

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)", re.DOTALL
)
_SECRET = re.compile(
    r"(?<![\w-])sk-[A-Za-z0-9_-]{20,}"
    r"|\b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{20,}\b"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_-]{35}(?![\w-])"
    r"|\bxox[abprs]-[0-9A-Za-z-]{10,}"
)
# `Bearer <token>`, `token=<value>`, `"password": "<value>"`: the value is the secret when it looks random
_SECRET_VALUE = re.compile(
    r"(?:\bBearer\s+|(?i:\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd))"
    r"(?:\s*[=:]\s*|[\"']\s*:\s*)[\"']?)(?P<val>[A-Za-z0-9_~+/-][A-Za-z0-9._~+/=-]{11,})"
)
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b"
)
_SSH_REMOTE = re.compile(r"(?<![\w.%+-])(?P<user>[a-z_][a-z0-9_-]{1,31})@(?P<host>[A-Za-z0-9.-]+)(?=:)")
_HOME = re.compile(
    r"(?<![\w.~/-])/(?:home|Users)/(?P<user>[A-Za-z0-9._-]+)"
    r"|\b[A-Za-z]:(?:\\+|/)(?i:users)(?:\\+|/)(?P<wuser>[^\\/\s\"'<>|:*?]+)"
)
_URL_HOST = re.compile(r"\b[a-z][a-z0-9+.-]*://(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_INTERNAL_HOST = re.compile(
    r"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:internal|corp|lan|local|intranet)"
    r"(?![\w-]|\.[A-Za-z0-9]|\()"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_VERSION_CONTEXT = re.compile(
    r"(?:\b(?:version|ver\.?|release|build|rev(?:ision)?)\s*[:=]?\s*|\bv|[=<>~^@!]=?\s*)$", re.IGNORECASE
)
_DOC_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.")
_RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost")
_CODE_RECEIVERS = frozenset({"self", "this", "cls", "threading", "contextvars", "super"})

# Cheap tests that rule a pattern out before its (much slower) regex runs.
_SECRET_NEEDLES = (
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "AKIA",
    "ASIA",
    "AIza",
    "xox",
)
_SECRET_VALUE_NEEDLES = ("bearer", "key", "token", "secret", "passw")
_HOME_NEEDLES = ("/home/", "/Users/", ":\\", ":/")
_INTERNAL_NEEDLES = (".internal", ".corp", ".lan", ".local", ".intranet")
_AT = re.compile(r"[\w.%+-]@[A-Za-z0-9]")
_DOTTED = re.compile(r"\d\.\d{1,3}\.\d")


def _has(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)


_PLACEHOLDER = {
    "private_key": "<PRIVATE_KEY_{n}>",
    "secret": "<SECRET_{n}>",
    "email": "person{n}@example.com",
    "hostname": "host{n}.example",
    "absolute_path": "/project{n}",
    "username": "user{n}",
    "custom": "name{n}",
}
_DOC_IPS = tuple(f"{net}{i}" for net in _DOC_NETWORKS for i in range(1, 255))


class _TraceState:
    """Per-trace placeholder tables: the same identifier always gets the same placeholder."""

    def __init__(self, counts: Counter[str]) -> None:
        self.tables: dict[str, dict[str, str]] = {}
        self.counts = counts
        self.usernames: dict[str, str] = {}  # username -> placeholder (shared by home_path)
        self.plan: frozenset[str] = frozenset()  # the pattern kinds this trace can contain at all

    def placeholder(self, kind: str, value: str) -> str:
        table = self.tables.setdefault(kind, {})
        found = table.get(value)
        if found is None:
            n = len(table) + 1
            found = (
                _DOC_IPS[(n - 1) % len(_DOC_IPS)] if kind == "ip_address" else _PLACEHOLDER[kind].format(n=n)
            )
            table[value] = found
        self.counts[kind] += 1
        return found

    def user(self, name: str) -> str:
        found = self.usernames.get(name)
        if found is None:
            found = f"user{len(self.usernames) + 1}"
            self.usernames[name] = found
        return found


def _is_reserved(host: str) -> bool:
    host = host.lower().rstrip(".")
    return (
        host == "localhost"
        or host in ("example.com", "example.org", "example.net")
        or host.endswith((".example.com", ".example.org", ".example.net", *_RESERVED_SUFFIXES))
    )


def _is_public(host: str, public_hosts: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    return _is_reserved(host) or any(host == public or host.endswith("." + public) for public in public_hosts)


def _ipv4_is_identifier(match: re.Match[str], text: str) -> bool:
    address = match.group(0)
    octets = [int(part) for part in address.split(".")]
    if any(octet > 255 for octet in octets):
        return False
    if octets[0] in (0, 127, 255) or address.startswith(_DOC_NETWORKS):
        return False
    return _VERSION_CONTEXT.search(text[max(0, match.start() - 16) : match.start()]) is None


class Deidentifier:
    """Rewrites traces (decoded JSON mappings) and counts what it replaced, by kind.

    `counts` accumulates over every trace passed to `deidentify`: identifier kinds (`email`, ...) and
    `tool_name:<from>→<to>` entries. One instance serves a whole build; it keeps no per-trace state
    between calls.
    """

    def __init__(self, config: DeidConfig, vocabulary: Vocabulary) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.counts: Counter[str] = Counter()
        roots = sorted(config.workspace_roots, key=len, reverse=True)
        self._workspace = (
            re.compile(
                r"(?<![\w.~/-])(?P<root>"
                + "|".join(re.escape(r.rstrip("/")) for r in roots)
                + r")/(?P<dir>[A-Za-z0-9][A-Za-z0-9._-]*)"
            )
            if roots
            else None
        )
        # shared by every output trace: serialized, never mutated
        self._specs = {tool.name: tool.openai_spec() for tool in vocabulary.tools}
        self._workspace_needles = tuple(r.rstrip("/") + "/" for r in roots)
        self._custom = (
            re.compile(
                r"(?<!\w)(?:"
                + "|".join(re.escape(v) for v in sorted(config.custom_identifiers, key=len, reverse=True))
                + r")(?!\w)",
                re.IGNORECASE,
            )
            if config.custom_identifiers
            else None
        )

    # -- public -------------------------------------------------------------------------------------

    def deidentify(self, trace: Mapping[str, Any]) -> dict[str, Any]:
        """A de-identified copy of `trace` (the input is not changed). Non-trace shapes pass through
        as far as they can; the gates judge them afterwards."""
        state = _TraceState(self.counts)
        joined = "\n".join(string_leaves(trace))  # no pattern matches across a newline
        state.plan = self._plan(joined)
        self._learn_from_text(joined, state)
        result: dict[str, Any] = dict(trace)
        messages = trace.get("messages")
        if isinstance(messages, list):
            result["messages"] = _align_tool_names([self._message(m, state) for m in messages])
        tools = trace.get("tools")
        if isinstance(tools, list):
            result["tools"] = self._tools(tools, result.get("messages"))
        meta = trace.get("meta")
        if isinstance(meta, Mapping):
            result["meta"] = {k: self._value(v, state) for k, v in meta.items()}
        return result

    def scrub_text(self, text: str) -> str:
        """De-identify one free-standing text (its own placeholder table)."""
        state = _TraceState(self.counts)
        state.plan = self._plan(text)
        self._learn_from_text(text, state)
        return self._text(text, state)

    # -- messages and tools ---------------------------------------------------------------------------

    def _message(self, message: Any, state: _TraceState) -> Any:
        if not isinstance(message, Mapping):
            return message
        out: dict[str, Any] = {}
        for key, value in message.items():
            if key == "tool_calls" and isinstance(value, list):
                out[key] = [self._call(call, state) for call in value]
            elif key == "name" and message.get("role") == "tool" and isinstance(value, str):
                out[key] = self._map_name_quiet(value)  # made exact below, from the answered call
            elif key in ("role", "tool_call_id"):
                out[key] = value
            else:
                out[key] = self._value(value, state)
        return out

    def _call(self, call: Any, state: _TraceState) -> Any:
        if not isinstance(call, Mapping):
            return call
        function = call.get("function")
        if not isinstance(function, Mapping):
            return call
        out_function: dict[str, Any] = dict(function)
        arguments_text = function.get("arguments")
        arguments: Any = None
        if isinstance(arguments_text, str):
            try:
                arguments = loads(arguments_text) if arguments_text.strip() else {}
            except JSONDecodeError:
                arguments = None
        elif isinstance(arguments_text, Mapping):
            arguments = dict(arguments_text)
        name = function.get("name")
        if isinstance(name, str):
            new_name, mapping = self._map_name(name, arguments if isinstance(arguments, dict) else None)
            out_function["name"] = new_name
            if mapping is not None and isinstance(arguments, dict):
                arguments = _remap_args(arguments, mapping)
        if isinstance(arguments, dict):
            scrubbed = self._value(arguments, state)
            if (
                scrubbed != arguments
                or out_function.get("name") != name
                or not isinstance(arguments_text, str)
            ):
                out_function["arguments"] = dumps_str(scrubbed)
        elif isinstance(arguments_text, str):
            out_function["arguments"] = self._text(arguments_text, state)
        out = dict(call)
        out["function"] = out_function
        return out

    def _map_name(self, name: str, arguments: dict[str, Any] | None) -> tuple[str, ToolMapping | None]:
        if name in self.vocabulary:
            return name, None
        mapping = self.config.tool_map.get(name) or self.config.tool_map.get(name.lower())
        if mapping is None:
            return name, None  # left for the vocabulary gate to judge
        target = mapping.target
        if target == "run_command" and self.config.promote_test_commands and arguments is not None:
            command = arguments.get("command", arguments.get("cmd"))
            if isinstance(command, str) and _TEST_RUNNER.match(command):
                target = "run_tests"
        self.counts[f"tool_name:{name}→{target}"] += 1
        return target, mapping

    def _tools(self, tools: list[Any], messages: Any) -> list[Any]:
        names: list[str] = []
        for spec in tools:
            function = spec.get("function") if isinstance(spec, Mapping) else None
            name = function.get("name") if isinstance(function, Mapping) else None
            if isinstance(name, str):
                names.append(self._map_name_quiet(name))
        if isinstance(messages, list):
            for message in messages:
                calls = message.get("tool_calls") if isinstance(message, Mapping) else None
                for call in calls if isinstance(calls, list) else ():
                    function = call.get("function") if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                        names.append(function["name"])
        wanted = set(names)
        specs = [self._specs[tool.name] for tool in self.vocabulary.tools if tool.name in wanted]
        # a name still outside the vocabulary keeps its original spec: the gate reports it
        leftovers = [
            spec
            for spec in tools
            if isinstance(spec, Mapping)
            and isinstance(spec.get("function"), Mapping)
            and self._map_name_quiet(str(spec["function"].get("name"))) not in self.vocabulary
        ]
        return specs + leftovers

    def _map_name_quiet(self, name: str) -> str:
        if name in self.vocabulary:
            return name
        mapping = self.config.tool_map.get(name) or self.config.tool_map.get(name.lower())
        return name if mapping is None else mapping.target

    # -- strings --------------------------------------------------------------------------------------

    def _value(self, value: Any, state: _TraceState) -> Any:
        if isinstance(value, str):
            return self._text(value, state)
        if isinstance(value, Mapping):
            return {k: self._value(v, state) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(v, state) for v in value]
        return value

    def _plan(self, text: str) -> frozenset[str]:
        """Which pattern kinds are worth running on the pieces of a trace whose joined text is `text`."""
        plan: set[str] = set()
        if "PRIVATE KEY" in text:
            plan.add("private_key")
        if _has(text, _SECRET_NEEDLES):
            plan.add("secret")
        if _has(text.lower(), _SECRET_VALUE_NEEDLES):
            plan.add("secret_value")
        if "@" in text and _AT.search(text):
            plan.add("email")
        if "://" in text:
            plan.add("url")
        if _has(text, _HOME_NEEDLES):
            plan.add("home")
        if self._workspace is not None and _has(text, self._workspace_needles):
            plan.add("workspace")
        if _has(text, _INTERNAL_NEEDLES):
            plan.add("internal")
        if _DOTTED.search(text):
            plan.add("ip")
        if self._custom is not None and self._custom.search(text):
            plan.add("custom")
        return frozenset(plan)

    def _learn_from_text(self, text: str, state: _TraceState) -> None:
        if _has(text, _HOME_NEEDLES):
            for match in _HOME.finditer(text):
                user = match.group("user") or match.group("wuser")
                if user:
                    self._note_user(user, state)
        if "@" in text and _AT.search(text):
            for match in _EMAIL.finditer(text):
                local, _, domain = match.group(0).rpartition("@")
                if not _is_reserved(domain) and local.lower() != "git":
                    for part in re.split(r"[._+-]", local):
                        self._note_user(part, state)
            for match in _SSH_REMOTE.finditer(text):
                if not _is_public(match.group("host"), self.config.public_hosts):
                    self._note_user(match.group("user"), state)

    @staticmethod
    def _note_user(user: str, state: _TraceState) -> None:
        if len(user) >= 3 and user.lower() not in _USERNAME_STOPLIST and not re.fullmatch(r"user\d+", user):
            state.user(user)

    def _text(self, text: str, state: _TraceState) -> str:
        plan = state.plan
        if not text or (not plan and not state.usernames):
            return text
        spans: list[tuple[int, int, Callable[[], str]]] = []
        taken: list[tuple[int, int]] = []

        def add(start: int, end: int, make: Callable[[], str]) -> None:
            if any(start < e and s < end for s, e in taken):
                return
            taken.append((start, end))
            spans.append((start, end, make))

        if "private_key" in plan and "PRIVATE KEY" in text:
            for m in _PRIVATE_KEY.finditer(text):
                add(m.start(), m.end(), _bind(state, "private_key", m.group(0)))
        if "secret" in plan and _has(text, _SECRET_NEEDLES):
            for m in _SECRET.finditer(text):
                add(m.start(), m.end(), _bind(state, "secret", m.group(0)))
        if "secret_value" in plan and _has(text.lower(), _SECRET_VALUE_NEEDLES):
            for m in _SECRET_VALUE.finditer(text):
                value = m.group("val")
                if sum(c.isdigit() for c in value) >= 2 and sum(c.isalpha() for c in value) >= 4:
                    add(m.start("val"), m.end("val"), _bind(state, "secret", value))
        if "email" in plan and "@" in text:
            for m in _EMAIL.finditer(text):
                local, _, domain = m.group(0).rpartition("@")
                if local.lower() == "git" or _is_reserved(domain):
                    continue
                add(m.start(), m.end(), _bind(state, "email", m.group(0).lower()))
        if "url" in plan and "://" in text:
            for m in _URL_HOST.finditer(text):
                host = m.group("host")
                if _IPV4.fullmatch(host) or _is_public(host, self.config.public_hosts):
                    continue
                add(m.start("host"), m.end("host"), _bind(state, "hostname", host.lower()))
        if "home" in plan and _has(text, _HOME_NEEDLES):
            for m in _HOME.finditer(text):
                user = m.group("user") or m.group("wuser") or ""
                add(m.start(), m.end(), _bind_home(state, user))
        if "workspace" in plan and self._workspace is not None and _has(text, self._workspace_needles):
            for m in self._workspace.finditer(text):
                if re.fullmatch(r"project\d+", m.group("dir")):
                    continue
                add(m.start(), m.end(), _bind(state, "absolute_path", m.group(0)))
        if "internal" in plan and _has(text, _INTERNAL_NEEDLES):
            for m in _INTERNAL_HOST.finditer(text):
                if m.group(0).split(".", 1)[0] in _CODE_RECEIVERS:
                    continue
                add(m.start(), m.end(), _bind(state, "hostname", m.group(0).lower()))
        if "ip" in plan and _DOTTED.search(text):
            for m in _IPV4.finditer(text):
                if _ipv4_is_identifier(m, text):
                    add(m.start(), m.end(), _bind(state, "ip_address", m.group(0)))
        if "custom" in plan and self._custom is not None:
            for m in self._custom.finditer(text):
                add(m.start(), m.end(), _bind(state, "custom", m.group(0).lower()))
        if state.usernames:
            pattern = _username_pattern(tuple(state.usernames))
            for m in pattern.finditer(text):
                add(m.start(), m.end(), _bind_user(state, m.group(0)))
        if not spans:
            return text
        spans.sort(key=lambda span: span[0])
        pieces: list[str] = []
        position = 0
        for start, end, make in spans:
            pieces.append(text[position:start])
            pieces.append(make())
            position = end
        pieces.append(text[position:])
        return "".join(pieces)


def _bind(state: _TraceState, kind: str, value: str) -> Callable[[], str]:
    return lambda: state.placeholder(kind, value)


def _bind_home(state: _TraceState, user: str) -> Callable[[], str]:
    def make() -> str:
        state.counts["home_path"] += 1
        return "~" + state.user(user)

    return make


def _bind_user(state: _TraceState, name: str) -> Callable[[], str]:
    def make() -> str:
        state.counts["username"] += 1
        return state.user(name)

    return make


_USERNAME_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def _username_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    pattern = _USERNAME_CACHE.get(names)
    if pattern is None:
        if len(_USERNAME_CACHE) > 1024:
            _USERNAME_CACHE.clear()
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        pattern = re.compile(r"(?<![\w.-])(?:" + alternatives + r")(?![\w-])")
        _USERNAME_CACHE[names] = pattern
    return pattern


def _align_tool_names(messages: list[Any]) -> list[Any]:
    """A `tool` message's `name` follows the (mapped) name of the call it answers."""
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(function, Mapping) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(function.get("name"))
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "tool" and "name" in message:
            answered = names.get(str(message.get("tool_call_id")))
            if answered is not None:
                message["name"] = answered
    return messages


def _remap_args(arguments: dict[str, Any], mapping: ToolMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if key in mapping.drop_args:
            continue
        new_key = mapping.rename_args.get(key, key)
        if new_key in out:
            continue  # the first of several aliases wins
        out[new_key] = value
    return out
