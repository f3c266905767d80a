"""packetwalk.render.helmrender: reading Helm's release back, and rendering with the real Helm.

The charts rendered here are built in a temporary folder, except for the checks over the pinned
packages in ../shared/charts (skipped when those or helm-sdkpy are missing).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rendering
import yaml

from packetwalk.render import helmrender
from packetwalk.render.apiserver import StandInApiServer
from packetwalk.render.helmrender import RenderError, decode_release, parse_manifest

PINNED = sorted(rendering.CHARTS.glob("*.tgz")) if rendering.CHARTS.is_dir() else []

needs_helm = pytest.mark.skipif(
    not rendering._helm_available(), reason="helm-sdkpy missing: ./invoke installs it"
)

# --- decode_release --------------------------------------------------------------------------

RELEASE = {"name": "web", "manifest": "---\nkind: ConfigMap\n", "version": 1}


def helm_storage(release: dict[str, Any], *, gzipped: bool = True) -> str:
    """What Helm's storage drivers put in data.release: base64 of (gzipped) JSON."""
    raw = json.dumps(release).encode()
    return base64.b64encode(gzip.compress(raw) if gzipped else raw).decode()


def as_secret(stored: str) -> dict[str, Any]:
    """A Secret as the API serves it in JSON: its data base64 once more."""
    return {"kind": "Secret", "data": {"release": base64.b64encode(stored.encode()).decode()}}


def test_decode_release_from_a_secret() -> None:
    assert decode_release(as_secret(helm_storage(RELEASE))) == RELEASE


def test_decode_release_without_gzip() -> None:
    assert decode_release(as_secret(helm_storage(RELEASE, gzipped=False))) == RELEASE


def test_decode_release_from_a_config_map() -> None:
    # HELM_DRIVER=configmap: ConfigMap data is text, so one base64 layer fewer.
    stored = {"kind": "ConfigMap", "data": {"release": helm_storage(RELEASE)}}
    assert decode_release(stored) == RELEASE


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"kind": "Secret"}, "the release Secret has no data.release"),
        ({"kind": "Secret", "data": {"release": "not base64!"}}, "not Helm's base64"),
        (as_secret(base64.b64encode(b"\x1f\x8b broken gzip").decode()), "not Helm's base64"),
        (as_secret(base64.b64encode(b"{not json").decode()), "not Helm's base64"),
        (as_secret(base64.b64encode(b"[1]").decode()), "not a release object"),
    ],
)
def test_decode_release_errors_are_render_errors(stored: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=re.escape(message)):
        decode_release(stored)


# --- parse_manifest --------------------------------------------------------------------------


def test_parse_manifest_skips_empty_documents() -> None:
    text = "---\n# Source: c/templates/empty.yaml\n---\napiVersion: v1\nkind: ConfigMap\n---\n"
    assert parse_manifest(text, source="c-1.0.0.tgz") == [{"apiVersion": "v1", "kind": "ConfigMap"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- a list\n",
            "c-1.0.0.tgz: a rendered document is not a Kubernetes object: \"['a list']\"",
        ),
        ("apiVersion: v1\nmetadata: {}\n", "c-1.0.0.tgz: a rendered document is not a Kubernetes"),
        ("kind: ConfigMap\n  bad: indent\n", "c-1.0.0.tgz: the rendered manifest is not YAML"),
    ],
)
def test_parse_manifest_errors_name_the_source(text: str, message: str) -> None:
    with pytest.raises(RenderError, match=re.escape(message)):
        parse_manifest(text, source="c-1.0.0.tgz")


# --- render_chart on a chart made here -------------------------------------------------------

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""

TINY_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\n",
    "crds/widgets.yaml": CRD,
    "templates/configmap.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
        data:
          release: {{ .Release.Name | quote }}
        """,
    "templates/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: "nginx:1.27"}]
        """,
    "templates/clusterrole.yaml": """\
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata:
          name: tiny-reader
        rules: []
        """,
    "templates/serviceaccount.yaml": """\
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: elsewhere
          namespace: kube-system
        """,
    "templates/widget.yaml": """\
        apiVersion: example.com/v1
        kind: Widget
        metadata:
          name: w
        """,
    "templates/hook.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cleanup
          annotations:
            helm.sh/hook: pre-delete
        """,
}


def tgz(files: dict[str, str | bytes], *, root: str) -> bytes:
    """A chart package: ``files`` under one top folder, as ``helm package`` lays it out."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            data = textwrap.dedent(content).encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def package(folder: Path, files: dict[str, str | bytes], name: str = "tiny") -> Path:
    path = folder / f"{name}-0.1.0.tgz"
    path.write_bytes(tgz(files, root=name))
    return path


def by_name(objects: Any) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects}


@needs_helm
def test_render_chart_like_helm_v4_chart(tmp_path: Path) -> None:
    rendered = helmrender.render_chart(
        package(tmp_path, dict(TINY_CHART)), release="demo", namespace="lab", values={"replicas": 3}
    )
    assert (rendered.release, rendered.namespace) == ("demo", "lab")

    # The crds/ folder's CRDs come first, as Helm created them.
    assert [c["metadata"]["name"] for c in rendered.crds] == ["widgets.example.com"]
    assert rendered.crds[0]["spec"] == yaml.safe_load(CRD)["spec"]
    assert rendered.registered[0]["kind"] == "CustomResourceDefinition"
    assert rendered.registered == [*rendered.crds, *rendered.objects]

    objects = by_name(rendered.objects)
    assert set(objects) == {"settings", "web", "tiny-reader", "elsewhere", "w"}
    # Hooks are kept apart: helm.v4.Chart registers none of them.
    assert [h["metadata"]["name"] for h in rendered.hooks] == ["cleanup"]
    assert "cleanup" not in by_name(rendered.registered)

    # Namespaced objects without a namespace get the release's, a custom kind's included;
    # an explicit namespace stays, and cluster-scoped objects get none.
    assert {name: obj["metadata"].get("namespace") for name, obj in objects.items()} == {
        "settings": "lab",
        "web": "lab",
        "w": "lab",
        "elsewhere": "kube-system",
        "tiny-reader": None,
    }
    assert objects["web"]["spec"]["replicas"] == 3
    assert objects["settings"]["data"] == {"release": "demo"}


@needs_helm
def test_install_hooks_render_and_stay_apart(tmp_path: Path) -> None:
    # Helm runs pre-install hooks even so: it validates their manifests against the server's
    # OpenAPI and waits for a hook Job to finish; helm.v4.Chart would just drop them.
    files: dict[str, str | bytes] = {
        "Chart.yaml": TINY_CHART["Chart.yaml"],
        "templates/configmap.yaml": TINY_CHART["templates/configmap.yaml"],
        "templates/setup.yaml": """\
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: setup
              annotations: {helm.sh/hook: pre-install}
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: c, image: "busybox:1.37"}]
            """,
        "templates/seed.yaml": """\
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: seed
              annotations: {helm.sh/hook: post-install}
            """,
    }
    rendered = helmrender.render_chart(
        package(tmp_path, files), release="demo", namespace="lab", values={}, timeout=30
    )
    assert sorted(h["metadata"]["name"] for h in rendered.hooks) == ["seed", "setup"]
    assert [o["metadata"]["name"] for o in rendered.registered] == ["settings"]


@needs_helm
def test_a_failing_template_names_chart_release_and_cause(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "Chart.yaml": TINY_CHART["Chart.yaml"],
        "templates/x.yaml": '{{ fail "no way" }}\n',
    }
    with pytest.raises(
        RenderError,
        match=r"tiny-0\.1\.0\.tgz as release 'demo' in namespace "
        r"'lab': .*no way",
    ):
        helmrender.render_chart(
            package(tmp_path, files), release="demo", namespace="lab", values={}
        )


@needs_helm
def test_a_kind_the_cluster_does_not_serve_fails_the_render(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "Chart.yaml": TINY_CHART["Chart.yaml"],
        "templates/x.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    }
    with pytest.raises(
        RenderError, match=re.escape('no matches for kind "Widget" in version "example.com/v1"')
    ):
        helmrender.render_chart(
            package(tmp_path, files), release="demo", namespace="lab", values={}
        )


@needs_helm
def test_helm_driver_configmap_in_the_environment_still_renders(tmp_path: Path) -> None:
    # The Helm library's Go runtime keeps the environment it was loaded with, so HELM_DRIVER
    # set then cannot be taken away later: the release comes back in a ConfigMap. A process
    # of its own, since this one's library may already be loaded.
    chart = package(tmp_path, dict(TINY_CHART))
    script = textwrap.dedent(f"""\
        import json
        from pathlib import Path
        from helm_sdkpy._ffi import get_library
        from packetwalk.render.helmrender import render_chart
        get_library()
        rendered = render_chart(Path({str(chart)!r}), release="demo", namespace="lab",
                                values={{}})
        print(json.dumps([o["metadata"]["name"] for o in rendered.registered]))
        """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HELM_DRIVER": "configmap"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(json.loads(done.stdout)) == sorted(
        ["widgets.example.com", "settings", "web", "tiny-reader", "elsewhere", "w"]
    )


# --- the pinned packages ---------------------------------------------------------------------

_CAPABILITY = re.compile(r"Capabilities\.APIVersions(?:\.Has\s+\"(?P<api>[^\"]*)\")?")
_CORE_VERSION = re.compile(r"v[0-9]+((alpha|beta)[0-9]+)?")


def _package_files(archive: tarfile.TarFile, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """Every file of a chart package, subchart packages (charts/*.tgz) opened too."""
    for member in archive.getmembers():
        stream = archive.extractfile(member) if member.isfile() else None
        if stream is None:
            continue
        data = stream.read()
        if member.name.endswith(".tgz"):
            with tarfile.open(fileobj=io.BytesIO(data)) as sub:
                yield from _package_files(sub, f"{prefix}{member.name}!")
        else:
            yield f"{prefix}{member.name}", data


def _in_chart(path: str) -> str:
    """Where a file sits in its own chart: ``metallb/charts/crds/templates/x.yaml`` is in the
    templates of subchart ``crds``, not in a crds/ folder."""
    parts = path.split("!")[-1].split("/")[1:]  # a subchart package has its own top folder
    while len(parts) > 2 and parts[0] == "charts":
        parts = parts[2:]
    return "/".join(parts)


# libyaml when there is one: tigera-operator's CRDs take seconds with the pure-Python parser.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


PackageFiles = list[tuple[str, bytes]]


def package_files(package_bytes: bytes) -> PackageFiles:
    with tarfile.open(fileobj=io.BytesIO(package_bytes)) as archive:
        return list(_package_files(archive))


def crd_groups(files: PackageFiles) -> set[str]:
    """The API groups of the CRDs in the crds/ folders of a package (its subcharts' too)."""
    groups = set()
    for name, data in files:
        if _in_chart(name).startswith("crds/") and name.endswith((".yaml", ".yml", ".json")):
            for document in yaml.load_all(data, Loader=_LOADER):
                if (
                    isinstance(document, dict)
                    and document.get("kind") == "CustomResourceDefinition"
                ):
                    groups.add(document["spec"]["group"])
    return groups


def own_crd_capability_checks(files: PackageFiles) -> list[str]:
    """Where a chart's templates test ``.Capabilities.APIVersions`` for a group its own crds/
    define, or test it in a way that cannot be read (not ``.Has "literal"``).

    Helm's install creates crds/ before rendering, so such a test is true here and false in
    Pulumi's first render: helmrender's docstring says no pinned chart does it.
    """
    groups = crd_groups(files)
    found = []
    for name, data in files:
        if not _in_chart(name).startswith("templates/"):
            continue
        for use in _CAPABILITY.finditer(data.decode("utf-8", errors="replace")):
            api = use["api"]
            if api is None:
                found.append(f"{name}: cannot tell what {use[0]!r} tests")
                continue
            first = api.split("/")[0]
            group = "" if _CORE_VERSION.fullmatch(first) else first
            if group in groups:
                found.append(f"{name}: tests {api!r}, a group of its own crds/")
    return found


def _chart_name(path: Path) -> str:
    return path.name.rsplit("-", 1)[0]


def test_the_capability_check_finds_a_chart_testing_its_own_crds() -> None:
    files: dict[str, str | bytes] = {
        "Chart.yaml": TINY_CHART["Chart.yaml"],
        "crds/widgets.yaml": CRD,
        "templates/a.yaml": '{{ if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}',
        "templates/b.yaml": '{{ if .Capabilities.APIVersions.Has "policy/v1" }}{{ end }}',
        "templates/c.yaml": "{{ if $.Capabilities.APIVersions.Has $api }}{{ end }}",
    }
    nested = tgz(
        {
            "Chart.yaml": "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
            "templates/d.yaml": '{{ .Capabilities.APIVersions.Has "example.com/v1" }}',
        },
        root="sub",
    )
    files["charts/sub-1.0.0.tgz"] = nested
    assert own_crd_capability_checks(package_files(tgz(files, root="tiny"))) == [
        "tiny/templates/a.yaml: tests 'example.com/v1/Widget', a group of its own crds/",
        "tiny/templates/c.yaml: cannot tell what 'Capabilities.APIVersions' tests",
        "tiny/charts/sub-1.0.0.tgz!sub/templates/d.yaml: tests 'example.com/v1', a group of "
        "its own crds/",
    ]


# MetalLB's CRDs are templates of its subchart "crds", not a crds/ folder: rendered, not
# created before the render, so no difference there either.
PINNED_CRD_GROUPS = {
    "cilium": set(),
    "flannel": set(),
    "metallb": set(),
    "tigera-operator": {"crd.projectcalico.org", "operator.tigera.io", "policy.networking.k8s.io"},
    "traefik": {"hub.traefik.io", "traefik.io"},
}


@pytest.mark.skipif(not PINNED, reason=f"no chart packages in {rendering.CHARTS}")
@pytest.mark.parametrize("path", PINNED, ids=lambda p: p.name)
def test_no_pinned_chart_tests_its_own_crds_api_versions(path: Path) -> None:
    files = package_files(path.read_bytes())
    assert crd_groups(files) == PINNED_CRD_GROUPS[_chart_name(path)]  # the scan sees them
    assert own_crd_capability_checks(files) == []


class _Recorded(StandInApiServer):
    """The stand-in, remembered, so a test sees what Helm asked of it."""

    made: list[StandInApiServer] = []

    def __init__(self) -> None:
        super().__init__()
        _Recorded.made.append(self)


# What each pinned package registers and hooks with default values
# (../shared/charts/README.md records the same counts).
EXPECTED_COUNTS = {
    "cilium": (25, 0),
    "flannel": (5, 0),
    "metallb": (42, 0),
    "tigera-operator": (42, 1),
    "traefik": (31, 0),
}
# Cilium's defaults make its CA and Hubble's certificates with Helm's genCA, new every render.
GENERATED_PER_RENDER = {"cilium": {"cilium-ca", "hubble-server-certs"}}


@pytest.mark.slow
@rendering.needs_charts
@pytest.mark.parametrize("path", PINNED, ids=lambda p: p.name)
def test_pinned_charts_render_the_same_twice_and_helm_gets_every_answer(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(helmrender, "StandInApiServer", _Recorded)
    _Recorded.made.clear()
    first, second = (
        helmrender.render_chart(path, release="pinned", namespace="pinned", values={})
        for _ in range(2)
    )
    assert [api.unrouted for api in _Recorded.made] == [[], []]

    name = _chart_name(path)
    assert (len(first.registered), len(first.hooks)) == EXPECTED_COUNTS[name]
    assert first.hooks == second.hooks
    generated = GENERATED_PER_RENDER.get(name, set())
    differing = {
        obj["metadata"]["name"]
        for obj, again in zip(first.registered, second.registered, strict=True)
        if obj != again
    }
    assert differing == generated
    for obj, again in zip(first.registered, second.registered, strict=True):
        if obj["metadata"]["name"] in generated:
            assert obj["kind"] == "Secret" and obj["data"].keys() == again["data"].keys()
            assert {**obj, "data": None} == {**again, "data": None}
