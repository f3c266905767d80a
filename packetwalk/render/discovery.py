"""The built-in API resources a kind cluster of the pinned Kubernetes minor serves.

The recording API stand-in (:mod:`packetwalk.render.apiserver`) answers discovery from this table,
so Helm maps every kind a chart renders to its REST path and scope exactly as against a real
cluster, and refuses a kind the cluster would not know ("no matches for kind"), which is the
signal we want when a chart needs an API the lab does not have. CRDs add to it at run time.

The list is what ``kubectl api-resources`` prints on a kind v1.36 cluster for the groups charts
use; alpha and beta groups that kind does not enable are left out on purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ApiResource:
    """One resource of a group version: what discovery says about it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


_KUBE_VERSION = re.compile(r"v(?P<major>[0-9]+)(?:(?P<stage>alpha|beta)(?P<minor>[0-9]+))?")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting a group's versions in the API server's order, preferred first.

    apimachinery's ``CompareKubeAwareVersionStrings``: GA before beta before alpha, higher
    numbers first, then anything else in name order. Discovery lists a group's versions in this
    order and prefers the first, so a CRD listing ``v1beta1`` after ``v1`` still prefers ``v1``.
    """
    found = _KUBE_VERSION.fullmatch(version)
    if found is None:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[found["stage"]]
    return (stage, -int(found["major"]), -int(found["minor"] or 0), "")


def _group(
    group: str,
    version: str,
    namespaced: dict[str, str],
    cluster: dict[str, str] | None = None,
    status: frozenset[str] = frozenset(),
) -> list[ApiResource]:
    resources = [
        ApiResource(group, version, plural, kind, True, ("status",) if plural in status else ())
        for plural, kind in namespaced.items()
    ]
    resources += [
        ApiResource(group, version, plural, kind, False, ("status",) if plural in status else ())
        for plural, kind in (cluster or {}).items()
    ]
    return resources


BUILTIN_RESOURCES: tuple[ApiResource, ...] = tuple(
    _group(
        "",
        "v1",
        {
            "bindings": "Binding",
            "configmaps": "ConfigMap",
            "endpoints": "Endpoints",
            "events": "Event",
            "limitranges": "LimitRange",
            "persistentvolumeclaims": "PersistentVolumeClaim",
            "pods": "Pod",
            "podtemplates": "PodTemplate",
            "replicationcontrollers": "ReplicationController",
            "resourcequotas": "ResourceQuota",
            "secrets": "Secret",
            "serviceaccounts": "ServiceAccount",
            "services": "Service",
        },
        {
            "componentstatuses": "ComponentStatus",
            "namespaces": "Namespace",
            "nodes": "Node",
            "persistentvolumes": "PersistentVolume",
        },
        status=frozenset(
            {
                "pods",
                "services",
                "namespaces",
                "nodes",
                "persistentvolumeclaims",
                "persistentvolumes",
                "replicationcontrollers",
                "resourcequotas",
            }
        ),
    )
    + _group(
        "apps",
        "v1",
        {
            "controllerrevisions": "ControllerRevision",
            "daemonsets": "DaemonSet",
            "deployments": "Deployment",
            "replicasets": "ReplicaSet",
            "statefulsets": "StatefulSet",
        },
        status=frozenset({"daemonsets", "deployments", "replicasets", "statefulsets"}),
    )
    + _group(
        "batch",
        "v1",
        {"cronjobs": "CronJob", "jobs": "Job"},
        status=frozenset({"cronjobs", "jobs"}),
    )
    + _group("autoscaling", "v1", {"horizontalpodautoscalers": "HorizontalPodAutoscaler"})
    + _group("autoscaling", "v2", {"horizontalpodautoscalers": "HorizontalPodAutoscaler"})
    + _group(
        "policy",
        "v1",
        {"poddisruptionbudgets": "PodDisruptionBudget"},
        status=frozenset({"poddisruptionbudgets"}),
    )
    + _group(
        "rbac.authorization.k8s.io",
        "v1",
        {"rolebindings": "RoleBinding", "roles": "Role"},
        {"clusterrolebindings": "ClusterRoleBinding", "clusterroles": "ClusterRole"},
    )
    + _group(
        "networking.k8s.io",
        "v1",
        {"ingresses": "Ingress", "networkpolicies": "NetworkPolicy"},
        {
            "ingressclasses": "IngressClass",
            "ipaddresses": "IPAddress",
            "servicecidrs": "ServiceCIDR",
        },
        status=frozenset({"ingresses"}),
    )
    + _group("discovery.k8s.io", "v1", {"endpointslices": "EndpointSlice"})
    + _group(
        "authentication.k8s.io",
        "v1",
        {},
        {"selfsubjectreviews": "SelfSubjectReview", "tokenreviews": "TokenReview"},
    )
    + _group(
        "authorization.k8s.io",
        "v1",
        {"localsubjectaccessreviews": "LocalSubjectAccessReview"},
        {
            "selfsubjectaccessreviews": "SelfSubjectAccessReview",
            "selfsubjectrulesreviews": "SelfSubjectRulesReview",
            "subjectaccessreviews": "SubjectAccessReview",
        },
    )
    + _group("coordination.k8s.io", "v1", {"leases": "Lease"})
    + _group("events.k8s.io", "v1", {"events": "Event"})
    + _group("scheduling.k8s.io", "v1", {}, {"priorityclasses": "PriorityClass"})
    + _group("node.k8s.io", "v1", {}, {"runtimeclasses": "RuntimeClass"})
    + _group(
        "storage.k8s.io",
        "v1",
        {"csistoragecapacities": "CSIStorageCapacity"},
        {
            "csidrivers": "CSIDriver",
            "csinodes": "CSINode",
            "storageclasses": "StorageClass",
            "volumeattachments": "VolumeAttachment",
            "volumeattributesclasses": "VolumeAttributesClass",
        },
        status=frozenset({"volumeattachments"}),
    )
    + _group(
        "resource.k8s.io",
        "v1",
        {"resourceclaims": "ResourceClaim", "resourceclaimtemplates": "ResourceClaimTemplate"},
        {"deviceclasses": "DeviceClass", "resourceslices": "ResourceSlice"},
        status=frozenset({"resourceclaims"}),
    )
    + _group(
        "certificates.k8s.io", "v1", {}, {"certificatesigningrequests": "CertificateSigningRequest"}
    )
    + _group(
        "admissionregistration.k8s.io",
        "v1",
        {},
        {
            "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
            "validatingadmissionpolicies": "ValidatingAdmissionPolicy",
            "validatingadmissionpolicybindings": "ValidatingAdmissionPolicyBinding",
            "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
        },
    )
    + _group(
        "apiextensions.k8s.io",
        "v1",
        {},
        {"customresourcedefinitions": "CustomResourceDefinition"},
        status=frozenset({"customresourcedefinitions"}),
    )
    + _group(
        "apiregistration.k8s.io",
        "v1",
        {},
        {"apiservices": "APIService"},
        status=frozenset({"apiservices"}),
    )
    + _group(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        {},
        {"flowschemas": "FlowSchema", "prioritylevelconfigurations": "PriorityLevelConfiguration"},
    )
)
