"""Every version the lab uses, in one place (docs/design/ says where each is from).

Workshops must be reproducible: a chart or image that floats changes the lab under the
participants' feet, so nothing outside this module names a version (``./invoke``, a shell
script, repeats HELM_SDKPY_VERSION; a test keeps the two equal). One exception is known: the
Docker example voting app publishes only ``latest``-style tags, so its three images float until
their digests are pinned here.
"""

from __future__ import annotations

from typing import Final

KUBERNETES_VERSION: Final = "1.36"
"""The Kubernetes minor the lab pins; manifests are validated against it."""

KIND_VERSION: Final = "v0.32.0"
KIND_NODE_IMAGE: Final = (
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
)
"""kind v0.32.0's default node image, pinned by digest as kind's release notes publish it."""
KUBECTL_VERSION: Final = "v1.36.1"
PULUMI_VERSION: Final = "3.272.0"

CNI_PLUGINS_VERSION: Final = "v1.9.1"
"""The reference CNI plugins Flannel needs on every kind node (the node image lacks ``bridge``)."""

FLANNEL_CHART_VERSION: Final = "v0.28.9"
FLANNEL_CHART_REPO: Final = "https://flannel-io.github.io/flannel/"

CALICO_VERSION: Final = "v3.31.5"
CALICO_CHART_REPO: Final = "https://docs.tigera.io/calico/charts"

CILIUM_VERSION: Final = "1.19.3"
CILIUM_CHART_REPO: Final = "https://helm.cilium.io"

METALLB_VERSION: Final = "0.16.1"
METALLB_CHART_REPO: Final = "https://metallb.github.io/metallb"

TRAEFIK_CHART_VERSION: Final = "41.3.0"
TRAEFIK_APP_VERSION: Final = "v3.7.11"
TRAEFIK_CHART_REPO: Final = "https://traefik.github.io/charts"

GATEWAY_API_VERSION: Final = "v1.5.1"

NETSHOOT_IMAGE: Final = "nicolaka/netshoot:v0.16"
COREDNS_STAND_IN_IMAGE: Final = "registry.k8s.io/coredns/coredns:v1.12.1"
"""Only for the never-deployed stand-in the evaluator reads; the cluster brings its own CoreDNS."""
HELM_SDKPY_VERSION: Final = "0.1.32"
"""The helm-sdkpy release whose Helm library renders charts (Helm 4.3.0 inside)."""

VOTE_IMAGE: Final = "dockersamples/examplevotingapp_vote:latest"
RESULT_IMAGE: Final = "dockersamples/examplevotingapp_result:latest"
WORKER_IMAGE: Final = "dockersamples/examplevotingapp_worker:latest"
REDIS_IMAGE: Final = "redis:7.4-alpine"
POSTGRES_IMAGE: Final = "postgres:15-alpine"
