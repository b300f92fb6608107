"""Measure what protocol v1 cryptography costs here; the figures go into docs/PROTOCOL.md.

Run: .venv/bin/python tests/bench/crypto_costs.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator

from gateway.crypto.directory import Directory, sign_entry, verify_directory
from gateway.crypto.envelope import open_as, parse_envelope, seal, verify_envelope_signature
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keybundle import derive_login_keys
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys, X25519KeyPair
from gateway.crypto.message import MessageContent
from gateway.crypto.pickup import PickupCode, derive_reporter_keys
from gateway.crypto.pow import issue_challenge, solve
from gateway.crypto.stream import decrypt_stream, encrypt_stream

NOW = 1_767_225_600


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of each of `repeat` runs (after one warm-up run)."""
    action()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, seconds: list[float], unit: str) -> None:
    scale = {"ms": 1e3, "µs": 1e6}[unit]
    median = statistics.median(seconds) * scale
    low, high = min(seconds) * scale, max(seconds) * scale
    print(f"{name:<52} {median:>10.1f} {unit}   (min {low:.1f}, max {high:.1f}, n={len(seconds)})")


def main() -> int:
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    org = Ed25519KeyPair.generate()
    code = PickupCode.generate()
    report(
        "pickup code -> locator + reporter key (Argon2id v1)",
        timed(lambda: derive_reporter_keys(code, org.public), 7),
        "ms",
    )
    report(
        "passphrase -> auth_key + wrap_key (Argon2id v1)",
        timed(lambda: derive_login_keys("a passphrase", bytes(16), V1_PARAMS), 7),
        "ms",
    )

    content = MessageContent(kind="tip", body="x" * 800, created=NOW, fields={"where": "here"})
    for count in (1, 3, 20):
        recipients = [X25519KeyPair.generate() for _ in range(count)]
        keys = [r.public for r in recipients]
        report(
            f"seal a 1 KiB-bucket tip for {count} recipient(s)",
            timed(lambda keys=keys: seal(content, recipients=keys, case=None), 200),
            "µs",
        )
    recipients = [X25519KeyPair.generate() for _ in range(20)]
    envelope = seal(content, recipients=[r.public for r in recipients], case=None)
    wire = envelope.encode()
    report("parse an envelope (20 recipients)", timed(lambda: parse_envelope(wire), 200), "µs")
    report(
        "open an envelope as the last of 20 recipients",
        timed(lambda: open_as(envelope, recipients[-1]), 200),
        "µs",
    )
    author = InvestigatorKeys.generate()
    question = MessageContent(kind="followup", body="?" * 200, created=NOW)
    signed = seal(question, recipients=[recipients[0].public], case="c", signer=author.sig)
    report(
        "seal + sign a follow-up for 1 recipient",
        timed(
            lambda: seal(question, recipients=[recipients[0].public], case="c", signer=author.sig),
            200,
        ),
        "µs",
    )
    report(
        "verify a follow-up's signature",
        timed(lambda: verify_envelope_signature(signed, author.sig.public), 200),
        "µs",
    )

    directory = Directory.empty(org.public)
    for i in range(100):
        member = InvestigatorKeys.generate()
        entry = directory.add_entry(
            investigator_id=f"inv{i}",
            name=f"Investigator {i}",
            roles=["investigator", "triage"],
            enc_pk=member.enc.public,
            sig_pk=member.sig.public,
            not_after=NOW + 86_400,
        )
        directory = directory.extend(sign_entry(org, entry))
    report(
        "verify a 100-entry directory chain",
        timed(lambda: verify_directory(org.public, directory.entries), 10),
        "ms",
    )

    size = 64 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    key = os.urandom(32)

    def content_blocks() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    start = time.perf_counter()
    ciphertext = list(encrypt_stream(key, content_blocks(), size))
    encrypt_seconds = time.perf_counter() - start
    start = time.perf_counter()
    total = sum(len(piece) for piece in decrypt_stream(key, ciphertext))
    decrypt_seconds = time.perf_counter() - start
    assert total == size
    print(f"{'stream encrypt, 64 MiB attachment':<52} {size / encrypt_seconds / 1e6:>10.0f} MB/s")
    print(f"{'stream decrypt, 64 MiB attachment':<52} {size / decrypt_seconds / 1e6:>10.0f} MB/s")

    pow_key = os.urandom(32)
    for difficulty in (12, 16, 18, 20):
        trials = 20 if difficulty <= 16 else 8

        def solve_one(difficulty: int = difficulty) -> None:
            solve(issue_challenge(pow_key, purpose="submit", difficulty=difficulty, now=NOW))

        # Solving time is geometrically distributed: the mean is what a client waits on average.
        times = timed(solve_one, trials)
        label = f"proof of work, difficulty {difficulty} bits"
        print(f"{label:<52} {statistics.mean(times) * 1e3:>10.1f} ms   (mean, n={trials})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
