"""Gates: ``kubectl`` commands that hold back later resources until the cluster can take them.

A Ready Deployment or a finished chart does not mean the cluster is ready for what comes next:
nodes get Ready only once their CNI works, and MetalLB's webhook serves only after its
controller has rotated its certificate, although the controller reports Ready before that.
Each gate is a ``pulumi_command`` resource that the next resources depend on.

The kubeconfig arrives in the environment, as a file path (a cluster made elsewhere) or as
content (from the cluster stack), which is written to a private temporary file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import local

NODES_READY_TIMEOUT = "300s"

WEBHOOK_ATTEMPTS = 30
WEBHOOK_MAX_DELAY_SECONDS = 8
"""About three minutes in all: 1, 2, 4, then 8 s between attempts."""

_KUBECONFIG = """set -eu
tmpfiles=""
trap 'rm -f $tmpfiles' EXIT
if [ -n "${PACKETWALK_KUBECONFIG_FILE:-}" ]; then
  kubeconfig="$PACKETWALK_KUBECONFIG_FILE"
else
  kubeconfig=$(mktemp)
  tmpfiles="$tmpfiles $kubeconfig"
  printf '%s' "$PACKETWALK_KUBECONFIG" > "$kubeconfig"
fi
kube() {
  kubectl --kubeconfig "$kubeconfig" \
    ${PACKETWALK_KUBE_CONTEXT:+--context "$PACKETWALK_KUBE_CONTEXT"} "$@"
}
"""


def nodes_ready_script() -> str:
    """Wait until every node is Ready, which a node only becomes once its CNI works."""
    return _KUBECONFIG + (
        f"kube wait --for=condition=Ready nodes --all --timeout={NODES_READY_TIMEOUT}\n"
    )


def webhook_ready_script(
    attempts: int = WEBHOOK_ATTEMPTS, max_delay: int = WEBHOOK_MAX_DELAY_SECONDS
) -> str:
    """Retry a server-side dry run of ``$PACKETWALK_MANIFEST`` until admission accepts it.

    A server-side dry run goes through admission, webhooks included, and persists nothing, so it
    succeeds exactly when creating the objects for real would get past the webhook. Each failed
    attempt is logged with the API's last line ("failed calling webhook ...") and the wait.
    """
    return (
        _KUBECONFIG
        + f"""manifest=$(mktemp)
out=$(mktemp)
tmpfiles="$tmpfiles $manifest $out"
printf '%s' "$PACKETWALK_MANIFEST" > "$manifest"
delay=1
attempt=1
while :; do
  if kube apply --dry-run=server -f "$manifest" > "$out" 2>&1; then
    echo "admission webhook serves (attempt $attempt)"
    exit 0
  fi
  if [ "$attempt" -ge {attempts} ]; then
    echo "admission webhook still refusing after {attempts} attempts:" >&2
    cat "$out" >&2
    exit 1
  fi
  echo "attempt $attempt/{attempts}: $(tail -n 1 "$out"); retrying in ${{delay}}s" >&2
  sleep "$delay"
  attempt=$((attempt + 1))
  delay=$((delay * 2))
  [ "$delay" -le {max_delay} ] || delay={max_delay}
done
"""
    )


@dataclass(frozen=True)
class KubectlAccess:
    """How a gate's kubectl reaches the lab's cluster."""

    kubeconfig: pulumi.Input[str]
    kubeconfig_is_path: bool
    context: pulumi.Input[str] | None

    def environment(self) -> dict[str, pulumi.Input[str]]:
        env: dict[str, pulumi.Input[str]] = {
            "PACKETWALK_KUBECONFIG_FILE"
            if self.kubeconfig_is_path
            else "PACKETWALK_KUBECONFIG": self.kubeconfig,
        }
        if self.context is not None:
            env["PACKETWALK_KUBE_CONTEXT"] = self.context
        return env


def kubectl_gate(
    name: str,
    script: str,
    access: KubectlAccess,
    *,
    parent: pulumi.Resource,
    triggers: Sequence[pulumi.Input[str]],
    timeout: str,
    depends_on: Sequence[pulumi.Resource] = (),
    environment: dict[str, pulumi.Input[str]] | None = None,
) -> local.Command:
    """A ``local.Command`` running ``script`` against the cluster, after ``depends_on``."""
    return local.Command(
        name,
        create=script,
        environment={**access.environment(), **(environment or {})},
        triggers=list(triggers),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            additional_secret_outputs=["environment"],
            custom_timeouts=pulumi.CustomTimeouts(create=timeout),
        ),
    )
