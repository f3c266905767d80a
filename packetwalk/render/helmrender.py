"""Render a chart package with the real Helm v4 library, offline, as ``helm.v4.Chart`` would.

helm-sdkpy binds Helm's Go library but offers install, not template, so the chart is installed
into a fresh :class:`~packetwalk.render.apiserver.StandInApiServer` and read back:

- the release manifest from Helm's own release Secret (``sh.helm.release.v1.<name>.v1``: base64,
  gzip, JSON, exactly as Helm's Secret storage driver writes it), parsed into objects; or from
  the ConfigMap of that name when ``HELM_DRIVER=configmap`` was set as the Helm library loaded
  (its Go runtime keeps the environment it started with);
- the CRDs of the chart's ``crds/`` folders, in the order Helm created them, which is before it
  stores the release;
- the hooks, which the release keeps apart from the manifest. helm-sdkpy cannot turn hooks off,
  so Helm runs a chart's install hooks against the stand-in, which lets them pass at once.

What ``helm.v4.Chart`` registers is the CRDs, then the manifest objects, with every namespaced
object lacking a namespace put in the release namespace, and no hooks. Checked against
pulumi-kubernetes v4.34.2, ``provider/pkg/provider/helm/v4/chart.go``: ``IncludeCRDs =
!SkipCrds``, ``DisableHooks = true``, ``ClientOnly = true``, the manifest parsed and then
``yamlv2.Normalize(objs, namespace, ...)``. One difference remains and is inherent: Helm's install
renders after creating the chart's CRDs, so ``.Capabilities.APIVersions`` already lists them,
while Pulumi's first render (before any CRD exists) does not; none of the pinned charts tests its
own CRDs' API versions in a template (``tests/test_render_helmrender.py`` checks that).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from packetwalk.errors import PacketwalkError
from packetwalk.lab import versions
from packetwalk.render.apiserver import StandInApiServer

HELM_SDKPY_VERSION = versions.HELM_SDKPY_VERSION


class RenderError(PacketwalkError):
    """A chart that Helm refused to render with the given values, or no Helm library here."""


@dataclass(frozen=True)
class RenderedChart:
    """One chart's rendering: what a ``helm.v4.Chart`` of it would register, and its hooks."""

    release: str
    namespace: str
    crds: tuple[dict[str, Any], ...]
    objects: tuple[dict[str, Any], ...]
    hooks: tuple[dict[str, Any], ...]

    @property
    def registered(self) -> list[dict[str, Any]]:
        """CRDs first, then the manifest, as the Chart component registers them."""
        return [*self.crds, *self.objects]


def _helm() -> Any:
    try:
        import helm_sdkpy
    except ImportError as err:  # the package declares Python 3.12+; ./invoke installs it anyway
        raise RenderError(
            f"rendering charts needs helm-sdkpy=={HELM_SDKPY_VERSION} (the Helm v4 library), "
            "which is not installed: run any ./invoke task once (it installs it), or "
            f"`pip install --ignore-requires-python helm-sdkpy=={HELM_SDKPY_VERSION}`"
        ) from err
    except OSError as err:
        raise RenderError(f"helm-sdkpy could not load its Helm library: {err}") from err
    return helm_sdkpy


def decode_release(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The release JSON in a Helm release Secret or ConfigMap, as the API serves it.

    Helm stores base64 of gzipped JSON; a Secret's data is base64 once more in JSON, a
    ConfigMap's is not. Old Helm releases were not gzipped, so gzip is optional.
    """
    kind = str(stored.get("kind") or "Secret")
    data = (stored.get("data") or {}).get("release")
    if not isinstance(data, str):
        raise RenderError(f"the release {kind} has no data.release")
    try:
        encoded = base64.b64decode(data, validate=True)
        if kind != "ConfigMap":
            encoded = base64.b64decode(encoded, validate=True)
        raw = gzip.decompress(encoded) if encoded[:2] == b"\x1f\x8b" else encoded
        release = json.loads(raw)
    except (binascii.Error, OSError, EOFError, zlib.error, ValueError) as err:
        raise RenderError(
            f"the release {kind}'s data.release is not Helm's base64 of (gzipped) JSON: {err}"
        ) from err
    if not isinstance(release, dict):
        raise RenderError(f"the release {kind}'s data.release is not a release object")
    return release


def parse_manifest(text: str, *, source: str) -> list[dict[str, Any]]:
    """The objects of a multi-document manifest, empty documents skipped."""
    objects: list[dict[str, Any]] = []
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        raise RenderError(f"{source}: the rendered manifest is not YAML: {err}") from err
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document:
            raise RenderError(
                f"{source}: a rendered document is not a Kubernetes object: {str(document)[:80]!r}"
            )
        objects.append(document)
    return objects


def render_chart(
    package: Path, *, release: str, namespace: str, values: Mapping[str, Any], timeout: int = 120
) -> RenderedChart:
    """Render ``package`` (a chart .tgz) as release ``release`` in ``namespace``."""
    helm = _helm()
    api = StandInApiServer()
    namespaces = api.state.resources[("v1", "namespaces")]
    if namespace not in {key[3] for key in api.state.objects if key[1] == "namespaces"}:
        # The release Secret lives in the release namespace; who creates that namespace on a
        # real cluster is checked over the desired state, not here.
        api.state.create(
            namespaces,
            "",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
    before = len(api.writes)
    # Helm reads HELM_DRIVER from the environment; only the Secret driver leaves a release
    # Secret to read back.
    previous_driver = os.environ.pop("HELM_DRIVER", None)
    try:
        with api.running():
            config = helm.Configuration(namespace=namespace, kubeconfig=api.kubeconfig())
            # A loop of its own, not asyncio.run: that would leave the thread without a current
            # loop, which callers like Pulumi's mocks still expect to find.
            loop = asyncio.new_event_loop()
            try:
                # Pinned, not left to helm-sdkpy's defaults: client-side creates (the stand-in
                # has no server-side apply) and no OpenAPI validation, like helm.v4.Chart's
                # client-only render.
                loop.run_until_complete(
                    helm.Install(config).run(
                        release,
                        str(package),
                        values=json.loads(json.dumps(values)),
                        create_namespace=False,
                        wait=False,
                        timeout=timeout,
                        server_side_apply=False,
                        disable_openapi_validation=True,
                    )
                )
            except Exception as err:  # helm_sdkpy raises its own HelmError subclasses
                raise RenderError(
                    f"helm could not render {package.name} as release "
                    f"{release!r} in namespace {namespace!r}: {err}"
                ) from err
            finally:
                loop.close()
    finally:
        if previous_driver is not None:
            os.environ["HELM_DRIVER"] = previous_driver
    writes = api.writes[before:]
    storage_name = f"sh.helm.release.v1.{release}.v1"
    storage, stored = next(
        (
            (plural, found)
            for plural in ("secrets", "configmaps")
            if (found := api.state.objects.get(("v1", plural, namespace, storage_name)))
        ),
        ("", None),
    )
    if stored is None:
        raise RenderError(
            f"helm left no release Secret (or ConfigMap) {namespace}/"
            f"{storage_name}; was HELM_DRIVER set to memory or sql when the Helm "
            "library loaded?"
        )
    manifest = decode_release(stored)
    first_release_write = next(
        i for i, w in enumerate(writes) if w.resource.plural == storage and w.name == storage_name
    )
    crds = tuple(
        w.body
        for w in writes[:first_release_write]
        if w.verb == "create" and w.resource.plural == "customresourcedefinitions"
    )
    objects = []
    for obj in parse_manifest(manifest.get("manifest", ""), source=package.name):
        resource = api.state.find_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
        metadata = obj.setdefault("metadata", {})
        if resource is not None and resource.namespaced and not metadata.get("namespace"):
            metadata["namespace"] = namespace
        objects.append(obj)
    hooks = tuple(
        obj
        for hook in manifest.get("hooks") or []
        for obj in parse_manifest(hook.get("manifest", ""), source=package.name)
    )
    return RenderedChart(
        release=release, namespace=namespace, crds=crds, objects=tuple(objects), hooks=hooks
    )
