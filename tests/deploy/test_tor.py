"""deploy/tor/torrc, checked by Debian's tor: an onion service (v3) in front of nginx's
onion entrance, and nothing else: no relay, no exit, no SOCKS port."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.tools import DEPLOY, debian_tool, run

TORRC = DEPLOY / "tor" / "torrc"


def settings_of(text: str) -> list[tuple[str, str]]:
    lines = (line.strip() for line in text.splitlines())
    return [
        (key, value.strip())
        for key, _, value in (line.partition(" ") for line in lines if line and line[0] != "#")
    ]


def verify(tmp_path: Path, text: str) -> tuple[int, str]:
    # Only the state folder moves into the test's own place; tor creates it as needed.
    text = text.replace("/var/lib/tor", str(tmp_path / "tor"))
    config = tmp_path / "torrc"
    config.write_text(text)
    result = run(debian_tool("tor", "tor"), "--verify-config", "-f", str(config))
    return result.returncode, result.stdout + result.stderr


def test_tor_accepts_the_torrc(tmp_path: Path) -> None:
    code, output = verify(tmp_path, TORRC.read_text())

    assert code == 0, output
    assert "Configuration was valid" in output


def test_tor_refuses_a_broken_torrc(tmp_path: Path) -> None:
    """The check above can fail: tor will not take a host name as the service's target."""
    code, output = verify(tmp_path, TORRC.read_text().replace("127.0.0.1:8090", "nginx:8090"))

    assert code != 0
    assert "hidden service port" in output.lower()


def test_the_onion_service_is_version_3_and_leads_to_nginxs_onion_entrance() -> None:
    settings = dict(settings_of(TORRC.read_text()))
    nginx = (DEPLOY / "nginx" / "nginx.conf").read_text()

    assert settings["HiddenServiceVersion"] == "3"
    assert settings["HiddenServiceDir"].startswith("/var/lib/tor/")
    virtual_port, target = settings["HiddenServicePort"].split()
    assert virtual_port == "80"
    assert re.search(rf"^\s*listen {re.escape(target)};", nginx, re.MULTILINE), target


def test_tor_is_only_a_client_of_the_tor_network() -> None:
    settings = settings_of(TORRC.read_text())

    assert ("SocksPort", "0") in settings
    assert ("ORPort", "0") in settings
    assert ("ExitRelay", "0") in settings
    assert ("ExitPolicy", "reject *:*") in settings
    assert ("BridgeRelay", "0") in settings
    assert not any(key.startswith(("DirPort", "ControlPort")) for key, _ in settings)
