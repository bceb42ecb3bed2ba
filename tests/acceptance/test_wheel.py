"""The installed (non-editable) package finds its data folders and runs a job, offline."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance
REPO = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_generates(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    [wheel] = dist.glob("tracegen-*.whl")
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    # The new venv's "system" site is the base interpreter's; this venv's packages (fastapi, ...)
    # come in through a plain path entry, which does not process their .pth files, so the editable
    # checkout of tracegen stays invisible and only the wheel can answer.
    venv_python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(venv_python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    work = tmp_path / "work"
    work.mkdir()
    located = subprocess.run(
        [str(venv_python), "-c", "import gen_service.paths as p; print(p.data_root())"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert located.startswith(str(venv)), located
    result = subprocess.run(
        [
            str(venv / "bin" / "tracegen"),
            "generate",
            "--target",
            "2",
            "--behaviours",
            "survey_before_edit,recall_first_habit",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((work / "tracegen-out" / "demo" / "manifest.json").read_text())
    assert manifest["per_behaviour"] == {"survey_before_edit": 2, "recall_first_habit": 2}
