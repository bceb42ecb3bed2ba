"""De-identification: tool names to categories, identifiers to stable placeholders, idempotent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gen_service.catalog import load_vocabulary
from gen_service.core.gates import GateContext, Reason, run_gates
from trainer.deid import DeidConfig, Deidentifier


@pytest.fixture
def deid() -> Deidentifier:
    return Deidentifier(DeidConfig(custom_identifiers=("Initech",)), load_vocabulary())


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def _trace() -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {
                "role": "user",
                "content": "Repo at /home/alice/initech-app. CI: ci-3.initech.corp (10.1.2.3), dashboards "
                "https://grafana.initech.io/d/1, docs https://docs.python.org/3/. "
                "Mail alice.smith@initech.io."
                " Initech policy applies. Python version 3.11.4.1 is fine; so is 127.0.0.1 and 192.0.2.7.",
            },
            {
                "role": "assistant",
                "reasoning_content": "alice asked; search first, then run the tests.",
                "content": "",
                "tool_calls": [
                    _call("c1", "grep", {"pattern": "parse", "path": "."}),
                    _call("c2", "bash", {"command": "python -m pytest -q"}),
                    _call(
                        "c3",
                        "bash",
                        {"command": "ls /home/alice/initech-app && echo API_KEY=a1b2c3d4e5f6g7h8"},
                    ),
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "name": "grep", "content": "app.py:3: def parse"},
            {"role": "tool", "tool_call_id": "c2", "name": "bash", "content": "1 passed"},
            {
                "role": "tool",
                "tool_call_id": "c3",
                "name": "bash",
                "content": "app.py\nAPI_KEY=a1b2c3d4e5f6g7h8",
            },
            {"role": "assistant", "reasoning_content": "done", "content": "Tests pass: 1 passed."},
        ],
        "tools": [
            {"type": "function", "function": {"name": "bash", "description": "x", "parameters": {}}},
            {"type": "function", "function": {"name": "grep", "description": "x", "parameters": {}}},
        ],
        "meta": {"author": "alice", "seed": 3},
    }


def test_tool_names_arguments_and_specs_are_mapped(deid: Deidentifier) -> None:
    out = deid.deidentify(_trace())
    calls = out["messages"][2]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["repo_search", "run_tests", "run_command"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": "parse"}
    assert [m.get("name") for m in out["messages"][3:6]] == ["repo_search", "run_tests", "run_command"]
    vocabulary = load_vocabulary()
    assert [t["function"]["name"] for t in out["tools"]] == ["repo_search", "run_tests", "run_command"]
    assert out["tools"][0] == vocabulary.get("repo_search").openai_spec()  # type: ignore[union-attr]
    assert deid.counts["tool_name:bash→run_tests"] == 1 and deid.counts["tool_name:grep→repo_search"] == 1


def test_identifiers_become_stable_placeholders(deid: Deidentifier) -> None:
    trace = _trace()
    out = deid.deidentify(trace)
    user = out["messages"][1]["content"]
    assert "~user1/initech-app" not in user  # the custom identifier inside the path is replaced as well
    assert user.startswith("Repo at ~user1/name1-app.")
    assert "host1.example (192.0.2.1)" in user and "https://host2.example/d/1" in user
    assert "https://docs.python.org/3/" in user  # a public host stays
    assert "person1@example.com" in user
    assert "name1 policy" in user
    assert "3.11.4.1" in user and "127.0.0.1" in user and "192.0.2.7" in user
    assert out["messages"][2]["reasoning_content"].startswith("user1 asked")
    command = json.loads(out["messages"][2]["tool_calls"][2]["function"]["arguments"])["command"]
    assert command == "ls ~user1/name1-app && echo API_KEY=<SECRET_1>"
    assert out["messages"][5]["content"] == "app.py\nAPI_KEY=<SECRET_1>"  # same secret, same placeholder
    assert out["meta"] == {"author": "user1", "seed": 3}
    assert trace == _trace()  # the input is left alone
    for kind in ("home_path", "hostname", "ip_address", "email", "custom", "username", "secret"):
        assert deid.counts[kind] > 0, kind


def test_placeholders_pass_the_identifier_gate_and_a_second_pass_changes_nothing(deid: Deidentifier) -> None:
    context = GateContext(vocabulary=load_vocabulary().names, behaviours={})
    _, before = run_gates(_trace(), context)
    assert Reason.IDENTIFIER_LEAK in {r.reason for r in before}
    out = deid.deidentify(_trace())
    _, after = run_gates(out, context)
    assert {r.reason for r in after} == set()
    again = Deidentifier(DeidConfig(custom_identifiers=("Initech",)), load_vocabulary())
    assert again.deidentify(out) == out
    assert sum(again.counts.values()) == 0


def test_keys_paths_and_private_keys(deid: Deidentifier) -> None:
    text = (
        "token sk-abcDEF1234567890ghijKLMN and ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6 "
        "and AKIAABCDEFGHIJKLMNOP;\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
        "deploy /srv/acme-api/app.py and /usr/lib/python3/x.py; Authorization: Bearer abc123def456ghi789jkl"
    )
    out = deid.scrub_text(text)
    assert out == (
        "token <SECRET_1> and <SECRET_2> and <SECRET_3>;\n<PRIVATE_KEY_1>\n"
        "deploy /project1/app.py and /usr/lib/python3/x.py; Authorization: Bearer <SECRET_4>"
    )


def test_config_from_mapping() -> None:
    config = DeidConfig.from_mapping(
        {
            "tool_map": {
                "my_shell": "run_command",
                "finder": {"target": "repo_search", "rename_args": {"q": "query"}},
            },
            "public_hosts": ["intranet.example"],
            "identifiers": ["Initech"],
        }
    )
    assert config.tool_map["my_shell"].target == "run_command"
    assert config.tool_map["finder"].rename_args == {"q": "query"}
    assert config.tool_map["bash"].target == "run_command"  # defaults stay unless replaced
    assert "bash" not in DeidConfig.from_mapping({"replace_default_tool_map": True}).tool_map
    with pytest.raises(ValueError, match="unknown key"):
        DeidConfig.from_mapping({"toolmap": {}})
    with pytest.raises(ValueError, match=r"tool_map\.x"):
        DeidConfig.from_mapping({"tool_map": {"x": 3}})
