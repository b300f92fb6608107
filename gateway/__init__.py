"""Tipline Gateway: an end-to-end encrypted, anonymous tip line."""

__version__ = "0.1.0"
