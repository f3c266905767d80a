"""packetwalk.render.chartcache: packages from a folder or the cache, fetched through a fake."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
import rendering
import yaml

from packetwalk.lab.charts import ChartSpec, cni_chart
from packetwalk.render import chartcache
from packetwalk.render.chartcache import ChartCache, ChartCacheError

REPO = "https://charts.example.org/stable/"
SPEC = ChartSpec(
    release="demo", chart="demo", repo=REPO, version="1.2.3", namespace="demo", values={}
)
PACKAGE = b"\x1f\x8b pretend this is a chart package"
PINNED_CILIUM = ChartSpec(
    release="cilium",
    chart="cilium",
    repo="https://helm.cilium.io/",
    version="1.19.3",
    namespace="kube-system",
    values={},
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def index(chart: str = "demo", entries: list[dict[str, object]] | None = None) -> bytes:
    listed = (
        entries
        if entries is not None
        else [
            {"version": "1.2.4", "digest": "0" * 64, "urls": ["demo-1.2.4.tgz"]},
            {"version": "1.2.3", "digest": sha(PACKAGE), "urls": ["demo-1.2.3.tgz"]},
        ]
    )
    return yaml.safe_dump({"apiVersion": "v1", "entries": {chart: listed}}).encode()


class FakeFetch:
    """Answers URLs from a table and remembers what was asked; anything else is an error."""

    def __init__(self, answers: dict[str, bytes | Exception]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.asked.append(url)
        answer = self.answers.get(url, OSError(f"no route to {url}"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def never(url: str) -> bytes:
    raise AssertionError(f"fetched {url}")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- a source folder (--charts DIR) ----------------------------------------------------------


def test_locate_in_a_source_folder(tmp_path: Path) -> None:
    (tmp_path / "demo-1.2.3.tgz").write_bytes(PACKAGE)
    cache = ChartCache(tmp_path / "cache", source=tmp_path, fetch=never)
    assert cache.locate(SPEC) == tmp_path / "demo-1.2.3.tgz"
    assert not (tmp_path / "cache").exists()  # a source folder is used as it is


def test_a_source_folder_without_the_package_lists_what_it_has(tmp_path: Path) -> None:
    (tmp_path / "demo-1.2.2.tgz").write_bytes(PACKAGE)
    cache = ChartCache(tmp_path / "cache", source=tmp_path, fetch=never)
    with pytest.raises(
        ChartCacheError,
        match=re.escape(
            f"{tmp_path}: no demo-1.2.3.tgz (the pinned demo chart); it has: demo-1.2.2.tgz"
        ),
    ):
        cache.locate(SPEC)


def test_a_package_differing_from_its_pin_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cilium-1.19.3.tgz"
    path.write_bytes(PACKAGE)
    cache = ChartCache(tmp_path / "cache", source=tmp_path, fetch=never)
    with pytest.raises(ChartCacheError) as info:
        cache.locate(PINNED_CILIUM)
    message = str(info.value)
    assert message.startswith(f"{path}: sha256 {sha(PACKAGE)} is not the pinned cilium 1.19.3")
    assert "c8e05df9eabf9019e62f5103e1f35814b4f1b43916f88519e5ae4e36c69aa42b" in message


@pytest.mark.skipif(not rendering.CHARTS.is_dir(), reason="../shared/charts missing")
def test_the_real_cilium_package_matches_its_pin() -> None:
    spec = cni_chart(rendering.stack_config("kind-cilium"))
    assert spec is not None and (spec.chart, spec.version) in chartcache.KNOWN_DIGESTS
    cache = ChartCache(rendering.CHARTS / ".no-cache", source=rendering.CHARTS, fetch=never)
    assert cache.locate(spec) == rendering.CHARTS / "cilium-1.19.3.tgz"


# --- the cache, filled through a fetch function ----------------------------------------------


def test_missing_package_without_network_says_how_to_get_it(tmp_path: Path) -> None:
    cache = ChartCache(tmp_path / "cache", fetch=None)
    with pytest.raises(ChartCacheError) as info:
        cache.locate(SPEC)
    message = str(info.value)
    assert f"the demo 1.2.3 chart package is not in {tmp_path / 'cache'}" in message
    assert "`invoke render` with network access" in message
    assert "--charts DIR with demo-1.2.3.tgz in it" in message
    assert f"`helm pull demo --repo {REPO} --version 1.2.3`" in message


def test_fetched_with_the_index_digest_checked_then_served_from_the_cache(tmp_path: Path) -> None:
    fetch = FakeFetch({f"{REPO}index.yaml": index(), f"{REPO}demo-1.2.3.tgz": PACKAGE})
    folder = tmp_path / "cache"
    path = ChartCache(folder, fetch=fetch).locate(SPEC)
    assert path == folder / "demo-1.2.3.tgz" and path.read_bytes() == PACKAGE
    assert fetch.asked == [f"{REPO}index.yaml", f"{REPO}demo-1.2.3.tgz"]
    assert files_in(folder) == ["demo-1.2.3.tgz"]
    assert ChartCache(folder, fetch=never).locate(SPEC) == path


def test_an_absolute_package_url_is_used_as_listed(tmp_path: Path) -> None:
    url = "https://github.com/example/demo/releases/download/v1.2.3/demo-1.2.3.tgz"
    entries: list[dict[str, object]] = [{"version": "1.2.3", "digest": sha(PACKAGE), "urls": [url]}]
    fetch = FakeFetch({f"{REPO}index.yaml": index(entries=entries), url: PACKAGE})
    ChartCache(tmp_path, fetch=fetch).locate(SPEC)
    assert fetch.asked[-1] == url


def test_a_download_differing_from_the_index_digest_is_not_cached(tmp_path: Path) -> None:
    tampered = PACKAGE + b"!"
    fetch = FakeFetch({f"{REPO}index.yaml": index(), f"{REPO}demo-1.2.3.tgz": tampered})
    with pytest.raises(ChartCacheError) as info:
        ChartCache(tmp_path / "cache", fetch=fetch).locate(SPEC)
    assert str(info.value) == (
        f"{REPO}demo-1.2.3.tgz: sha256 {sha(tampered)} differs from the {sha(PACKAGE)} that "
        f"{REPO}index.yaml publishes; nothing was cached"
    )
    assert files_in(tmp_path / "cache") == []


def test_a_download_matching_its_index_but_not_our_pin_is_refused(tmp_path: Path) -> None:
    # A repository (or whoever answers for it) publishing another package under a pinned
    # version: the index agrees with the bytes, the pin does not.
    repo = PINNED_CILIUM.repo
    entries: list[dict[str, object]] = [
        {"version": "1.19.3", "digest": sha(PACKAGE), "urls": ["cilium-1.19.3.tgz"]}
    ]
    fetch = FakeFetch(
        {f"{repo}index.yaml": index("cilium", entries), f"{repo}cilium-1.19.3.tgz": PACKAGE}
    )
    with pytest.raises(
        ChartCacheError, match=f"sha256 {sha(PACKAGE)} is not the pinned cilium 1.19.3 package"
    ):
        ChartCache(tmp_path / "cache", fetch=fetch).locate(PINNED_CILIUM)
    assert files_in(tmp_path / "cache") == []


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {},
            f"could not read {REPO}index.yaml: no route to {REPO}index.yaml; the demo 1.2.3 "
            "chart package is not in",
        ),
        (
            {f"{REPO}index.yaml": b"<!DOCTYPE html><html>moved</html>"},
            f"{REPO}index.yaml is not a Helm repository index (no entries)",
        ),
        ({f"{REPO}index.yaml": b"entries: [1, 2]"}, "is not a Helm repository index"),
        (
            {f"{REPO}index.yaml": index(entries=[{"version": "1.2.4"}, {"version": "1.2.2"}])},
            f"{REPO}index.yaml has no demo 1.2.3 (newest listed: 1.2.4, 1.2.2)",
        ),
        ({f"{REPO}index.yaml": index("other")}, "has no demo 1.2.3 (newest listed: none)"),
        (
            {f"{REPO}index.yaml": index(entries=[{"version": "1.2.3", "urls": ["x.tgz"]}])},
            "demo 1.2.3 lists no digest to check against",
        ),
        (
            {f"{REPO}index.yaml": index(entries=[{"version": "1.2.3", "digest": "ab"}])},
            "demo 1.2.3 lists no url to check against",
        ),
        (
            {f"{REPO}index.yaml": index()},
            f"could not download {REPO}demo-1.2.3.tgz: no route to {REPO}demo-1.2.3.tgz",
        ),
    ],
)
def test_repository_problems_are_chart_cache_errors(
    tmp_path: Path, answers: dict[str, bytes | Exception], message: str
) -> None:
    with pytest.raises(ChartCacheError, match=re.escape(message)):
        ChartCache(tmp_path / "cache", fetch=FakeFetch(answers)).locate(SPEC)
    assert files_in(tmp_path / "cache") == []


def test_an_interrupted_write_leaves_no_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)  # what chartcache renames files with
    fetch = FakeFetch({f"{REPO}index.yaml": index(), f"{REPO}demo-1.2.3.tgz": PACKAGE})
    with pytest.raises(KeyboardInterrupt):
        ChartCache(tmp_path / "cache", fetch=fetch).locate(SPEC)
    monkeypatch.undo()
    assert files_in(tmp_path / "cache") == []
    assert os.path.isdir(tmp_path / "cache")
