"""Otterize-style ClientIntents, read from YAML and turned into Kubernetes NetworkPolicies.

A ClientIntents object lives in the client's namespace and lists what the client calls. Both of
Otterize's shapes are read (``docs/design/otterize-intents.md``): v2 (``v2beta1`` and
``v2alpha1``: ``spec.workload`` + ``spec.targets``) and v1 (``v1alpha3`` and ``v1beta1``:
``spec.service`` + ``spec.calls``, ``svc:`` prefix for Services); the same intents give the same
policies in either shape.

Input is checked as Otterize's admission webhook checks it (otterize/intents-operator tag
v3.0.19, ``src/operator/webhooks/clientintents_webhook_v2beta1.go`` and its siblings): a second
ClientIntents for the same client workload and kind in a namespace is refused, naming both
places; so are a v2 workload name with a ``.`` and a target name with more than one ``.``.

The generated policies follow the intents-operator where that makes sense:

- one NetworkPolicy per workload, holding its ingress rules (as a server) and its egress rules
  (as a client); ``policyTypes`` lists only the directions with rules (its names differ from
  Otterize's: see "Names" below);
- ingress peers are ONE peer with ``namespaceSelector {kubernetes.io/metadata.name: <ns>}`` AND a
  ``podSelector`` (both must match); egress rules mirror them;
- a ``service`` target allows the Service's ``targetPort`` s (resolved to the container port
  number, so ``vote``'s Service port 8080 gives pod port 80: policies see traffic after DNAT);
  a ``kubernetes`` (workload) target allows all ports;
- ``internet`` targets become egress ``ipBlock`` rules (from ``ips`` only);
- the API server (``service: {name: kubernetes.default}``, v1 ``svc:kubernetes.default``)
  becomes egress to ``ipBlock`` /32 (IPv6: /128) of the ``kubernetes`` Service's ClusterIP and of
  each of its endpoint addresses, on the endpoints' ports, and no ingress rule. The addresses
  come from the objects the policies are built from (that Service and its EndpointSlice or
  Endpoints); when they are not given, generation fails saying what is missing. The endpoint
  (the control plane's address) exists only in a running cluster, so policies built before
  it (the lab's ``invoke up``) cannot include it;
- every client gets DNS egress to ``kube-system`` ``k8s-app: kube-dns`` on UDP and TCP 53.

Deliberate differences from Otterize:

- **Names.** Otterize names the policy of a workload identity ``<name>-<kind>-access``
  (lower-case kind) whenever the identity has a kind, and ``<name>-access`` only for a kind-less
  (legacy) one (otterize/intents-operator v3.0.19,
  ``src/operator/controllers/intents_reconcilers/networkpolicy/reconciler.go`` with
  ``GetRFC1123NameWithKind`` in ``src/shared/serviceidresolver/serviceidentity/serviceidentity.go``;
  a ``service`` target's identity has kind Service, ``GetTargetServerKind``): the voting app
  would get ``vote-deployment-access`` and ``redis-service-access``. packetwalk keys a policy on
  the workload a name resolves to (a ``service`` target on the workloads behind the Service), so
  a workload has one policy however its intents name it, and names it ``<workload>-access``; the
  kind joins (``<workload>-<kind>-access``) only when two workloads of different kinds share a
  name in a namespace. So names stay short and do not change when an intent adds or drops a
  ``kind``, and the lab's text and checks can name ``worker-access`` and ``redis-access``.
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
    API_SERVER_NAMESPACE,
    API_SERVER_SERVICE,
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
from packetwalk.intents.parse import (
    check_unique_clients,
    load_client_intents,
    parse_client_intents,
)
from packetwalk.intents.policies import (
    ApiServerAddressesUnknown,
    PolicyOptions,
    default_deny,
    policies_from_intents,
)
from packetwalk.intents.workloads import Workloads

__all__ = [
    "API_SERVER_NAMESPACE",
    "API_SERVER_SERVICE",
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
    "ApiServerAddressesUnknown",
    "ClientIntents",
    "PolicyOptions",
    "Target",
    "Workloads",
    "check_unique_clients",
    "default_deny",
    "load_client_intents",
    "parse_client_intents",
    "policies_from_intents",
]
