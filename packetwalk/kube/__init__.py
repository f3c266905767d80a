"""Cluster access: one small interface (``access.ClusterAccess``), a kubectl/kubernetes-client
implementation for real clusters and an in-memory fake for tests."""
