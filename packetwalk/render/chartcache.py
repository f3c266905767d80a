"""Chart packages at the pinned versions: a local cache, filled from the chart repositories.

``.packetwalk/lab/charts/<chart>-<version>.tgz``. A package enters the cache only with its SHA-256
checked: against the digest the repository's ``index.yaml`` publishes for that version, and
against packetwalk's own pin where it has one (:data:`KNOWN_DIGESTS`). A folder of packages
(``--charts DIR``) is used as it is, with the same pin check where a pin exists.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from packetwalk.errors import PacketwalkError
from packetwalk.lab.charts import ChartSpec

Fetch = Callable[[str], bytes]

KNOWN_DIGESTS: dict[tuple[str, str], frozenset[str]] = {
    # The released package, as published in the cilium/charts repository's index.yaml.
    ("cilium", "1.19.3"): frozenset(
        {"c8e05df9eabf9019e62f5103e1f35814b4f1b43916f88519e5ae4e36c69aa42b"}
    ),
}
"""SHA-256 of packages known to be the upstream release, by (chart, version)."""


class ChartCacheError(PacketwalkError):
    """A chart package that is missing, cannot be fetched, or fails its digest check."""


def package_name(spec: ChartSpec) -> str:
    return f"{spec.chart}-{spec.version}.tgz"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_pin(spec: ChartSpec, digest: str, where: str) -> None:
    pinned = KNOWN_DIGESTS.get((spec.chart, spec.version))
    if pinned is not None and digest not in pinned:
        raise ChartCacheError(
            f"{where}: sha256 {digest} is not the pinned {spec.chart} {spec.version} "
            f"package ({', '.join(sorted(pinned))}); refusing to use it"
        )


def _default_fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        data: bytes = response.read()
        return data


class ChartCache:
    """Finds each chart spec's package in ``folder`` (or ``source``), fetching it if allowed."""

    def __init__(
        self, folder: Path, *, source: Path | None = None, fetch: Fetch | None = _default_fetch
    ) -> None:
        self.folder = folder
        self.source = source
        self.fetch = fetch

    def locate(self, spec: ChartSpec) -> Path:
        name = package_name(spec)
        if self.source is not None:
            path = self.source / name
            if not path.is_file():
                found = sorted(p.name for p in self.source.glob("*.tgz"))
                raise ChartCacheError(
                    f"{self.source}: no {name} (the pinned {spec.chart} chart); it has: "
                    f"{', '.join(found) or 'no chart packages'}"
                )
            _check_pin(spec, sha256(path.read_bytes()), str(path))
            return path
        cached = self.folder / name
        if cached.is_file():
            _check_pin(spec, sha256(cached.read_bytes()), str(cached))
            return cached
        if self.fetch is None:
            raise ChartCacheError(self._how_to_get(spec))
        return self._download(spec, cached)

    def _how_to_get(self, spec: ChartSpec) -> str:
        return (
            f"the {spec.chart} {spec.version} chart package is not in {self.folder}: run "
            f"`invoke render` with network access once (it fetches it from {spec.repo} "
            f"and checks its digest), or pass --charts DIR with {package_name(spec)} in it "
            f"(`helm pull {spec.chart} --repo {spec.repo} --version {spec.version}`)"
        )

    def _download(self, spec: ChartSpec, target: Path) -> Path:
        assert self.fetch is not None
        index_url = urllib.parse.urljoin(spec.repo.rstrip("/") + "/", "index.yaml")
        try:
            index = yaml.safe_load(self.fetch(index_url))
        except Exception as err:  # network errors come in many types; all mean "no index"
            raise ChartCacheError(
                f"could not read {index_url}: {err}; " + self._how_to_get(spec)
            ) from err
        # A repository URL that answers with a web page parses as a YAML string, not an index.
        listed = index.get("entries") if isinstance(index, dict) else None
        if not isinstance(listed, dict):
            raise ChartCacheError(
                f"{index_url} is not a Helm repository index (no entries); "
                + self._how_to_get(spec)
            )
        entries = [e for e in listed.get(spec.chart) or [] if isinstance(e, dict)]
        entry = next((e for e in entries if str(e.get("version")) == spec.version), None)
        if entry is None:
            versions = ", ".join(str(e.get("version")) for e in entries[:8])
            raise ChartCacheError(
                f"{index_url} has no {spec.chart} {spec.version} "
                f"(newest listed: {versions or 'none'})"
            )
        published = str(entry.get("digest") or "")
        urls = entry.get("urls") or []
        if not published or not urls:
            raise ChartCacheError(
                f"{index_url}: {spec.chart} {spec.version} lists no "
                f"{'digest' if not published else 'url'} to check against"
            )
        url = urllib.parse.urljoin(index_url, str(urls[0]))
        try:
            data = self.fetch(url)
        except Exception as err:
            raise ChartCacheError(f"could not download {url}: {err}") from err
        digest = sha256(data)
        if digest != published:
            raise ChartCacheError(
                f"{url}: sha256 {digest} differs from the {published} that "
                f"{index_url} publishes; nothing was cached"
            )
        _check_pin(spec, digest, url)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed, so an interrupted download leaves no package
        # (and a failed write no partial file either).
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return target
