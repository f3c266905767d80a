"""Pictures: Graphviz dot text (valid for ``dot``) and a Mermaid flowchart."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from packetwalk.netpol.evaluator import Analysis, analyze
from packetwalk.netpol.graph import to_dot, to_mermaid
from packetwalk.netpol.loader import cluster_from_objects

TEXT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: "we\\"b", namespace: a}
spec: {template: {metadata: {labels: {app: web}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: b}
spec: {template: {metadata: {labels: {app: db}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: b}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}, {ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 5432}]}]
"""


def _analysis() -> Analysis:
    return analyze(cluster_from_objects([o for o in yaml.safe_load_all(TEXT) if o], source="t"))


def test_dot_has_namespaces_nodes_and_labelled_edges() -> None:
    dot = to_dot(_analysis(), title="t")
    assert dot.startswith("digraph connectivity {") and dot.rstrip().endswith("}")
    assert 'label="namespace a"' in dot and 'label="namespace b"' in dot
    assert '"a/we\\"b[Deployment]" -> "b/db[Deployment]" [label="TCP 5432"' in dot
    assert '"10.0.0.0-10.255.255.255[External]" -> "b/db[Deployment]"' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_dot_text_is_accepted_by_graphviz() -> None:
    result = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(_analysis()).encode(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert b"TCP 5432" in result.stdout


def test_mermaid_flowchart() -> None:
    text = to_mermaid(_analysis())
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert any(line.strip().startswith('subgraph ns0["namespace a"]') for line in lines)
    assert any('-->|"TCP 5432"|' in line for line in lines)
    assert "#quot;" in text  # the quote in the workload name is escaped
