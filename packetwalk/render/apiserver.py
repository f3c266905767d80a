"""A small recording stand-in for the Kubernetes API, on 127.0.0.1, for rendering charts with Helm.

helm-sdkpy (the Helm v4 Go library behind a cffi binding) has no ``template`` call: it only
installs against an API server. This server is the smallest API that a Helm install needs and
that behaves like a real one where it matters for what gets rendered:

- discovery (``/version``, ``/api``, ``/apis`` and each group version) from
  :data:`packetwalk.render.discovery.BUILTIN_RESOURCES`, growing as CRDs are created, so kinds map
  to REST paths and scopes as on a kind cluster of the pinned minor, and an unknown kind fails;
- object create/get/list/replace/patch/delete, kept in memory, with label selectors on lists
  (Helm finds its release Secrets by ``owner=helm,name=...``);
- a created CRD is answered as Established at once, with its names accepted, and its kinds are
  served until it is deleted;
- OpenAPI v3 (``/openapi/v3`` and a document per group version) only as far as client-go's
  field-validation check reads it: every kind's PATCH takes ``fieldValidation``, so Helm leaves
  validation to the server and validates nothing itself (it builds hook manifests with validation
  on whatever the install options say). The stand-in validates nothing either, like the
  client-only render of ``helm.v4.Chart``; ``/openapi/v2`` is not served;
- an object in a namespace that does not exist is refused with the API server's own 404
  (``namespaces "x" not found``), the error a chart without its namespace meets on a real cluster.

Every write is recorded in order (:attr:`StandInApiServer.writes`), and every request that was
answered 404 for lack of a route is kept in :attr:`StandInApiServer.unrouted`, so a test sees what
Helm asked for that the stand-in does not serve. No authentication, no admission, no controllers:
nothing ever becomes Ready, so installs run without waiting. The one exception is a chart hook:
Helm waits for a hook Job or Pod to finish even without ``wait``, and ``helm.v4.Chart`` runs no
hooks at all, so a Job or Pod annotated ``helm.sh/hook`` is stored as already finished.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from packetwalk.lab import versions
from packetwalk.render import protobuf
from packetwalk.render.discovery import BUILTIN_RESOURCES, ApiResource, version_priority

INITIAL_NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
)
"""The namespaces a fresh kind cluster has before anything is installed."""

Json = dict[str, Any]


@dataclass(frozen=True)
class Write:
    """One accepted write: verb (create, replace, patch, delete), resource, namespace, object."""

    verb: str
    resource: ApiResource
    namespace: str
    name: str
    body: Json


@dataclass(frozen=True)
class _Route:
    resource: ApiResource
    namespace: str
    name: str
    subresource: str


class ApiError(Exception):
    """A Kubernetes ``Status`` failure, sent back with its HTTP code."""

    def __init__(self, code: HTTPStatus, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> Json:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": int(self.code),
        }


@dataclass
class ClusterState:
    """The stand-in's objects and API resources; safe to use from the server's threads."""

    resources: dict[tuple[str, str], ApiResource] = field(default_factory=dict)
    objects: dict[tuple[str, str, str, str], Json] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    unrouted: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _revision: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for resource in BUILTIN_RESOURCES:
            self.resources[(resource.group_version, resource.plural)] = resource
        namespaces = self.resources[("v1", "namespaces")]
        for name in INITIAL_NAMESPACES:
            self._store(
                namespaces,
                "",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )

    # --- discovery -----------------------------------------------------------------------

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> its versions, in the API server's priority order (the first is preferred)."""
        groups: dict[str, list[str]] = {}
        with self.lock:
            for resource in self.resources.values():
                known = groups.setdefault(resource.group, [])
                if resource.version not in known:
                    known.append(resource.version)
        return {group: sorted(found, key=version_priority) for group, found in groups.items()}

    def api_group(self, group: str) -> Json | None:
        """The ``APIGroup`` discovery document of ``group``, or None when it is not served."""
        found = self.group_versions().get(group) if group else None
        if not found:
            return None
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in found],
            "preferredVersion": {"groupVersion": f"{group}/{found[0]}", "version": found[0]},
        }

    def resource_list(self, group_version: str) -> Json | None:
        with self.lock:
            served = [r for r in self.resources.values() if r.group_version == group_version]
        if not served:
            return None
        entries: list[Json] = []
        for r in served:
            entries.append(
                {
                    "name": r.plural,
                    "singularName": r.singular,
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": [
                        "create",
                        "delete",
                        "deletecollection",
                        "get",
                        "list",
                        "patch",
                        "update",
                        "watch",
                    ],
                }
            )
            entries += [
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }
                for sub in r.subresources
            ]
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": entries,
        }

    def openapi_paths(self) -> Json:
        """``/openapi/v3``: where each group version's document is; the hash changes with it."""
        with self.lock:
            served = sorted({r.group_version for r in self.resources.values()})
        paths: Json = {}
        for group_version in served:
            path = _openapi_path(group_version)
            digest = hashlib.sha256(
                json.dumps(self.openapi_document(group_version), sort_keys=True).encode()
            ).hexdigest()[:16]
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
        return {"paths": paths}

    def openapi_document(self, group_version: str) -> Json | None:
        """One group version's OpenAPI v3 document: each kind's PATCH with ``fieldValidation``.

        That is all client-go's ``QueryParamVerifierV3`` looks for; no schemas are published,
        since nothing here validates objects against them.
        """
        with self.lock:
            served = [r for r in self.resources.values() if r.group_version == group_version]
        if not served:
            return None
        prefix = f"/{_openapi_path(group_version)}"
        paths: Json = {}
        for r in served:
            scope = "/namespaces/{namespace}" if r.namespaced else ""
            paths[f"{prefix}{scope}/{r.plural}/{{name}}"] = {
                "patch": {
                    "operationId": f"patch{r.kind}",
                    "x-kubernetes-group-version-kind": {
                        "group": r.group,
                        "version": r.version,
                        "kind": r.kind,
                    },
                    "parameters": [
                        {
                            "name": "fieldValidation",
                            "in": "query",
                            "schema": {"type": "string", "uniqueItems": True},
                        }
                    ],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        return {
            "openapi": "3.0.0",
            "info": {
                "title": "Kubernetes (packetwalk stand-in)",
                "version": versions.KUBECTL_VERSION,
            },
            "paths": paths,
            "components": {"schemas": {}},
        }

    def find_kind(self, api_version: str, kind: str) -> ApiResource | None:
        with self.lock:
            for resource in self.resources.values():
                if resource.group_version == api_version and resource.kind == kind:
                    return resource
        return None

    # --- objects -------------------------------------------------------------------------

    def _key(self, resource: ApiResource, namespace: str, name: str) -> tuple[str, str, str, str]:
        return (resource.group_version, resource.plural, namespace, name)

    def _store(self, resource: ApiResource, namespace: str, body: Json) -> Json:
        metadata = body.setdefault("metadata", {})
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        metadata["resourceVersion"] = str(next(self._revision))
        if resource.namespaced:
            metadata["namespace"] = namespace
        else:  # as the API server does: a cluster-scoped object has no namespace
            metadata.pop("namespace", None)
        self.objects[self._key(resource, namespace, metadata["name"])] = body
        return body

    def _require_namespace(self, resource: ApiResource, namespace: str) -> None:
        if resource.namespaced and ("v1", "namespaces", "", namespace) not in self.objects:
            raise ApiError(HTTPStatus.NOT_FOUND, "NotFound", f'namespaces "{namespace}" not found')

    def get(self, route: _Route) -> Json:
        with self.lock:
            found = self.objects.get(self._key(route.resource, route.namespace, route.name))
            if found is None:
                raise _not_found(route)
            return copy.deepcopy(found)

    def list(self, resource: ApiResource, namespace: str, selector: str) -> Json:
        match = parse_label_selector(selector)
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (gv, plural, ns, _), obj in self.objects.items()
                if gv == resource.group_version
                and plural == resource.plural
                and (not namespace or ns == namespace)
                and match((obj.get("metadata") or {}).get("labels") or {})
            ]
            revision = str(next(self._revision))
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": {"resourceVersion": revision},
            "items": items,
        }

    def create(self, resource: ApiResource, namespace: str, body: Json) -> Json:
        metadata = _metadata(body)
        if resource.namespaced and not namespace:
            # Namespaced kinds take creates only under /namespaces/<ns>/.
            raise ApiError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        _same_namespace(resource, namespace, metadata)
        with self.lock:
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
            name = metadata.get("name")
            if not name:
                raise ApiError(
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    "Invalid",
                    f"{resource.kind} is invalid: metadata.name: Required value",
                )
            self._require_namespace(resource, namespace)
            if self._key(resource, namespace, name) in self.objects:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    "AlreadyExists",
                    f'{resource.plural} "{name}" already exists',
                )
            if _is_crd(resource):
                _check_crd(body)
            self.writes.append(Write("create", resource, namespace, name, copy.deepcopy(body)))
            if _is_crd(resource):
                self._serve_crd(body)
            if "helm.sh/hook" in (metadata.get("annotations") or {}):
                _finish_hook(resource, body)
            return copy.deepcopy(self._store(resource, namespace, body))

    def replace(self, route: _Route, body: Json) -> Json:
        metadata = _metadata(body)
        if metadata.get("name", route.name) != route.name:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "BadRequest",
                f"the name of the object ({metadata['name']}) does not match the "
                f"name on the URL ({route.name})",
            )
        _same_namespace(route.resource, route.namespace, metadata)
        with self.lock:
            current = self.get(route)
            if _is_crd(route.resource):
                _check_crd(body)
            self.writes.append(
                Write("replace", route.resource, route.namespace, route.name, copy.deepcopy(body))
            )
            metadata["name"] = route.name
            # A replace keeps the object's identity, as on the API server.
            for kept in ("uid", "creationTimestamp"):
                metadata[kept] = current["metadata"][kept]
            return copy.deepcopy(self._update(route, current, body))

    def patch(self, route: _Route, patch: Any, content_type: str) -> Json:
        with self.lock:
            current = self.get(route)
            if content_type.startswith("application/json-patch+json"):
                patched = apply_json_patch(current, patch)
            else:  # merge and strategic-merge: for the maps Helm patches, both merge keys
                patched = merge_patch(current, patch)
            if not isinstance(patched, dict):
                raise ApiError(
                    HTTPStatus.UNPROCESSABLE_ENTITY, "Invalid", "the patch does not leave an object"
                )
            if _is_crd(route.resource):
                _check_crd(patched)
            self.writes.append(
                Write("patch", route.resource, route.namespace, route.name, copy.deepcopy(patch))
            )
            return copy.deepcopy(self._update(route, current, patched))

    def _update(self, route: _Route, current: Json, body: Json) -> Json:
        """Store a replaced or patched object; a CRD's served kinds follow its new spec."""
        if _is_crd(route.resource):
            _check_crd(body)
            self._unserve_crd(current, drop_objects=False)
            self._serve_crd(body)
        return self._store(route.resource, route.namespace, body)

    def delete(self, route: _Route) -> Json:
        with self.lock:
            found = self.get(route)
            del self.objects[self._key(route.resource, route.namespace, route.name)]
            if _is_crd(route.resource):
                self._unserve_crd(found, drop_objects=True)
            self.writes.append(Write("delete", route.resource, route.namespace, route.name, {}))
            return found

    def _unserve_crd(self, crd: Json, *, drop_objects: bool) -> None:
        """Stop serving a CRD's kinds; on its deletion its objects go too, as on a cluster."""
        spec = crd.get("spec") or {}
        plural = (spec.get("names") or {}).get("plural", "")
        gone = {
            gv
            for gv, p in self.resources
            if p == plural and gv.startswith(f"{spec.get('group', '')}/")
        }
        for group_version in gone:
            del self.resources[(group_version, plural)]
        if drop_objects:
            for key in [k for k in self.objects if k[1] == plural and k[0] in gone]:
                del self.objects[key]

    def _serve_crd(self, crd: Json) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            resource = ApiResource(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope") == "Namespaced",
                subresources=tuple(sorted(version.get("subresources") or {})),
            )
            self.resources[(resource.group_version, resource.plural)] = resource
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": _now(),
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": _now(),
                },
            ],
        }

    # --- routing -------------------------------------------------------------------------

    def route(self, path: str) -> _Route | None:
        """The resource, namespace, name and subresource a REST path names, or None."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group_version, rest = "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        namespace = ""
        with self.lock:
            if (
                len(rest) >= 3
                and rest[0] == "namespaces"
                and (group_version, rest[2]) in self.resources
                and self.resources[(group_version, rest[2])].namespaced
            ):
                namespace, rest = rest[1], rest[2:]
            if not rest or (group_version, rest[0]) not in self.resources:
                return None
            resource = self.resources[(group_version, rest[0])]
        if len(rest) > 3:
            return None
        return _Route(
            resource, namespace, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
        )


def _metadata(body: Json) -> Json:
    metadata = body.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "BadRequest", "metadata is not an object")
    return metadata


def _same_namespace(resource: ApiResource, namespace: str, metadata: Json) -> None:
    given = metadata.get("namespace")
    if resource.namespaced and given and given != namespace:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )


def _finish_hook(resource: ApiResource, body: Json) -> None:
    """Mark a hook Job or Pod as finished, the status Helm's hook wait looks for."""
    if (resource.group_version, resource.kind) == ("batch/v1", "Job"):
        body["status"] = {
            "succeeded": 1,
            "startTime": _now(),
            "completionTime": _now(),
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": _now()},
                {"type": "Complete", "status": "True", "lastTransitionTime": _now()},
            ],
        }
    elif (resource.group_version, resource.kind) == ("v1", "Pod"):
        body["status"] = {"phase": "Succeeded"}


def _check_crd(crd: Json) -> None:
    """Refuse, before anything is recorded or served, a CRD whose kinds cannot be served."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    listed, names = spec.get("versions"), spec.get("names")
    if (
        not isinstance(listed, list)
        or not isinstance(names, dict)
        or not spec.get("group")
        or not names.get("plural")
        or not names.get("kind")
        or not all(isinstance(v, dict) and v.get("name") for v in listed)
    ):
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Invalid",
            "CustomResourceDefinition is invalid: spec.group, spec.names.plural, "
            "spec.names.kind and a name for every spec.versions entry are required",
        )


def _is_crd(resource: ApiResource) -> bool:
    return (resource.group, resource.plural) == (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
    )


def _openapi_path(group_version: str) -> str:
    return f"apis/{group_version}" if "/" in group_version else f"api/{group_version}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(route: _Route) -> ApiError:
    return ApiError(
        HTTPStatus.NOT_FOUND,
        "NotFound",
        f'{route.resource.plural}.{route.resource.group} "{route.name}" not found'
        if route.resource.group
        else f'{route.resource.plural} "{route.name}" not found',
    )


_REQUIREMENT = re.compile(
    r"\s*(?P<key>[A-Za-z0-9._/-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)"
    r"|\s+(?P<set_op>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


def parse_label_selector(selector: str) -> Any:
    """A predicate over a label map for an API label selector (equality and set based).

    Commas inside ``in (a, b)`` belong to the set, so requirements are split outside parens.
    """
    requirements: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            requirements.append(selector[start:index])
            start = index + 1
    requirements.append(selector[start:])
    checks = []
    for requirement in (r for r in requirements if r.strip()):
        negated = requirement.strip().startswith("!")
        text = requirement.strip().lstrip("!")
        found = _REQUIREMENT.match(text)
        if found is None:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "BadRequest",
                f"unable to parse requirement: {requirement!r}",
            )
        checks.append((negated, found.groupdict()))

    def matches(labels: Mapping[str, str]) -> bool:
        for negated, part in checks:
            key = part["key"]
            if part["op"]:
                ok = labels.get(key) == part["value"]
                ok = not ok if part["op"] == "!=" else ok
            elif part["set_op"]:
                values = {v.strip() for v in part["values"].split(",")}
                ok = (
                    labels.get(key) in values
                    if part["set_op"] == "in"
                    else (labels.get(key) not in values)
                )
            else:
                ok = key in labels
            if ok == negated:
                return False
        return True

    return matches


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_json_patch(target: Json, operations: Any) -> Json:
    """RFC 6902 JSON patch: add, replace, remove (what Helm's client sends)."""
    document: Any = copy.deepcopy(target)
    if not isinstance(operations, list):
        raise ApiError(HTTPStatus.BAD_REQUEST, "BadRequest", "a JSON patch is a list")
    for operation in operations:
        try:
            _apply_operation(document, operation)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
            # What the API server says of a patch that does not fit the object.
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "Invalid",
                f"the JSON patch operation {operation!r} cannot be applied: "
                f"{type(err).__name__}: {err}",
            ) from err
    result: Json = document
    return result


def _apply_operation(document: Any, operation: Json) -> None:
    if operation["op"] not in ("add", "replace", "remove"):
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Invalid",
            f"JSON patch op {operation['op']!r} is not supported",
        )
    *parents, last = [
        p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]
    ]
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if operation["op"] == "remove":
        if isinstance(node, list):
            node.pop(int(last))
        else:
            node.pop(last, None)
    elif isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if operation["op"] == "add":
            node.insert(index, operation["value"])
        else:
            node[index] = operation["value"]
    else:
        node[last] = operation["value"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # A response is written as headers, then body: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK of the headers, some 40 ms on every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recording, not a log, is what tests read

    def _send(self, code: int, body: Json) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # Helm gave up on a refused watch and hung up; nobody is left to answer.
            self.close_connection = True

    def _read(self) -> bytes:
        """The request body, read whole whatever the verb (a DELETE carries DeleteOptions):
        bytes left unread would be taken for the next request on this keep-alive connection."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as err:
            self.close_connection = True  # where this body ends is anyone's guess
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "BadRequest", f"bad Content-Length: {err}"
            ) from err
        return self.rfile.read(length) if length > 0 else b""

    def _body(self, raw: bytes) -> Any:
        if not raw:
            return {}
        if self.headers.get("Content-Type", "").startswith(protobuf.CONTENT_TYPE):
            try:
                return protobuf.decode_object(raw)
            except protobuf.ProtobufError as err:
                raise ApiError(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", str(err)
                ) from err
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ApiError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                f"the stand-in takes JSON bodies only: {err}",
            ) from err

    def _object(self, raw: bytes) -> Json:
        body = self._body(raw)
        if not isinstance(body, dict):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "BadRequest",
                f"the request body is not an object but a {type(body).__name__}",
            )
        return body

    def _handle(self, verb: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            raw = self._read()
            discovered = self._discovery(url.path) if verb == "GET" else None
            if discovered is not None:
                self._send(HTTPStatus.OK, discovered)
                return
            route = state.route(url.path)
            if route is None or route.subresource not in ("", *route.resource.subresources):
                with state.lock:
                    state.unrouted.append(f"{verb} {self.path}")
                raise ApiError(
                    HTTPStatus.NOT_FOUND,
                    "NotFound",
                    f"the server could not find the requested resource ({verb} {url.path})",
                )
            if query.get("watch", ["false"])[0] in ("true", "1"):
                raise ApiError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "the recording stand-in serves no watches",
                )
            self._send(*self._serve(verb, route, query, raw))
        except ApiError as err:
            self._send(err.code, err.status())
        except Exception as err:  # a stand-in bug: say so in a Status, keep the connection sane
            failure = ApiError(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "InternalError",
                f"the recording stand-in failed on {verb} {url.path}: {type(err).__name__}: {err}",
            )
            self._send(failure.code, failure.status())

    def _serve(
        self, verb: str, route: _Route, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, Json]:
        state = self.server.state
        if verb == "GET" and not route.name:
            return HTTPStatus.OK, state.list(
                route.resource, route.namespace, query.get("labelSelector", [""])[0]
            )
        if verb == "GET":
            return HTTPStatus.OK, state.get(route)
        if verb == "POST" and not route.name:
            body = self._object(raw)
            if query.get("dryRun"):
                return HTTPStatus.CREATED, body
            return HTTPStatus.CREATED, state.create(route.resource, route.namespace, body)
        if verb == "PUT" and route.name:
            return HTTPStatus.OK, state.replace(route, self._object(raw))
        if verb == "PATCH" and route.name:
            return HTTPStatus.OK, state.patch(
                route, self._body(raw), self.headers.get("Content-Type", "")
            )
        if verb == "DELETE" and route.name:
            state.delete(route)
            return HTTPStatus.OK, {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Success",
                "metadata": {},
            }
        raise ApiError(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            f"{verb} is not served on {self.path}",
        )

    def _discovery(self, path: str) -> Json | None:
        state = self.server.state
        if path == "/version":
            major, minor = versions.KUBERNETES_VERSION.split(".")
            git_version = versions.KUBECTL_VERSION
            return {
                "major": major,
                "minor": minor,
                "gitVersion": git_version,
                "platform": "linux/amd64",
            }
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = [state.api_group(group) for group in state.group_versions() if group]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if path == "/api/v1":
            return state.resource_list("v1")
        if path == "/openapi/v3":
            return state.openapi_paths()
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["apis"] and len(parts) == 2:
            return state.api_group(parts[1])
        if parts[:1] == ["apis"] and len(parts) == 3:
            return state.resource_list(f"{parts[1]}/{parts[2]}")
        if parts[:2] == ["openapi", "v3"] and len(parts) > 3:
            group_version = "/".join(parts[3:])
            if _openapi_path(group_version) == "/".join(parts[2:]):
                return state.openapi_document(group_version)
        return None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ClusterState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up (Helm drops a refused watch's connection): no error
        super().handle_error(request, client_address)


class StandInApiServer:
    """The stand-in, serving on a free loopback port while the ``running()`` block lasts."""

    def __init__(self) -> None:
        self.state = ClusterState()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def writes(self) -> list[Write]:
        with self.state.lock:
            return list(self.state.writes)

    @property
    def unrouted(self) -> list[str]:
        with self.state.lock:
            return list(self.state.unrouted)

    def kubeconfig(self) -> str:
        """A kubeconfig pointing at the stand-in, no credentials (YAML: helm-sdkpy takes JSON
        for a file path)."""
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "stand-in",
                "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
                "users": [{"name": "stand-in", "user": {}}],
                "contexts": [
                    {"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in"}}
                ],
            },
            sort_keys=False,
        )

    @contextmanager
    def running(self) -> Iterator[StandInApiServer]:
        self._server = _Server(self.state)
        server = self._server
        # A short poll: shutdown() waits up to one interval, and every render stops a server.
        thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name="stand-in-api",
            daemon=True,
        )
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)
            self._server = None
