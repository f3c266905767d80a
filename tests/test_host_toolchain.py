"""`invoke tools` downloads: URLs, checksum verification, refusal to clobber, idempotence."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import run_sh, write_executable

from packetwalk.host import toolchain
from packetwalk.host.toolchain import (
    Toolchain,
    ToolchainError,
    cni_plugins_script,
    expected_sha256,
    tool_specs,
)
from packetwalk.lab import versions

DATA = Path(__file__).parent / "data" / "toolchain"


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.total: int | None = len(data)

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), 7):  # small chunks: exercise streaming
            yield self.data[start : start + 7]


class FixtureFetcher:
    """Serves tests/data/toolchain/<basename of the URL>; records every URL asked for."""

    def __init__(self, overrides: dict[str, bytes] | None = None) -> None:
        self.urls: list[str] = []
        self.overrides = overrides or {}

    @contextmanager
    def __call__(self, url: str) -> Iterator[_Body]:
        self.urls.append(url)
        name = url.rsplit("/", 1)[-1]
        data = self.overrides.get(name)
        if data is None:
            data = (DATA / name).read_bytes()
        yield _Body(data)


def linux_specs() -> dict[str, toolchain.ToolSpec]:
    return {spec.name: spec for spec in tool_specs("linux", "amd64")}


def test_urls_follow_each_projects_release_layout() -> None:
    specs = linux_specs()
    kind = versions.KIND_VERSION
    assert specs["kind"].url == (
        f"https://github.com/kubernetes-sigs/kind/releases/download/{kind}/kind-linux-amd64"
    )
    assert specs["kind"].checksum_url == specs["kind"].url + ".sha256sum"
    kubectl = versions.KUBECTL_VERSION
    assert specs["kubectl"].url == f"https://dl.k8s.io/release/{kubectl}/bin/linux/amd64/kubectl"
    assert specs["kubectl"].checksum_url == specs["kubectl"].url + ".sha256"
    pulumi = versions.PULUMI_VERSION
    assert specs["pulumi"].url == (
        f"https://github.com/pulumi/pulumi/releases/download/v{pulumi}/pulumi-v{pulumi}-linux-x64.tar.gz"
    )
    assert specs["pulumi"].checksum_url.endswith(f"/v{pulumi}/pulumi-{pulumi}-checksums.txt")
    mac = {spec.name: spec for spec in tool_specs("darwin", "arm64")}
    assert mac["kind"].asset == "kind-darwin-arm64"
    assert mac["pulumi"].asset == f"pulumi-v{pulumi}-darwin-arm64.tar.gz"
    assert "/bin/darwin/arm64/kubectl" in mac["kubectl"].url


def test_expected_sha256_reads_the_three_published_formats() -> None:
    digest = "a" * 64
    assert expected_sha256(digest, "kubectl") == digest
    assert expected_sha256(f"{digest}  kind-linux-amd64\n", "kind-linux-amd64") == digest
    assert expected_sha256(f"{'b' * 64} *other\n{digest.upper()} *x.tar.gz\n", "x.tar.gz") == digest
    with pytest.raises(ToolchainError, match="no SHA-256 for missing"):
        expected_sha256(f"{digest}  present\n", "missing")
    with pytest.raises(ToolchainError):
        expected_sha256("not-a-hash", "kubectl")


def test_installs_all_three_verified_and_executable(tmp_path: Path) -> None:
    fetcher = FixtureFetcher()
    chain = Toolchain(tmp_path / "bin", fetcher)
    seen: list[tuple[str, int, int | None]] = []
    for spec in linux_specs().values():
        result = chain.install(spec, lambda *args: seen.append(args))
        assert result.action == "installed"
    bin_dir = tmp_path / "bin"
    assert (bin_dir / "kind").read_bytes() == (DATA / "kind-linux-amd64").read_bytes()
    assert (bin_dir / "kubectl").read_bytes() == (DATA / "kubectl").read_bytes()
    for name in ("kind", "kubectl", "pulumi", "pulumi-language-python"):
        assert os.access(bin_dir / name, os.X_OK), name
    # The hostile archive member stays unextracted; no download leftovers remain.
    assert not (tmp_path / "escaped").exists() and not (bin_dir / "escaped").exists()
    assert not list(bin_dir.glob(".*part")) and not list(bin_dir.glob(".kind*"))
    manifest = json.loads((bin_dir / ".tools.json").read_text())
    assert set(manifest) == {"kind", "kubectl", "pulumi"}
    assert (
        manifest["kind"]["files"]["kind"]
        == hashlib.sha256((DATA / "kind-linux-amd64").read_bytes()).hexdigest()
    )
    # Progress ends at the full size of each download.
    finals = {label: done for label, done, _total in seen}
    assert finals[f"kind {versions.KIND_VERSION}"] == (DATA / "kind-linux-amd64").stat().st_size


def test_second_run_downloads_nothing(tmp_path: Path) -> None:
    chain = Toolchain(tmp_path / "bin", FixtureFetcher())
    for spec in linux_specs().values():
        chain.install(spec)
    again = FixtureFetcher()
    chain2 = Toolchain(tmp_path / "bin", again)
    results = [chain2.install(spec) for spec in linux_specs().values()]
    assert [r.action for r in results] == ["already installed"] * 3
    assert again.urls == []


def test_checksum_mismatch_deletes_the_download_and_installs_nothing(tmp_path: Path) -> None:
    tampered = FixtureFetcher({"kind-linux-amd64": b"#!/bin/sh\necho evil\n"})
    chain = Toolchain(tmp_path / "bin", tampered)
    with pytest.raises(ToolchainError, match="checksum mismatch") as info:
        chain.install(linux_specs()["kind"])
    assert "published" in str(info.value)
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == []


def test_a_foreign_file_in_the_way_is_never_overwritten(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mine = bin_dir / "kubectl"
    mine.write_text("#!/bin/sh\necho my own kubectl\n")
    chain = Toolchain(bin_dir, FixtureFetcher())
    with pytest.raises(ToolchainError, match="not installed by packetwalk"):
        chain.install(linux_specs()["kubectl"])
    assert mine.read_text() == "#!/bin/sh\necho my own kubectl\n"
    assert not (bin_dir / ".tools.json").exists()


def test_an_identical_existing_file_is_adopted(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_bytes((DATA / "kubectl").read_bytes())
    result = Toolchain(bin_dir, FixtureFetcher()).install(linux_specs()["kubectl"])
    assert result.action == "installed"


def test_an_older_packetwalk_install_is_upgraded(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    chain = Toolchain(bin_dir, FixtureFetcher())
    old = linux_specs()["kind"]
    # Pretend an older pinned kind was installed by packetwalk: same bytes recorded as ours.
    (bin_dir).mkdir()
    (bin_dir / "kind").write_text("old kind\n")
    digest = hashlib.sha256(b"old kind\n").hexdigest()
    (bin_dir / ".tools.json").write_text(
        json.dumps({"kind": {"version": "v0.31.0", "files": {"kind": digest}}})
    )
    assert chain.install(old).action == "installed"
    assert (bin_dir / "kind").read_bytes() == (DATA / "kind-linux-amd64").read_bytes()


def test_host_platform_names() -> None:
    os_name, arch = toolchain.host_platform()
    assert os_name in ("linux", "darwin") and arch in ("amd64", "arm64")


def test_network_failure_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    import urllib.error

    @contextmanager
    def offline(url: str) -> Iterator[_Body]:
        raise urllib.error.URLError("[Errno -2] Name or service not known")
        yield _Body(b"")  # pragma: no cover

    chain = Toolchain(tmp_path / "bin", offline)
    with pytest.raises(ToolchainError, match="could not download https://") as info:
        chain.install(linux_specs()["kind"])
    assert "Name or service not known" in str(info.value)
    assert list((tmp_path / "bin").iterdir()) == []


def test_a_download_cut_short_is_deleted(tmp_path: Path) -> None:
    class Cut(_Body):
        def chunks(self) -> Iterator[bytes]:
            yield self.data[:10]
            raise ConnectionResetError("connection reset by peer")

    @contextmanager
    def flaky(url: str) -> Iterator[_Body]:
        name = url.rsplit("/", 1)[-1]
        data = (DATA / name).read_bytes()
        yield Cut(data) if not name.endswith(".sha256sum") else _Body(data)

    chain = Toolchain(tmp_path / "bin", flaky)
    with pytest.raises(ToolchainError, match="connection reset"):
        chain.install(linux_specs()["kind"])
    assert list((tmp_path / "bin").iterdir()) == []


def test_a_corrupt_archive_with_the_right_checksum_is_refused(tmp_path: Path) -> None:
    junk = b"not a tarball"
    name = f"pulumi-v{versions.PULUMI_VERSION}-linux-x64.tar.gz"
    sums = f"{hashlib.sha256(junk).hexdigest()}  {name}\n".encode()
    fetcher = FixtureFetcher({name: junk, f"pulumi-{versions.PULUMI_VERSION}-checksums.txt": sums})
    with pytest.raises(ToolchainError, match=r"not a readable tar\.gz"):
        Toolchain(tmp_path / "bin", fetcher).install(linux_specs()["pulumi"])
    assert list((tmp_path / "bin").iterdir()) == []


# -- the CNI plugins download (Flannel stacks) ------------------------------------------


def _release(tmp_path: Path, arch: str, *, corrupt: bool = False) -> Path:
    """A fake cni-plugins release folder: the .tgz and its published .sha256 file."""
    releases = tmp_path / "releases"
    releases.mkdir(exist_ok=True)
    name = f"cni-plugins-linux-{arch}-{versions.CNI_PLUGINS_VERSION}.tgz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for plugin in ("bridge", "host-local", "loopback", "portmap", "ptp"):
            data = f"#!/bin/sh\necho {plugin}\n".encode()
            info = tarfile.TarInfo(f"./{plugin}")
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    payload = buffer.getvalue()
    (releases / name).write_bytes(payload)
    digest = hashlib.sha256(payload + (b"x" if corrupt else b"")).hexdigest()
    (releases / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    return releases


def _fake_download_tools(bin_dir: Path, releases: Path, log: Path, arch: str) -> None:
    write_executable(bin_dir, "docker", f'echo "{arch}"\n')
    # curl -fsSL --retry 3 -o <file> <url>: serve the URL's basename from the releases folder.
    write_executable(
        bin_dir,
        "curl",
        f"""out=""; url=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift ;; http*) url="$1" ;; esac; shift
done
echo "$url" >> {log}
cp "{releases}/$(basename "$url")" "$out"
""",
    )


def test_cni_plugins_are_verified_then_unpacked(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "curl.log"
    _fake_download_tools(bin_dir, _release(tmp_path, "arm64"), log, "aarch64")
    target = tmp_path / "cni" / versions.CNI_PLUGINS_VERSION
    result = run_sh(cni_plugins_script(target), bin_dir)
    assert result.returncode == 0, result.stderr
    assert (target / "bridge").stat().st_mode & stat.S_IXUSR
    base = (
        f"https://github.com/containernetworking/plugins/releases/download/"
        f"{versions.CNI_PLUGINS_VERSION}/cni-plugins-linux-arm64-{versions.CNI_PLUGINS_VERSION}"
    )
    assert log.read_text().splitlines() == [f"{base}.tgz", f"{base}.tgz.sha256"]

    again = run_sh(cni_plugins_script(target), bin_dir)  # a second lab reuses the directory
    assert again.returncode == 0 and "already in" in again.stdout
    assert len(log.read_text().splitlines()) == 2


def test_cni_plugins_with_a_bad_checksum_are_not_installed(bin_dir: Path, tmp_path: Path) -> None:
    _fake_download_tools(
        bin_dir, _release(tmp_path, "amd64", corrupt=True), tmp_path / "log", "x86_64"
    )
    target = tmp_path / "cni" / versions.CNI_PLUGINS_VERSION
    result = run_sh(cni_plugins_script(target), bin_dir)
    assert result.returncode != 0
    assert not target.exists()


def test_cni_plugins_refuse_an_unknown_architecture(bin_dir: Path, tmp_path: Path) -> None:
    _fake_download_tools(bin_dir, _release(tmp_path, "amd64"), tmp_path / "log", "s390x")
    result = run_sh(cni_plugins_script(tmp_path / "cni"), bin_dir)
    assert result.returncode != 0
    assert "no CNI plugins build for architecture s390x" in result.stderr
