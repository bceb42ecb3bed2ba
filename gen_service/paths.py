"""Where the data folders (behaviours/, scenarios/, migrations/) are found.

In a source checkout (editable install) they sit at the repository root, beside `gen_service/`. In a
wheel they are shipped inside the package as `gen_service/_data/`. The installed copy wins when both
exist, so an installed wheel never reads a stray checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_root() -> Path:
    """The folder that holds `behaviours/`, `scenarios/`, `migrations/` and `alembic.ini`."""
    installed = _PACKAGE_DIR / "_data"
    if (installed / "behaviours").is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent
    if (checkout / "behaviours").is_dir():
        return checkout
    raise FileNotFoundError(
        f"tracegen data folders not found: looked in {installed} and {checkout}; reinstall the package"
    )


def behaviours_dir() -> Path:
    return data_root() / "behaviours"


def scenarios_dir() -> Path:
    return data_root() / "scenarios"


def migrations_dir() -> Path:
    return data_root() / "migrations"
