"""packetwalk.render.apiserver: the recording stand-in, spoken to over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from test_render_protobuf import bytes_field, envelope, map_entry, object_meta, text_field

from packetwalk.lab import versions
from packetwalk.render.apiserver import (
    INITIAL_NAMESPACES,
    ApiError,
    StandInApiServer,
    apply_json_patch,
    merge_patch,
    parse_label_selector,
)

Json = dict[str, Any]


@dataclass
class Reply:
    status: int
    body: Any

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


class Client:
    """A keep-alive HTTP connection to the stand-in, as client-go holds one."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def call(
        self,
        verb: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        raw: bytes | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        self.connection.request(verb, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        assert response.getheader("Content-Type") == "application/json", payload[:200]
        return Reply(response.status, json.loads(payload))


@pytest.fixture
def api() -> Iterator[StandInApiServer]:
    server = StandInApiServer()
    with server.running():
        yield server


@pytest.fixture
def client(api: StandInApiServer) -> Iterator[Client]:
    made = Client(api.url)
    yield made
    made.connection.close()


def config_map(name: str, labels: dict[str, str] | None = None, **data: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": data,
    }


def widget_crd(versions_in_spec: tuple[str, ...] = ("v1beta1", "v1")) -> Json:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": v == "v1",
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
                for v in versions_in_spec
            ],
        },
    }


CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


# --- discovery -------------------------------------------------------------------------------


def test_version_is_the_pinned_kubernetes(client: Client) -> None:
    reply = client.call("GET", "/version")
    assert reply.status == 200
    assert (reply.body["major"], reply.body["minor"]) == tuple(
        versions.KUBERNETES_VERSION.split(".")
    )
    assert reply.body["gitVersion"] == versions.KUBECTL_VERSION


def test_core_discovery(client: Client) -> None:
    assert client.call("GET", "/api").body["versions"] == ["v1"]
    resources = {r["name"]: r for r in client.call("GET", "/api/v1").body["resources"]}
    assert resources["configmaps"]["namespaced"] is True
    assert resources["namespaces"]["namespaced"] is False
    assert resources["pods/status"]["kind"] == "Pod"
    assert "create" in resources["secrets"]["verbs"]


def test_group_versions_are_listed_preferred_first(client: Client) -> None:
    groups = {g["name"]: g for g in client.call("GET", "/apis").body["groups"]}
    autoscaling = groups["autoscaling"]
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    assert autoscaling["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    assert "" not in groups  # the core group is /api, not /apis
    assert client.call("GET", "/apis/autoscaling").body == {
        "kind": "APIGroup",
        **{k: autoscaling[k] for k in ("name", "versions", "preferredVersion")},
        "apiVersion": "v1",
    }


def test_discovery_grows_when_a_crd_is_created(api: StandInApiServer, client: Client) -> None:
    assert client.call("GET", "/apis/example.com/v1").status == 404
    assert "example.com" not in {g["name"] for g in client.call("GET", "/apis").body["groups"]}

    created = client.call("POST", CRDS, widget_crd())
    assert created.status == 201
    conditions = {c["type"]: c["status"] for c in created.body["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert created.body["status"]["storedVersions"] == ["v1"]

    groups = {g["name"]: g for g in client.call("GET", "/apis").body["groups"]}
    # Listed v1beta1 first in the spec; the API server still prefers the GA version.
    assert [v["version"] for v in groups["example.com"]["versions"]] == ["v1", "v1beta1"]
    assert groups["example.com"]["preferredVersion"]["version"] == "v1"
    listed = client.call("GET", "/apis/example.com/v1").body
    assert listed["groupVersion"] == "example.com/v1"
    assert [(r["name"], r["kind"], r["namespaced"]) for r in listed["resources"]] == [
        ("widgets", "Widget", True),
        ("widgets/status", "Widget", True),
    ]

    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert (
        client.call("POST", "/apis/example.com/v1/namespaces/default/widgets", widget).status == 201
    )
    assert [
        w["metadata"]["name"]
        for w in client.call("GET", "/apis/example.com/v1/widgets").body["items"]
    ] == ["w"]


def test_deleting_a_crd_stops_serving_its_kinds(client: Client) -> None:
    client.call("POST", CRDS, widget_crd(("v1",)))
    client.call(
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    assert client.call("DELETE", f"{CRDS}/widgets.example.com").status == 200
    assert client.call("GET", "/apis/example.com/v1").status == 404
    assert client.call("GET", "/apis/example.com/v1/widgets").status == 404
    # Created again, it starts empty: its objects went with it.
    client.call("POST", CRDS, widget_crd(("v1",)))
    assert client.call("GET", "/apis/example.com/v1/widgets").body["items"] == []


# --- OpenAPI: what client-go's field-validation check reads ----------------------------------


def test_openapi_v3_says_every_kind_takes_field_validation(client: Client) -> None:
    root = client.call("GET", "/openapi/v3").body["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1"} <= set(root)
    document = client.call("GET", root["apis/apps/v1"]["serverRelativeURL"]).body
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
    core = client.call("GET", root["api/v1"]["serverRelativeURL"]).body["paths"]
    assert core["/api/v1/namespaces/{name}"]["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Namespace",
    }


def test_openapi_v3_grows_with_crds_and_v2_is_not_served(
    api: StandInApiServer, client: Client
) -> None:
    assert "apis/example.com/v1" not in client.call("GET", "/openapi/v3").body["paths"]
    assert client.call("GET", "/openapi/v3/apis/example.com/v1").status == 404
    client.call("POST", CRDS, widget_crd(("v1",)))
    url = client.call("GET", "/openapi/v3").body["paths"]["apis/example.com/v1"][
        "serverRelativeURL"
    ]
    paths = client.call("GET", url).body["paths"]
    assert list(paths) == ["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]

    reply = client.call("GET", "/openapi/v2")
    assert (reply.status, reply.reason) == (404, "NotFound")
    assert api.unrouted == ["GET /openapi/v3/apis/example.com/v1", "GET /openapi/v2"]


# --- objects ---------------------------------------------------------------------------------


def test_crud_with_label_selectors(client: Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for name, labels in [
        ("a", {"owner": "helm", "name": "web"}),
        ("b", {"owner": "helm", "name": "db", "team": "x"}),
        ("c", {"owner": "me"}),
    ]:
        assert client.call("POST", base, config_map(name, labels)).status == 201
    client.call(
        "POST",
        "/api/v1/namespaces/kube-system/configmaps",
        config_map("d", {"owner": "helm", "name": "web"}),
    )

    def names(path: str, selector: str) -> list[str]:
        reply = client.call("GET", f"{path}?labelSelector={quote(selector)}")
        assert reply.status == 200 and reply.body["kind"] == "ConfigMapList"
        return sorted(item["metadata"]["name"] for item in reply.body["items"])

    assert names(base, "owner=helm,name=web") == ["a"]
    assert names("/api/v1/configmaps", "owner=helm,name=web") == ["a", "d"]
    assert names(base, "owner==helm") == ["a", "b"]
    assert names(base, "name in (web, db)") == ["a", "b"]
    assert names(base, "name notin (web)") == ["b", "c"]
    assert names(base, "owner!=helm") == ["c"]
    assert names(base, "team") == ["b"]
    assert names(base, "!team,owner") == ["a", "c"]
    assert names(base, "") == ["a", "b", "c"]
    bad = client.call("GET", f"{base}?labelSelector={quote('a b c')}")
    assert (bad.status, bad.reason) == (400, "BadRequest")

    got = client.call("GET", f"{base}/a").body
    assert got["metadata"]["namespace"] == "default" and got["data"] == {}

    replaced = client.call("PUT", f"{base}/a", config_map("a", {"owner": "helm"}, k="v")).body
    assert replaced["data"] == {"k": "v"}
    assert replaced["metadata"]["uid"] == got["metadata"]["uid"]  # same object
    assert int(replaced["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])

    merged = client.call(
        "PATCH",
        f"{base}/a",
        {"metadata": {"labels": {"owner": None, "x": "1"}}},
        content_type="application/merge-patch+json",
    ).body
    assert merged["metadata"]["labels"] == {"x": "1"} and merged["data"] == {"k": "v"}
    patched = client.call(
        "PATCH",
        f"{base}/a",
        [{"op": "add", "path": "/data/k2", "value": "v2"}, {"op": "remove", "path": "/data/k"}],
        content_type="application/json-patch+json",
    ).body
    assert patched["data"] == {"k2": "v2"}

    assert client.call("DELETE", f"{base}/a").status == 200
    gone = client.call("GET", f"{base}/a")
    assert (gone.status, gone.reason, gone.message) == (404, "NotFound", 'configmaps "a" not found')


def test_create_in_a_missing_namespace_is_refused_like_the_api(
    api: StandInApiServer, client: Client
) -> None:
    reply = client.call("POST", "/api/v1/namespaces/nope/configmaps", config_map("a"))
    assert reply.status == 404
    assert reply.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'namespaces "nope" not found',
        "reason": "NotFound",
        "code": 404,
    }
    assert api.writes == []
    client.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nope"}},
    )
    assert client.call("POST", "/api/v1/namespaces/nope/configmaps", config_map("a")).status == 201


def test_a_fresh_stand_in_has_the_namespaces_of_a_new_kind_cluster(client: Client) -> None:
    listed = client.call("GET", "/api/v1/namespaces").body["items"]
    assert [n["metadata"]["name"] for n in listed] == list(INITIAL_NAMESPACES)


def test_writes_are_recorded_in_order(api: StandInApiServer, client: Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    client.call("POST", base, config_map("a"))
    client.call(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "r", "namespace": "ignored"},
        },
    )
    client.call("PUT", f"{base}/a", config_map("a", k="v"))
    client.call(
        "PATCH",
        f"{base}/a",
        {"data": {"k": "w"}},
        content_type="application/strategic-merge-patch+json",
    )
    client.call("DELETE", f"{base}/a")
    assert [(w.verb, w.resource.plural, w.namespace, w.name) for w in api.writes] == [
        ("create", "configmaps", "default", "a"),
        ("create", "clusterroles", "", "r"),
        ("replace", "configmaps", "default", "a"),
        ("patch", "configmaps", "default", "a"),
        ("delete", "configmaps", "default", "a"),
    ]
    assert api.writes[2].body["data"] == {"k": "v"}
    assert api.writes[3].body == {"data": {"k": "w"}}  # the patch as sent
    # A cluster-scoped object has no namespace, as on the API server.
    stored = client.call("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/r").body
    assert "namespace" not in stored["metadata"]


def test_write_conflicts_and_bad_requests(api: StandInApiServer, client: Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    client.call("POST", base, config_map("a"))
    cases = [
        (client.call("POST", base, config_map("a")), 409, "AlreadyExists"),
        (client.call("POST", base, {"metadata": {}}), 422, "Invalid"),
        (client.call("POST", base, [1, 2]), 400, "BadRequest"),
        (
            client.call("POST", base, raw=b"kind: ConfigMap", content_type="application/yaml"),
            415,
            "UnsupportedMediaType",
        ),
        (
            client.call(
                "POST",
                "/api/v1/namespaces/kube-system/configmaps",
                {**config_map("b"), "metadata": {"name": "b", "namespace": "default"}},
            ),
            400,
            "BadRequest",
        ),
        (client.call("POST", "/api/v1/configmaps", config_map("c")), 405, "MethodNotAllowed"),
        (client.call("PUT", f"{base}/a", config_map("other")), 400, "BadRequest"),
        (client.call("PUT", f"{base}/missing", config_map("missing")), 404, "NotFound"),
        (client.call("GET", f"{base}?watch=true"), 405, "MethodNotAllowed"),
        (
            client.call(
                "PATCH",
                f"{base}/a",
                [{"op": "move", "from": "/a", "path": "/b"}],
                content_type="application/json-patch+json",
            ),
            422,
            "Invalid",
        ),
        (client.call("GET", "/api/v1/namespaces/default/gizmos"), 404, "NotFound"),
    ]
    assert [(r.status, r.reason) for r, _, _ in cases] == [(s, n) for _, s, n in cases]
    assert [w.verb for w in api.writes] == ["create"]
    assert api.unrouted == ["GET /api/v1/namespaces/default/gizmos"]


def test_a_crd_that_cannot_be_served_is_refused_before_anything(
    api: StandInApiServer, client: Client
) -> None:
    crd = widget_crd(("v1",))
    del crd["spec"]["versions"][0]["name"]
    reply = client.call("POST", CRDS, crd)
    assert (reply.status, reply.reason) == (422, "Invalid")
    assert api.writes == [] and client.call("GET", f"{CRDS}/widgets.example.com").status == 404
    assert "example.com" not in {g["name"] for g in client.call("GET", "/apis").body["groups"]}


def test_a_json_patch_that_does_not_fit_is_invalid(client: Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    client.call("POST", base, config_map("a", k="text"))
    for operations in (
        [{"op": "add", "path": "/data/k/deeper", "value": 1}],
        [
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]},
            {"op": "replace", "path": "/metadata/finalizers/7", "value": "g"},
        ],
        {"op": "add", "path": "/data/x", "value": "1"},
    ):
        reply = client.call(
            "PATCH", f"{base}/a", operations, content_type="application/json-patch+json"
        )
        assert reply.status in (400, 422), reply.body
    # A patch applies whole or not at all.
    stored = client.call("GET", f"{base}/a").body
    assert stored["data"] == {"k": "text"} and "finalizers" not in stored["metadata"]


def test_a_stand_in_failure_is_a_status_and_the_connection_lives_on(
    api: StandInApiServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> Json:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.state, "list", broken)
    reply = client.call("GET", "/api/v1/namespaces/default/configmaps")
    assert (reply.status, reply.reason) == (500, "InternalError")
    assert reply.message.endswith("RuntimeError: a bug")
    assert client.call("GET", "/version").status == 200


def test_a_bad_content_length_is_a_bad_request(api: StandInApiServer) -> None:
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: lots\r\n\r\n{}"
        )
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"reason": "BadRequest"' in answer


def test_dry_run_create_stores_nothing(api: StandInApiServer, client: Client) -> None:
    reply = client.call("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", config_map("a"))
    assert reply.status == 201 and api.writes == []
    assert client.call("GET", "/api/v1/namespaces/default/configmaps/a").status == 404


def test_generate_name(client: Client) -> None:
    made = client.call(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}},
    ).body
    assert made["metadata"]["name"].startswith("job-") and len(made["metadata"]["name"]) == 9


def test_delete_options_body_does_not_break_the_connection(client: Client) -> None:
    # client-go sends DeleteOptions with a DELETE; bytes left unread would be parsed as the
    # next request on this keep-alive connection.
    client.call("POST", "/api/v1/namespaces/default/configmaps", config_map("a"))
    reply = client.call(
        "DELETE", "/api/v1/namespaces/default/configmaps/a", {"propagationPolicy": "Background"}
    )
    assert reply.status == 200
    assert client.call("GET", "/version").status == 200


def test_protobuf_secret_is_stored_as_json(client: Client) -> None:
    raw = (
        bytes_field(1, object_meta("s", "default", {"owner": "helm"}))
        + map_entry(2, "release", b"\x00\x01")
        + text_field(3, "helm.sh/release.v1")
    )
    reply = client.call(
        "POST",
        "/api/v1/namespaces/default/secrets",
        raw=envelope("Secret", raw),
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert reply.status == 201
    stored = client.call("GET", "/api/v1/namespaces/default/secrets/s").body
    assert stored["data"] == {"release": "AAE="} and stored["type"] == "helm.sh/release.v1"
    broken = client.call(
        "POST",
        "/api/v1/namespaces/default/secrets",
        raw=b"k8s\x00\x0a\x05",
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert (broken.status, broken.reason) == (415, "UnsupportedMediaType")
    assert "truncated" in broken.message


def test_hook_jobs_are_stored_finished_other_jobs_not(client: Client) -> None:
    def job(name: str, annotations: dict[str, str]) -> Json:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"template": {"spec": {"containers": []}}},
        }

    base = "/apis/batch/v1/namespaces/default/jobs"
    hook = client.call("POST", base, job("hook", {"helm.sh/hook": "pre-install"})).body
    assert {c["type"]: c["status"] for c in hook["status"]["conditions"]}["Complete"] == "True"
    plain = client.call("POST", base, job("plain", {})).body
    assert "status" not in plain


# --- the pure helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a=1", {}, False),
        ("a!=1", {}, True),  # != and notin match when the key is absent, as in Kubernetes
        ("a notin (1,2)", {}, True),
        ("a in (1, 2),b", {"a": "2", "b": ""}, True),
        ("a in (1, 2),b", {"a": "2"}, False),
        ("!a", {"a": "x"}, False),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector)(labels) is expected


def test_label_selector_refuses_what_it_cannot_parse() -> None:
    with pytest.raises(ApiError, match="unable to parse requirement"):
        parse_label_selector("a in 1")


def test_merge_patch_is_rfc_7386() -> None:
    # RFC 7386's own example, section 3.
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_json_patch_add_replace_remove_and_escapes() -> None:
    target = {"a": {"b/c": 1, "~d": 2}, "l": [1, 2]}
    result = apply_json_patch(
        target,
        [
            {"op": "replace", "path": "/a/b~1c", "value": 10},
            {"op": "remove", "path": "/a/~0d"},
            {"op": "add", "path": "/l/1", "value": 9},
            {"op": "add", "path": "/l/-", "value": 3},
            {"op": "replace", "path": "/l/0", "value": 0},
        ],
    )
    assert result == {"a": {"b/c": 10}, "l": [0, 9, 2, 3]}
    assert target == {"a": {"b/c": 1, "~d": 2}, "l": [1, 2]}  # the target is left alone
