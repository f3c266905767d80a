"""Placeholder module: its tasks are being written (see the open issues)."""
