"""Configuration: typed keys, environment overrides, clear errors, and a README that lists every key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import SETTINGS, ConfigError, load_config
from tests.conftest import REPO


def test_defaults_match_the_spec() -> None:
    config = load_config(None, environ={})
    assert config["portal.host"] == "127.0.0.1"
    assert config["portal.port"] == 8080
    assert config["receiver.dc09_port"] == 12000
    assert config["database.url"] == ""
    assert config["mqtt.url"] == "embedded"
    assert config["mqtt.embedded_listen"] == ("127.0.0.1", 11883)
    assert config["email.smtp_url"] == ""


def test_the_shipped_config_file_loads_and_uses_only_declared_keys() -> None:
    config = load_config(REPO / "config.toml", environ={})
    assert config["portal.port"] == 8080


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[portal]\nport = 9000\n[database]\nurl = "postgresql://a@b/c"\n')
    config = load_config(path, environ={"ALARMHUB_PORTAL_PORT": "9100", "ALARMHUB_RECEIVER_UDP_ENABLED": "false"})
    assert config["portal.port"] == 9100
    assert config["receiver.udp_enabled"] is False
    assert config["database.url"] == "postgresql://a@b/c"


@pytest.mark.parametrize(
    ("toml", "environ", "key", "reason"),
    [
        ("", {"ALARMHUB_PORTAL_PORT": "abc"}, "portal.port", "integer"),
        ("[portal]\nport = 70000\n", {}, "portal.port", "integer"),
        ("[portal]\nprot = 1\n", {}, "portal.prot", "unknown"),
        ("[nonsense]\nkey = 1\n", {}, "nonsense.key", "unknown"),
        ("", {"ALARMHUB_MQTT_URL": "http://x"}, "mqtt.url", "mqtt://"),
        ("", {"ALARMHUB_LOG_LEVEL": "loud"}, "log.level", "one of"),
        ("", {"ALARMHUB_PORTAL_PROT": "1"}, "ALARMHUB_PORTAL_PROT", "unknown"),
        ('[receiver]\nudp_enabled = "maybe"\n', {}, "receiver.udp_enabled", "true or false"),
    ],
)
def test_invalid_values_name_the_key_and_the_reason(
    tmp_path: Path, toml: str, environ: dict[str, str], key: str, reason: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_a_bad_value_exits_with_status_2_and_one_line_naming_the_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alarmhub", "run"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "ALARMHUB_PORTAL_PORT": "abc"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "portal.port" in lines[0]


def test_the_readme_documents_every_key() -> None:
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z0-9_]+)` \|", readme, flags=re.MULTILINE))
    declared = {setting.key for setting in SETTINGS}
    assert declared - documented == set(), "README.md's configuration table misses these keys"
    assert documented - declared == set(), "README.md documents keys that do not exist"


def test_every_key_has_documentation_and_a_unique_environment_variable() -> None:
    assert all(setting.doc for setting in SETTINGS)
    env_vars = [setting.env_var for setting in SETTINGS]
    assert len(env_vars) == len(set(env_vars))
