import pytest

from iniconf import ConfigError, load

TEXT = """
[paths]
root = build
logs = ${paths.root}/logs
cache = ${paths.root}/cache

[db]
name = shop

[backup]
file = ${db.name}.dump
enabled = off
verbose = yes
"""


def test_plain_values():
    config = load(TEXT)
    assert config.get("paths", "root") == "build"
    assert config.get("db", "missing", "x") == "x"


def test_reference_in_same_section():
    config = load(TEXT)
    assert config.get("paths", "logs") == "build/logs"
    assert config.get("paths", "cache") == "build/cache"


def test_reference_to_other_section():
    assert load(TEXT).get("backup", "file") == "shop.dump"


def test_unknown_reference():
    with pytest.raises(ConfigError, match="unknown reference db.port"):
        load("[db]\nname = x\n[app]\nport = ${db.port}\n")


def test_getbool():
    config = load(TEXT)
    assert config.getbool("backup", "enabled") is False
    assert config.getbool("backup", "verbose") is True
    assert config.getbool("backup", "absent", default=True) is True


def test_getbool_rejects_other_words():
    with pytest.raises(ConfigError, match="not a boolean"):
        load("[a]\nflag = maybe\n").getbool("a", "flag")


def test_getint():
    assert load("[s]\nport = 8080\n").getint("s", "port") == 8080
