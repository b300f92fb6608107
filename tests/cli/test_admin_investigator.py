"""The organisation's and the investigator's command lines against a live gateway process:
init-org -> invite -> enroll -> vet -> (a reporter submits) -> login -> inbox -> show -> ask
-> (the reporter reads it and answers) -> show -> status -> revoke (the session ends at once)
-> logout."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gateway.crypto import totp
from tests.fixtures.ports import free_port

START_BUDGET_SECONDS = 15.0
ORG_PASSPHRASE = "organisation passphrase, kept offline"
PASSPHRASE = "alice's long passphrase for the tip line"


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env["HOME"] = str(home)
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("XDG_DATA_HOME", None)
    env.update(extra)
    return env


def tipline(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    places = {name: tmp_path / name for name in ("admin", "alice", "reporter", "server")}
    for place in places.values():
        place.mkdir()
    return places


@pytest.mark.slow  # about twenty real `tipline` processes
def test_the_whole_investigator_loop_on_the_command_line(workspace: dict[str, Path]) -> None:
    admin_home = workspace["admin"]
    key_file = admin_home / "org-key.json"
    org_passphrase = admin_home / "passphrase"
    org_passphrase.write_text(ORG_PASSPHRASE + "\n")
    admin_env = environment(admin_home)

    created = ok(
        tipline(
            "admin", "init-org", "--out", str(key_file), "--passphrase-file", str(org_passphrase),
            env=admin_env, cwd=admin_home,
        )
    )  # fmt: skip
    public_key = re.search(r"public_key\): (\S+)", created)
    fingerprint = re.search(r"Fingerprint.*: ([0-9a-f-]{49})", created)
    assert public_key is not None
    assert fingerprint is not None
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "organisation" in key_file.read_text()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workspace["server"] / "gateway.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=environment(
            workspace["server"],
            TIPLINE_DATA_DIR=str(workspace["server"] / "data"),
            TIPLINE_ORG_PUBLIC_KEY=public_key.group(1),
            TIPLINE_POW_DIFFICULTY="4",
        ),
        cwd=workspace["server"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while not ready(f"{url}/readyz"):
            assert server.poll() is None, (workspace["server"] / "gateway.log").read_text()
            assert time.monotonic() < deadline, "the gateway did not start in time"
            time.sleep(0.1)
        run_the_loop(url, fingerprint.group(1), key_file, org_passphrase, workspace)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def run_the_loop(
    url: str, pin: str, key_file: Path, org_passphrase: Path, workspace: dict[str, Path]
) -> None:
    admin_home, alice_home, reporter_home = (
        workspace["admin"], workspace["alice"], workspace["reporter"],
    )  # fmt: skip
    admin_env = environment(admin_home, TIPLINE_GATEWAY_URL=url)
    admin_args = ("--org-key-file", str(key_file), "--passphrase-file", str(org_passphrase))

    invited = ok(tipline("admin", "invite", *admin_args, "--roles", "triage", env=admin_env,
                         cwd=admin_home))  # fmt: skip
    token = invited.strip().splitlines()[-1]

    # Enrollment as a person does it: the secret is shown, the code typed at the prompt.
    alice_env = environment(
        alice_home,
        TIPLINE_GATEWAY_URL=url,
        TIPLINE_PASSPHRASE=PASSPHRASE,
        TIPLINE_CLIENT_DIR=str(alice_home / "client"),
    )
    enrolling = subprocess.Popen(
        [sys.executable, "-m", "gateway", "investigator", "enroll", "--invite", token,
         "--username", "alice", "--display-name", "Alice de Vries"],
        env=alice_env, cwd=alice_home, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert enrolling.stdout is not None
    assert enrolling.stdin is not None
    secret_line = ""
    while "secret:" not in secret_line:
        secret_line = enrolling.stdout.readline()
        assert secret_line, "enroll ended before showing the TOTP secret"
    secret = totp.parse_secret_text(secret_line.split("secret:")[1].strip())
    enrolled_step = totp.step_at(time.time())
    rest, errors = enrolling.communicate(totp.code_for_step(secret, enrolled_step) + "\n", 60)
    assert enrolling.returncode == 0, errors
    assert "waiting to be vetted" in rest

    listing = ok(tipline("admin", "enrollments", *admin_args, env=admin_env, cwd=admin_home))
    enrollment_id = re.search(r"^(\S+)\s+alice\s", listing, re.MULTILINE)
    account_id = re.search(r"account\s+(\S+)", listing)
    assert enrollment_id is not None
    assert account_id is not None
    for fingerprint_line in re.findall(r"(?:encryption|signing) key\s+(\S+)", rest):
        assert fingerprint_line in listing  # what Alice reads out is what the admin sees
    vetted = ok(tipline("admin", "vet", enrollment_id.group(1), *admin_args, "--yes",
                        env=admin_env, cwd=admin_home))  # fmt: skip
    assert "Vetted" in vetted

    reporter_env = environment(reporter_home, TIPLINE_GATEWAY_URL=url, TIPLINE_ORG_KEY=pin)
    code_file = reporter_home / "code"
    ok(tipline("report", "submit", "--no-progress", "--text", "A girl of 15 is kept at the flat",
               "--code-out", str(code_file), env=reporter_env, cwd=reporter_home))  # fmt: skip

    login_code = totp.code_for_step(secret, enrolled_step + 1)  # the enrollment spent its own
    logged_in = ok(tipline("login", "--username", "alice", "--org-key", pin, "--totp-code",
                           login_code, env=alice_env, cwd=alice_home))  # fmt: skip
    assert "Logged in as Alice de Vries" in logged_in
    session_file = alice_home / "client" / "session.json"
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert PASSPHRASE not in session_file.read_text()

    inbox = ok(tipline("inbox", env=alice_env, cwd=alice_home))
    case_id = inbox.split()[0]
    assert re.fullmatch(r"[0-9a-f-]{36}", case_id)
    shown = ok(tipline("case", "show", case_id, env=alice_env, cwd=alice_home))
    assert "A girl of 15 is kept at the flat" in shown
    ok(tipline("case", "ask", case_id, "--text", "Which street is the flat in?",
               env=alice_env, cwd=alice_home))  # fmt: skip
    ok(tipline("case", "note", case_id, env=alice_env, cwd=alice_home,
               stdin="Check with the police liaison"))  # fmt: skip
    read_back = ok(tipline("report", "check", "--code-file", str(code_file), env=reporter_env,
                           cwd=reporter_home))  # fmt: skip
    assert "Which street is the flat in?" in read_back
    assert "police liaison" not in read_back  # internal notes never reach the reporter
    ok(
        tipline(
            "report", "reply", "--code-file", str(code_file), "--text", "Kerkstraat 12",
            env=reporter_env, cwd=reporter_home,
        )
    )  # fmt: skip
    answered = ok(tipline("case", "show", case_id, env=alice_env, cwd=alice_home))
    assert "Kerkstraat 12" in answered
    assert "by Alice de Vries" in answered  # her question, signed and verified
    moved = ok(tipline("case", "status", case_id, "triage", env=alice_env, cwd=alice_home))
    assert "now triage" in moved

    ok(tipline("admin", "revoke", account_id.group(1), *admin_args, "--yes", env=admin_env,
               cwd=admin_home))  # fmt: skip
    refused = tipline("inbox", env=alice_env, cwd=alice_home)
    assert refused.returncode == 1
    assert "session has ended" in refused.stderr
    ok(tipline("logout", env=alice_env, cwd=alice_home))
    assert not session_file.exists()
