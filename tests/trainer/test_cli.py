"""`tracegen corpus build` and `tokenize` end to end, on a corpus the real service generated and exported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gen_service.cli import main
from tests.trainer.conftest import train_tokenizer
from trainer.sft import CHATML_TOOLS_TEMPLATE, IGNORE_INDEX

TRACEGEN = str(Path(sys.executable).with_name("tracegen"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("service")
    assert shutil.which(TRACEGEN), "the tracegen entry point is installed by the README's setup"
    subprocess.run(
        [
            TRACEGEN,
            "generate",
            "--db",
            str(root / "x.db"),
            "--name",
            "bb",
            "--target",
            "2",
            "--out",
            str(root / "bb"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=280,
    )
    return root / "bb"


def test_build_then_tokenize(exported: Path, tmp_path: Path) -> None:
    first = json.loads((exported / "shard-00000.jsonl").read_text().splitlines()[0])
    curated = json.loads(json.dumps(first))
    curated["messages"][1]["content"] += " (ask bob@initech.io)"
    curated["messages"][-1]["content"] += " Verified on the CI box."
    slice_path = tmp_path / "style.jsonl"
    slice_path.write_text(json.dumps(curated) + "\n")
    runner = CliRunner()
    out = tmp_path / "corpus"
    result = runner.invoke(
        main,
        [
            "corpus", "build", str(exported), "--slice", f"style={slice_path}", "--oversample", "style=3",
            "--out", str(out), "--seed", "4", "--heldout-frac", "0.2", "--quiet", "--no-near-dup",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "raw 61 → dropped 0 → kept 61" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"]["style"]["oversample_factor"] == 3.0
    assert manifest["deidentification"]["replacements"]["email"] == 1
    assert len(manifest["heldout"]["types"]) == 6  # 20 % of 30 behaviours

    tokenizer_dir = train_tokenizer(
        [line for line in (out / "val.jsonl").read_text().splitlines()[:5]] + ["hello world"],
        tmp_path / "tok",
        chat_template=CHATML_TOOLS_TEMPLATE,
    )
    result = runner.invoke(
        main,
        ["corpus", "tokenize", str(out), "--tokenizer", str(tokenizer_dir), "--out", str(tmp_path / "t"),
         "--max-length", "65536"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| train |" in result.output
    stats: dict[str, Any] = json.loads((tmp_path / "t" / "tokenize.json").read_text())
    assert stats["boundary_splits"] == 0 and stats["template"] == "tokenizer"
    import datasets  # the corpus extra, installed by the test setup

    train = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "t" / "train.parquet"), cache_dir=str(tmp_path / "c")
    )["train"]
    assert train.num_rows == manifest["outputs"]["train"]["lines"] == stats["rows"]["train"]
    row = train[0]
    assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"])
    assert row["labels"][0] == IGNORE_INDEX and any(label != IGNORE_INDEX for label in row["labels"])

    # an over-long trace is counted and left out; packing fills fixed-length rows
    longest = stats["stats"]["train"]["max"]
    result = runner.invoke(
        main,
        ["corpus", "tokenize", str(out), "--tokenizer", str(tokenizer_dir), "--out", str(tmp_path / "p"),
         "--max-length", str(longest - 1), "--pack", "--split", "train"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    packed: dict[str, Any] = json.loads((tmp_path / "p" / "tokenize.json").read_text())
    assert packed["stats"]["train"]["over_context"] >= 1
    rows = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "p" / "train.parquet"), cache_dir=str(tmp_path / "c2")
    )["train"]
    assert all(len(r["input_ids"]) == longest - 1 for r in rows)
    assert (
        sum(len(r["seq_lengths"]) for r in rows)
        == packed["stats"]["train"]["count"] - packed["stats"]["train"]["over_context"]
    )


def test_build_reports_bad_input_and_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["corpus", "build", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "not a folder" in result.output
    (tmp_path / "s.jsonl").write_text("{}\n")
    result = runner.invoke(
        main,
        [
            "corpus",
            "build",
            "--slice",
            f"s={tmp_path / 's.jsonl'}",
            "--oversample",
            "t=2",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "no --slice named ['t']" in result.output
    result = runner.invoke(main, ["corpus", "build", "--slice", "nonsense", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "NAME=VALUE" in result.output
