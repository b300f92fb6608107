"""Coverage-guided fuzzing of every untrusted-input parser with atheris (libFuzzer), on demand.

    make fuzz                                   # every parser, 10 minutes
    .venv/bin/python tests/security/fuzz_atheris.py -max_total_time=60
    TIPLINE_FUZZ_TARGET="signed directory" .venv/bin/python tests/security/fuzz_atheris.py

The first input byte picks the parser (unless TIPLINE_FUZZ_TARGET names one); the rest is
its input, seeded from the valid examples in parser_targets.py. A parser may refuse only
with the protocol's own errors; anything else escaping is reported by libFuzzer as a crash
with the input that caused it (saved as crash-<hash> in the working folder).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["gateway"]):
    from tests.security.parser_targets import REFUSALS, TARGETS

ORDER = sorted(TARGETS)
CHOSEN = os.environ.get("TIPLINE_FUZZ_TARGET")


def test_one_input(data: bytes) -> None:
    if CHOSEN is not None:
        target = TARGETS[CHOSEN]
    elif data:
        target, data = TARGETS[ORDER[data[0] % len(ORDER)]], data[1:]
    else:
        return
    with contextlib.suppress(REFUSALS):
        target.parse(data)


def seed_corpus() -> str:
    """A folder of the valid seeds, prefixed with their target's selector byte."""
    folder = tempfile.mkdtemp(prefix="tipline-fuzz-corpus-")
    for index, name in enumerate(ORDER):
        if CHOSEN is not None and name != CHOSEN:
            continue
        prefix = b"" if CHOSEN is not None else bytes([index])
        Path(folder, f"seed-{index}").write_bytes(prefix + TARGETS[name].seed)
    return folder


def main() -> None:
    corpus = seed_corpus()
    arguments = (
        [*sys.argv, corpus] if not any(not a.startswith("-") for a in sys.argv[1:]) else sys.argv
    )
    atheris.Setup(arguments, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
