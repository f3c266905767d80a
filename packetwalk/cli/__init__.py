"""Invoke tasks and terminal views: thin adapters that parse, call the core and print."""
