"""The benchmark harness at tiny size: it must keep running (never a timing test)."""
