"""Otterize-style ClientIntents, read from YAML and turned into Kubernetes NetworkPolicies.

A ClientIntents object lives in the client's namespace and lists what the client calls. Both of
Otterize's shapes are read (``shared/reference/otterize-intents.md``): v2 (``v2beta1`` and
``v2alpha1``: ``spec.workload`` + ``spec.targets``) and v1 (``v1alpha3`` and ``v1beta1``:
``spec.service`` + ``spec.calls``, ``svc:`` prefix for Services); the same intents give the same
policies in either shape.

The generated policies follow the intents-operator where that makes sense:

- one ``<workload>-access`` NetworkPolicy per workload, holding its ingress rules (as a server)
  and its egress rules (as a client); ``policyTypes`` lists only the directions with rules;
  ``<workload>-<kind>-access`` when two kinds share a name;
- ingress peers are ONE peer with ``namespaceSelector {kubernetes.io/metadata.name: <ns>}`` AND a
  ``podSelector`` (both must match); egress rules mirror them;
- a ``service`` target allows the Service's ``targetPort`` s (resolved to the container port
  number, so ``vote``'s Service port 8080 gives pod port 80: policies see traffic after DNAT);
  a ``kubernetes`` (workload) target allows all ports;
- ``internet`` targets become egress ``ipBlock`` rules (from ``ips`` only);
- every client gets DNS egress to ``kube-system`` ``k8s-app: kube-dns`` on UDP and TCP 53.

Deliberate differences from Otterize:

- **Selectors.** Otterize selects pods by labels its operator puts on them at runtime
  (``intents.otterize.com/access-…``). packetwalk has no operator: policies must be right the
  moment they are applied, and the evaluator must read them without a cluster. So peers and
  ``podSelector`` s use each workload's own selector (its Deployment's ``spec.selector``, i.e. its
  pod template labels).
- **Egress is always on**, and a namespace ``default-deny`` (ingress and egress, ``podSelector:
  {}``) is generated; Otterize leaves both off by default.
- **Egress to a Service lists only targetPorts**, not targetPort and port (Otterize #592 adds the
  Service port for CNIs that evaluate before DNAT; none of the lab's CNIs does, and the extra port
  would show up as an unexplained allowed flow).
- **Only managed namespaces get policies** (``PolicyOptions.namespaces``, the lab's app
  namespace). For an edge whose other end is outside them (Traefik in ``traefik`` calling
  ``vote``), only the half inside is written: ingress on ``vote``. Writing Traefik's egress into
  ``traefik`` would *isolate* Traefik for egress, cutting everything else it talks to (the API
  server, other apps' backends) which no intents file here describes.
- Targets NetworkPolicy cannot express are refused with the reason, not silently dropped:
  ``sql``, ``aws``, ``gcp``, ``azure`` (cloud/database permissions, not network paths),
  ``kafka`` (topic-level rules), ``http`` (L7 paths need a mesh) and ``internet.domains`` (needs
  DNS resolution at runtime).
"""

from __future__ import annotations

from packetwalk.intents.model import (
    API_VERSIONS,
    DEFAULT_DENY_NAME,
    GENERATED_FROM_LABEL,
    GROUP,
    INTENTS_ANNOTATION,
    MANAGED_BY,
    NS_LABEL,
    SOURCE_ANNOTATION,
    SUPPORTED_TARGETS,
    UNSUPPORTED_TARGETS,
    ClientIntents,
    Target,
)
from packetwalk.intents.parse import load_client_intents, parse_client_intents
from packetwalk.intents.policies import PolicyOptions, default_deny, policies_from_intents
from packetwalk.intents.workloads import (
    ContainerPort,
    Service,
    ServicePort,
    Workload,
    Workloads,
)

__all__ = [
    "API_VERSIONS",
    "DEFAULT_DENY_NAME",
    "GENERATED_FROM_LABEL",
    "GROUP",
    "INTENTS_ANNOTATION",
    "MANAGED_BY",
    "NS_LABEL",
    "SOURCE_ANNOTATION",
    "SUPPORTED_TARGETS",
    "UNSUPPORTED_TARGETS",
    "ClientIntents",
    "ContainerPort",
    "PolicyOptions",
    "Service",
    "ServicePort",
    "Target",
    "Workload",
    "Workloads",
    "default_deny",
    "load_client_intents",
    "parse_client_intents",
    "policies_from_intents",
]
