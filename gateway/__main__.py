"""`python -m gateway` runs the `tipline` command."""

import sys

from gateway.cli import main

sys.exit(main())
