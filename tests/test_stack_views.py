"""Rendering of progress lines, change summaries, node rows and the status view."""

from __future__ import annotations

import io

from rich.console import Console

from packetwalk.cli import stack_views
from packetwalk.host.stacks import (
    DiagnosticLine,
    LabOutputs,
    ProjectResult,
    ResourceEvent,
    RunSummary,
    StepStarted,
)


def render(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(renderable)
    return out.getvalue()


def test_event_lines() -> None:
    created = ResourceEvent(
        "packetwalk-lab", "create", "kubernetes:apps/v1:Deployment", "vote", 2.04
    )
    assert stack_views.event_line(created).plain == (
        "  + create            kubernetes:apps/v1:Deployment  vote  2.0s"
    )
    slow = ResourceEvent("packetwalk-cluster", "create", "command:local:Command", "lab", 95.0)
    assert stack_views.event_line(slow).plain.endswith("lab  1m35s")
    failed = ResourceEvent("packetwalk-lab", "create", "t", "vote", None, failed=True)
    assert stack_views.event_line(failed).plain.startswith("  x create failed")
    planned = ResourceEvent("packetwalk-lab", "create", "t", "vote", None, planning=True)
    assert "would create" in stack_views.event_line(planned).plain
    warning = DiagnosticLine("packetwalk-lab", "warning", "first line\nsecond", "vote")
    assert stack_views.event_line(warning).plain == "  warning vote: first line"


def test_printer_tracks_steps_in_progress() -> None:
    out = io.StringIO()
    printer = stack_views.EventPrinter(Console(file=out, width=120, color_system=None))
    printer(StepStarted("packetwalk-cluster", "create", "command:local:Command", "lab-create"))
    assert printer.working() == "in progress: create lab-create"
    assert out.getvalue() == ""  # a start is not a line
    printer(
        ResourceEvent("packetwalk-cluster", "create", "command:local:Command", "lab-create", 61.0)
    )
    assert printer.working() == "working..."
    assert "lab-create  1m01s" in out.getvalue()


def test_changes_text() -> None:
    assert stack_views.changes_text({"same": 12}) == "no changes (12 unchanged)"
    assert stack_views.changes_text({}) == "no changes"
    assert stack_views.changes_text({"create": 3, "same": 2}) == "3 created, 2 unchanged"
    assert stack_views.changes_text({"create": 3}, preview=True) == "3 to create"


def test_run_summary_ends_with_the_urls() -> None:
    summary = RunSummary(
        "kind",
        "up",
        (
            ProjectResult("packetwalk-cluster", "up", {"same": 4}),
            ProjectResult("packetwalk-lab", "up", {"same": 30}),
        ),
        notes=("packetwalk-lab: removed the lock of an earlier run (its process is gone)",),
    )
    outputs = LabOutputs(
        {}, {"voteUrl": "http://vote.localhost", "resultUrl": "http://result.localhost"}
    )
    text = render(stack_views.run_summary(summary, outputs))
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0].startswith("note: packetwalk-lab: removed the lock")
    assert "Lab is up to date: no changes." in text
    assert lines[-2:] == ["   vote: http://vote.localhost", " result: http://result.localhost"]


def test_node_rows_from_kubectl_json() -> None:
    rows = stack_views.node_rows(
        [
            {
                "metadata": {"name": "w", "labels": {}},
                "status": {"conditions": [{"type": "Ready", "status": "False"}]},
            },
            {"metadata": {"name": "cp", "labels": {"node-role.kubernetes.io/control-plane": ""}}},
        ]
    )
    assert [(r.name, r.roles, r.ready) for r in rows] == [
        ("w", "worker", "NotReady"),
        ("cp", "control-plane", "unknown"),
    ]


def test_status_view_prefers_outputs_and_marks_configured_fallbacks() -> None:
    outputs = LabOutputs(
        {"cni": "cilium", "nodes": ["a", "b"], "extra": 1},
        {"voteUrl": "http://vote.localhost"},
        frozenset({"kubeconfig"}),
    )
    text = render(
        stack_views.status_view(
            "kind-cilium",
            outputs,
            configured={"kube_proxy_mode": "none", "cni": "cilium"},
            nodes=None,
        )
    )
    assert "cilium" in text and "none (configured)" in text
    assert "nodes (from the stack outputs): a, b" in text
    assert "extra" in text and "secret outputs (not shown): kubeconfig" in text


def test_status_view_names_a_deployed_cni_the_stack_config_no_longer_says() -> None:
    outputs = LabOutputs({"cni": "kindnet", "kubeProxyMode": "iptables"}, {}, frozenset())
    text = render(
        stack_views.status_view(
            "kind",
            outputs,
            configured={"cni": "cilium", "kube_proxy_mode": "iptables"},
            nodes=None,
        )
    )
    assert "kindnet  (the stack config now says cilium: `invoke up` applies it)" in text
    assert "now says iptables" not in text


def _gke_outputs(count: int) -> LabOutputs:
    people = [
        {
            "name": f"p0{i}",
            "namespace": f"vote-p0{i}",
            "cluster": "packetwalk-gke",
            "voteUrl": f"http://vote-p0{i}.198.51.100.1.nip.io",
            "resultUrl": f"http://result-p0{i}.198.51.100.1.nip.io",
            "ingressAddress": "198.51.100.1",
        }
        for i in range(1, count + 1)
    ]
    return LabOutputs(
        {
            "platform": "gke",
            "clusterName": "packetwalk-gke",
            "ingressAddress": "198.51.100.1",
            "ingressAddresses": {"packetwalk-gke": "198.51.100.1"},
            "clusters": ["packetwalk-gke"],
        },
        {
            "voteUrl": people[0]["voteUrl"],
            "resultUrl": people[0]["resultUrl"],
            "participants": people,
        },
        frozenset({"kubeconfig", "kubeconfigs"}),
    )


def test_status_lists_every_participants_urls() -> None:
    text = render(stack_views.status_view("gke", _gke_outputs(3), configured={}, nodes=None))
    assert "participants" in text
    for i in (1, 2, 3):
        assert f"vote-p0{i}" in text and f"http://result-p0{i}.198.51.100.1.nip.io" in text
    assert "other outputs" not in text  # the GKE bookkeeping outputs are not dumped


def test_one_participant_gets_the_plain_url_rows() -> None:
    text = render(stack_views.status_view("gke", _gke_outputs(1), configured={}, nodes=None))
    assert "participants" not in text
    assert "http://vote-p01.198.51.100.1.nip.io" in text and "198.51.100.1" in text


def test_up_summary_lists_participants() -> None:
    summary = RunSummary("gke", "up", (ProjectResult("packetwalk-lab", "up", {"create": 3}),))
    text = render(stack_views.run_summary(summary, _gke_outputs(2)))
    assert "http://vote-p02.198.51.100.1.nip.io" in text and "vote-p01" in text
