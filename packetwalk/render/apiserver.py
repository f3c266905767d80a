"""A small recording stand-in for the Kubernetes API, on 127.0.0.1, for rendering charts with Helm.

helm-sdkpy (the Helm v4 Go library behind a cffi binding) has no ``template`` call: it only
installs against an API server. This server is the smallest API that a Helm install needs and
that behaves like a real one where it matters for what gets rendered:

- discovery (``/version``, ``/api``, ``/apis`` and each group version) from
  :data:`packetwalk.render.discovery.BUILTIN_RESOURCES`, growing as CRDs are created, so kinds map
  to REST paths and scopes as on a kind cluster of the pinned minor, and an unknown kind fails;
- object create/get/list/replace/patch/delete, kept in memory, with label selectors on lists
  (Helm finds its release Secrets by ``owner=helm,name=...``);
- a created CRD is answered as Established at once, with its names accepted;
- an object in a namespace that does not exist is refused with the API server's own 404
  (``namespaces "x" not found``), the error a chart without its namespace meets on a real cluster.

Every write is recorded in order (:attr:`StandInApiServer.writes`), and every request that was
answered 404 for lack of a route is kept in :attr:`StandInApiServer.unrouted`, so a test sees what
Helm asked for that the stand-in does not serve. No authentication, no admission, no controllers:
nothing ever becomes Ready, so installs run without waiting.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
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

from packetwalk import versions
from packetwalk.render import protobuf
from packetwalk.render.discovery import BUILTIN_RESOURCES, ApiResource

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease",
                      "local-path-storage")
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
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": int(self.code)}


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
            self._store(namespaces, "", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name}})

    # --- discovery -----------------------------------------------------------------------

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> its versions, in the order first served (the first is preferred)."""
        groups: dict[str, list[str]] = {}
        with self.lock:
            for resource in self.resources.values():
                known = groups.setdefault(resource.group, [])
                if resource.version not in known:
                    known.append(resource.version)
        return groups

    def resource_list(self, group_version: str) -> Json | None:
        with self.lock:
            served = [r for r in self.resources.values() if r.group_version == group_version]
        if not served:
            return None
        entries: list[Json] = []
        for r in served:
            entries.append({"name": r.plural, "singularName": r.singular, "namespaced":
                            r.namespaced, "kind": r.kind, "verbs": [
                                "create", "delete", "deletecollection", "get", "list", "patch",
                                "update", "watch"]})
            entries += [{"name": f"{r.plural}/{sub}", "singularName": "", "namespaced":
                         r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}
                        for sub in r.subresources]
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": entries}

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
        metadata.setdefault("creationTimestamp",
                            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        metadata["resourceVersion"] = str(next(self._revision))
        if resource.namespaced:
            metadata["namespace"] = namespace
        self.objects[self._key(resource, namespace, metadata["name"])] = body
        return body

    def _require_namespace(self, resource: ApiResource, namespace: str) -> None:
        if resource.namespaced and ("v1", "namespaces", "", namespace) not in self.objects:
            raise ApiError(HTTPStatus.NOT_FOUND, "NotFound",
                           f'namespaces "{namespace}" not found')

    def get(self, route: _Route) -> Json:
        with self.lock:
            found = self.objects.get(self._key(route.resource, route.namespace, route.name))
            if found is None:
                raise _not_found(route)
            return copy.deepcopy(found)

    def list(self, resource: ApiResource, namespace: str, selector: str) -> Json:
        match = parse_label_selector(selector)
        with self.lock:
            items = [copy.deepcopy(obj) for (gv, plural, ns, _), obj in self.objects.items()
                     if gv == resource.group_version and plural == resource.plural
                     and (not namespace or ns == namespace)
                     and match((obj.get("metadata") or {}).get("labels") or {})]
            revision = str(next(self._revision))
        return {"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                "metadata": {"resourceVersion": revision}, "items": items}

    def create(self, resource: ApiResource, namespace: str, body: Json) -> Json:
        metadata = body.setdefault("metadata", {})
        with self.lock:
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
            name = metadata.get("name")
            if not name:
                raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "Invalid",
                               f"{resource.kind} is invalid: metadata.name: Required value")
            self._require_namespace(resource, namespace)
            if self._key(resource, namespace, name) in self.objects:
                raise ApiError(HTTPStatus.CONFLICT, "AlreadyExists",
                               f'{resource.plural} "{name}" already exists')
            self.writes.append(Write("create", resource, namespace, name, copy.deepcopy(body)))
            if (resource.group, resource.plural) == ("apiextensions.k8s.io",
                                                     "customresourcedefinitions"):
                self._serve_crd(body)
            return copy.deepcopy(self._store(resource, namespace, body))

    def replace(self, route: _Route, body: Json) -> Json:
        with self.lock:
            self.get(route)
            self.writes.append(Write("replace", route.resource, route.namespace, route.name,
                                     copy.deepcopy(body)))
            body.setdefault("metadata", {})["name"] = route.name
            return copy.deepcopy(self._store(route.resource, route.namespace, body))

    def patch(self, route: _Route, patch: Any, content_type: str) -> Json:
        with self.lock:
            current = self.get(route)
            if content_type.startswith("application/json-patch+json"):
                patched = apply_json_patch(current, patch)
            else:  # merge and strategic-merge: for the maps Helm patches, both merge keys
                patched = merge_patch(current, patch)
            self.writes.append(Write("patch", route.resource, route.namespace, route.name,
                                     copy.deepcopy(patch)))
            return copy.deepcopy(self._store(route.resource, route.namespace, patched))

    def delete(self, route: _Route) -> Json:
        with self.lock:
            found = self.get(route)
            del self.objects[self._key(route.resource, route.namespace, route.name)]
            self.writes.append(Write("delete", route.resource, route.namespace, route.name, {}))
            return found

    def _serve_crd(self, crd: Json) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            resource = ApiResource(
                group=spec.get("group", ""), version=version["name"],
                plural=names.get("plural", ""), kind=names.get("kind", ""),
                namespaced=spec.get("scope") == "Namespaced",
                subresources=tuple(sorted(version.get("subresources") or {})))
            self.resources[(resource.group_version, resource.plural)] = resource
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec.get("versions") or []
                               if v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": _now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted",
                 "lastTransitionTime": _now()},
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
            if (len(rest) >= 3 and rest[0] == "namespaces"
                    and (group_version, rest[2]) in self.resources
                    and self.resources[(group_version, rest[2])].namespaced):
                namespace, rest = rest[1], rest[2:]
            if not rest or (group_version, rest[0]) not in self.resources:
                return None
            resource = self.resources[(group_version, rest[0])]
        if len(rest) > 3:
            return None
        return _Route(resource, namespace, rest[1] if len(rest) > 1 else "",
                      rest[2] if len(rest) > 2 else "")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(route: _Route) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "NotFound",
                    f'{route.resource.plural}.{route.resource.group} "{route.name}" not found'
                    if route.resource.group else
                    f'{route.resource.plural} "{route.name}" not found')


_REQUIREMENT = re.compile(
    r"\s*(?P<key>[A-Za-z0-9._/-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9._-]*)"
    r"|\s+(?P<set_op>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")


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
            raise ApiError(HTTPStatus.BAD_REQUEST, "BadRequest",
                           f"unable to parse requirement: {requirement!r}")
        checks.append((negated, found.groupdict()))

    def matches(labels: Mapping[str, str]) -> bool:
        for negated, part in checks:
            key = part["key"]
            if part["op"]:
                ok = labels.get(key) == part["value"]
                ok = not ok if part["op"] == "!=" else ok
            elif part["set_op"]:
                values = {v.strip() for v in part["values"].split(",")}
                ok = labels.get(key) in values if part["set_op"] == "in" else (
                    labels.get(key) not in values)
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


def apply_json_patch(target: Json, operations: list[Json]) -> Json:
    """RFC 6902 JSON patch: add, replace, remove (what Helm's client sends)."""
    document: Any = copy.deepcopy(target)
    for operation in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~")
                          for p in operation["path"].split("/")[1:]]
        node = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if operation["op"] == "remove":
            if isinstance(node, list):
                node.pop(int(last))
            else:
                node.pop(last, None)
        elif operation["op"] in ("add", "replace"):
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                if operation["op"] == "add":
                    node.insert(index, operation["value"])
                else:
                    node[index] = operation["value"]
            else:
                node[last] = operation["value"]
        else:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "Invalid",
                           f"JSON patch op {operation['op']!r} is not supported")
    result: Json = document
    return result


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recording, not a log, is what tests read

    def _send(self, code: int, body: Json) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        if self.headers.get("Content-Type", "").startswith(protobuf.CONTENT_TYPE):
            try:
                return protobuf.decode_object(raw)
            except protobuf.ProtobufError as err:
                raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType",
                               str(err)) from err
        try:
            return json.loads(raw)
        except json.JSONDecodeError as err:
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType",
                           f"the stand-in takes JSON bodies only: {err}") from err

    def _handle(self, verb: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            discovered = self._discovery(url.path) if verb == "GET" else None
            if discovered is not None:
                self._send(HTTPStatus.OK, discovered)
                return
            route = state.route(url.path)
            if route is None or route.subresource not in ("", *route.resource.subresources):
                with state.lock:
                    state.unrouted.append(f"{verb} {self.path}")
                raise ApiError(HTTPStatus.NOT_FOUND, "NotFound",
                               f"the server could not find the requested resource ({verb} "
                               f"{url.path})")
            if query.get("watch", ["false"])[0] in ("true", "1"):
                raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed",
                               "the recording stand-in serves no watches")
            self._send(*self._serve(verb, route, query))
        except ApiError as err:
            self._send(err.code, err.status())

    def _serve(self, verb: str, route: _Route, query: dict[str, list[str]]) -> tuple[int, Json]:
        state = self.server.state
        if verb == "GET" and not route.name:
            return HTTPStatus.OK, state.list(route.resource, route.namespace,
                                             query.get("labelSelector", [""])[0])
        if verb == "GET":
            return HTTPStatus.OK, state.get(route)
        if verb == "POST" and not route.name:
            body = self._body()
            if query.get("dryRun"):
                return HTTPStatus.CREATED, body
            return HTTPStatus.CREATED, state.create(route.resource, route.namespace, body)
        if verb == "PUT" and route.name:
            return HTTPStatus.OK, state.replace(route, self._body())
        if verb == "PATCH" and route.name:
            return HTTPStatus.OK, state.patch(route, self._body(),
                                              self.headers.get("Content-Type", ""))
        if verb == "DELETE" and route.name:
            state.delete(route)
            return HTTPStatus.OK, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                   "metadata": {}}
        raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed",
                       f"{verb} is not served on {self.path}")

    def _discovery(self, path: str) -> Json | None:
        state = self.server.state
        if path == "/version":
            major, minor = versions.KUBERNETES_VERSION.split(".")
            git_version = versions.KUBECTL_VERSION
            return {"major": major, "minor": minor, "gitVersion": git_version,
                    "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = [{"name": group, "versions": [
                {"groupVersion": f"{group}/{v}", "version": v} for v in found],
                "preferredVersion": {"groupVersion": f"{group}/{found[-1]}",
                                     "version": found[-1]}}
                for group, found in state.group_versions().items() if group]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if path == "/api/v1":
            return state.resource_list("v1")
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["apis"] and len(parts) == 3:
            return state.resource_list(f"{parts[1]}/{parts[2]}")
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
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "stand-in", "user": {}}],
            "contexts": [{"name": "stand-in",
                          "context": {"cluster": "stand-in", "user": "stand-in"}}],
        }, sort_keys=False)

    @contextmanager
    def running(self) -> Iterator[StandInApiServer]:
        self._server = _Server(self.state)
        thread = threading.Thread(target=self._server.serve_forever, name="stand-in-api",
                                  daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)
            self._server = None
