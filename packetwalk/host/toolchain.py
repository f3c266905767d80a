"""``invoke tools``: pinned kind, kubectl and pulumi in ``<repo>/.packetwalk/bin``, verified.

Every download is checked against the checksum its project publishes next to it (kind: the
``.sha256sum`` file of the release asset; kubectl: the ``.sha256`` file on dl.k8s.io; pulumi: the
release's ``pulumi-<version>-checksums.txt``). A mismatch deletes the download and fails. A file
already in the bin folder is replaced only when packetwalk put it there (``.tools.json`` records
what it installed); anything else is left alone and reported.

The fetcher is injectable so tests serve committed fixtures instead of the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import stat
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from packetwalk.errors import PacketwalkError
from packetwalk.lab import versions

MANIFEST = ".tools.json"
CHUNK = 1 << 16


class ToolchainError(PacketwalkError):
    """A download could not be installed (checksum mismatch, foreign file in the way, platform)."""


class Download(Protocol):
    """An open HTTP(S) response: its size if known, and its body in chunks."""

    total: int | None

    def chunks(self) -> Iterator[bytes]: ...


Fetcher = Callable[[str], AbstractContextManager[Download]]
Progress = Callable[[str, int, int | None], None]
"""Called as ``(label, bytes_so_far, total_or_None)`` while a file downloads."""


@dataclass(frozen=True)
class ToolSpec:
    """One pinned tool for one OS/arch.

    ``archive_dir`` is None for a plain binary; for an archive, every regular file under that
    directory of the tar.gz is installed (the pulumi CLI needs its language hosts beside it).
    """

    name: str
    version: str
    url: str
    checksum_url: str
    asset: str
    archive_dir: str | None = None


def host_platform() -> tuple[str, str]:
    """``(os, arch)`` in Go's spelling: ("linux" | "darwin", "amd64" | "arm64")."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
    if system not in ("linux", "darwin") or arch is None:
        raise ToolchainError(
            f"`invoke tools` supports Linux and macOS on amd64/arm64, not {platform.system()} "
            f"{platform.machine()}; on Windows run packetwalk inside WSL2"
        )
    return system, arch


def tool_specs(os_name: str, arch: str) -> list[ToolSpec]:
    """The pinned downloads for one platform, with where each one's published checksum lives."""
    kind_asset = f"kind-{os_name}-{arch}"
    kind_base = f"https://github.com/kubernetes-sigs/kind/releases/download/{versions.KIND_VERSION}"
    kubectl_url = (
        f"https://dl.k8s.io/release/{versions.KUBECTL_VERSION}/bin/{os_name}/{arch}/kubectl"
    )
    pulumi_arch = {"amd64": "x64", "arm64": "arm64"}[arch]
    pulumi_version = versions.PULUMI_VERSION.removeprefix("v")
    pulumi_asset = f"pulumi-v{pulumi_version}-{os_name}-{pulumi_arch}.tar.gz"
    pulumi_base = f"https://github.com/pulumi/pulumi/releases/download/v{pulumi_version}"
    return [
        ToolSpec(
            "kind",
            versions.KIND_VERSION,
            f"{kind_base}/{kind_asset}",
            f"{kind_base}/{kind_asset}.sha256sum",
            kind_asset,
        ),
        ToolSpec(
            "kubectl", versions.KUBECTL_VERSION, kubectl_url, f"{kubectl_url}.sha256", "kubectl"
        ),
        ToolSpec(
            "pulumi",
            pulumi_version,
            f"{pulumi_base}/{pulumi_asset}",
            # The checksum file name has no "v" although the tag does.
            f"{pulumi_base}/pulumi-{pulumi_version}-checksums.txt",
            pulumi_asset,
            archive_dir="pulumi",
        ),
    ]


def expected_sha256(checksum_text: str, asset: str) -> str:
    """Pick ``asset``'s SHA-256 out of a published checksum file.

    Accepts a bare hash (dl.k8s.io) and ``sha256sum`` lines (``<hex>  <name>``, ``<hex> *<name>``).
    """
    lines = [line.strip() for line in checksum_text.splitlines() if line.strip()]
    for line in lines:
        parts = line.split()
        bare = len(parts) == 1 and len(lines) == 1
        named = len(parts) >= 2 and parts[-1].lstrip("*").rsplit("/", 1)[-1] == asset
        if not (bare or named):
            continue
        digest = parts[0].lower()
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return digest
    raise ToolchainError(f"the published checksum file has no SHA-256 for {asset}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _UrlDownload:
    def __init__(self, response: IO[bytes], total: int | None) -> None:
        self._response = response
        self.total = total

    def chunks(self) -> Iterator[bytes]:
        return iter(lambda: self._response.read(CHUNK), b"")


class _UrlContext(AbstractContextManager["_UrlDownload"]):
    def __init__(self, url: str) -> None:
        self._url = url
        self._response: IO[bytes] | None = None

    def __enter__(self) -> _UrlDownload:
        request = urllib.request.Request(self._url, headers={"User-Agent": "packetwalk-tools"})
        response = urllib.request.urlopen(request, timeout=60)
        self._response = response
        length = response.headers.get("Content-Length")
        return _UrlDownload(response, int(length) if length and length.isdigit() else None)

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()


def urllib_fetcher(url: str) -> AbstractContextManager[Download]:
    return _UrlContext(url)


def _unreachable(url: str, err: OSError) -> ToolchainError:
    reason = getattr(err, "reason", None) or err
    return ToolchainError(
        f"could not download {url}: {reason}. Check the network (and HTTPS_PROXY), or install "
        "the tool another way (`invoke doctor` lists how)"
    )


def _read_text(fetcher: Fetcher, url: str) -> str:
    try:
        with fetcher(url) as download:
            return b"".join(download.chunks()).decode("utf-8", errors="replace")
    except OSError as err:  # URLError, HTTPError, timeouts, resets
        raise _unreachable(url, err) from err


def _download(
    fetcher: Fetcher, url: str, target: Path, label: str, progress: Progress | None
) -> str:
    """Stream ``url`` into ``target`` and return its SHA-256."""
    digest = hashlib.sha256()
    done = 0
    try:
        with fetcher(url) as download, target.open("wb") as out:
            for chunk in download.chunks():
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(label, done, download.total)
    except OSError as err:
        raise _unreachable(url, err) from err
    return digest.hexdigest()


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    files: tuple[str, ...]
    action: str  # "installed" | "already installed"


class Toolchain:
    """The project-local bin folder and what packetwalk installed into it."""

    def __init__(self, bin_dir: Path, fetcher: Fetcher = urllib_fetcher) -> None:
        self.bin_dir = bin_dir
        self.fetcher = fetcher

    @property
    def manifest_path(self) -> Path:
        return self.bin_dir / MANIFEST

    def manifest(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as err:
            raise ToolchainError(
                f"{self.manifest_path}: not valid JSON ({err}); delete it"
            ) from err
        return data if isinstance(data, dict) else {}

    def _save_manifest(self, manifest: dict[str, dict[str, object]]) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.manifest_path)

    def _ours(self, name: str) -> dict[str, str]:
        """File name -> SHA-256 of every file packetwalk installed for tool ``name``."""
        entry = self.manifest().get(name, {})
        files = entry.get("files", {}) if isinstance(entry, dict) else {}
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}

    def is_current(self, spec: ToolSpec) -> bool:
        entry = self.manifest().get(spec.name)
        if not isinstance(entry, dict) or entry.get("version") != spec.version:
            return False
        files = self._ours(spec.name)
        return bool(files) and all(
            (self.bin_dir / name).is_file() and sha256_file(self.bin_dir / name) == digest
            for name, digest in files.items()
        )

    def _check_replaceable(self, spec: ToolSpec, new_files: dict[str, bytes | Path]) -> None:
        ours = {
            name: digest for tool in self.manifest() for name, digest in self._ours(tool).items()
        }
        for name, content in new_files.items():
            path = self.bin_dir / name
            if not path.exists():
                continue
            current = sha256_file(path)
            wanted = (
                hashlib.sha256(content).hexdigest()
                if isinstance(content, bytes)
                else sha256_file(content)
            )
            if current == wanted:
                continue
            if ours.get(name) != current:
                raise ToolchainError(
                    f"{path} exists and was not installed by packetwalk (or was changed since); "
                    f"not overwriting it. Move it away and re-run `invoke tools` to install "
                    f"{spec.name} {spec.version}."
                )

    def install(self, spec: ToolSpec, progress: Progress | None = None) -> Installed:
        """Download, verify and install one tool; nothing is left behind when verification fails."""
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        if self.is_current(spec):
            return Installed(
                spec.name, spec.version, tuple(self._ours(spec.name)), "already installed"
            )
        expected = expected_sha256(_read_text(self.fetcher, spec.checksum_url), spec.asset)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.asset}.", suffix=".part", dir=self.bin_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            actual = _download(self.fetcher, spec.url, tmp, f"{spec.name} {spec.version}", progress)
            if actual != expected:
                raise ToolchainError(
                    f"checksum mismatch for {spec.url}: published {expected}, downloaded {actual}; "
                    f"the download was deleted"
                )
            files = self._unpack(spec, tmp)
            self._check_replaceable(spec, files)
            written = self._write(files)
        finally:
            tmp.unlink(missing_ok=True)
        manifest = self.manifest()
        manifest[spec.name] = {
            "version": spec.version,
            "source": spec.url,
            "sha256": expected,
            "files": written,
        }
        self._save_manifest(manifest)
        return Installed(spec.name, spec.version, tuple(written), "installed")

    def _unpack(self, spec: ToolSpec, archive: Path) -> dict[str, bytes | Path]:
        if spec.archive_dir is None:
            return {spec.name: archive}
        try:
            return self._untar(spec, archive)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise ToolchainError(f"{spec.url} is not a readable tar.gz ({err})") from err

    def _untar(self, spec: ToolSpec, archive: Path) -> dict[str, bytes | Path]:
        assert spec.archive_dir is not None
        files: dict[str, bytes | Path] = {}
        prefix = spec.archive_dir.rstrip("/") + "/"
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.startswith(prefix):
                    continue
                name = member.name[len(prefix) :]
                if not name or "/" in name or name.startswith("."):
                    continue  # only the flat set of binaries; never a path outside bin_dir
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
        if spec.name not in files:
            raise ToolchainError(f"{spec.url} does not contain {prefix}{spec.name}")
        return files

    def _write(self, files: dict[str, bytes | Path]) -> dict[str, str]:
        written: dict[str, str] = {}
        for name, content in files.items():
            target = self.bin_dir / name
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=self.bin_dir)
            with os.fdopen(fd, "wb") as out:
                if isinstance(content, bytes):
                    out.write(content)
                else:
                    with content.open("rb") as src:
                        for chunk in iter(lambda: src.read(CHUNK), b""):
                            out.write(chunk)
            tmp = Path(tmp_name)
            tmp.chmod(
                tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR
            )
            tmp.replace(target)
            written[name] = sha256_file(target)
        return written


# -- the reference CNI plugins for Flannel stacks ------------------------------------------

CNI_PLUGINS_RELEASES = "https://github.com/containernetworking/plugins/releases/download"


def cni_plugins_dir(repo_root: Path) -> Path:
    """Where the Flannel stacks keep the CNI plugins (git-ignored, shared by every stack)."""
    return repo_root / ".packetwalk" / "cni-plugins" / versions.CNI_PLUGINS_VERSION


def cni_plugins_script(target: Path, version: str = versions.CNI_PLUGINS_VERSION) -> str:
    """Download, verify (published .sha256) and unpack the CNI plugins into ``target``.

    The architecture is the Docker daemon's (the nodes run there), not necessarily the host's.
    Nothing is unpacked unless the checksum matches; a complete directory is left alone.
    """
    dest = shlex.quote(str(target))
    return f"""set -eu
dest={dest}
if [ -x "$dest/bridge" ] && [ -x "$dest/host-local" ] && [ -x "$dest/portmap" ]; then
  echo "CNI plugins {version} already in $dest"; exit 0
fi
arch=$(docker info --format '{{{{.Architecture}}}}' 2>/dev/null || uname -m)
case "$arch" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "no CNI plugins build for architecture $arch" >&2; exit 1 ;;
esac
tgz="cni-plugins-linux-$arch-{version}.tgz"
url="{CNI_PLUGINS_RELEASES}/{version}/$tgz"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/$tgz" "$url"
curl -fsSL --retry 3 -o "$tmp/$tgz.sha256" "$url.sha256"
if command -v sha256sum >/dev/null 2>&1; then
  (cd "$tmp" && sha256sum -c "$tgz.sha256")
else
  (cd "$tmp" && shasum -a 256 -c "$tgz.sha256")
fi
mkdir -p "$dest"
tar -xzf "$tmp/$tgz" -C "$dest"
echo "CNI plugins {version} ($arch) verified and unpacked into $dest"
"""
