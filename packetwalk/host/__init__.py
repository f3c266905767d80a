"""Adapters to the participant's machine: subprocesses, installed tools and their pinned
downloads, the Pulumi Automation API, and the run folders labs and walks write."""
