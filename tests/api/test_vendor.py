"""The vendored charting library: the committed files are the ones `make vendor` pins (scripts/vendor.py), the
script refuses bytes that do not match its pins, and the package ships the vendor folder."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import tarfile
import tomllib
from pathlib import Path

import pytest

from spark.api.dashboard import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("vendor_script", ROOT / "scripts" / "vendor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vendor = _script()


def _tarball(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("member", sorted(vendor.FILES))
def test_the_committed_file_hashes_to_its_pin(member: str) -> None:
    name, sha256 = vendor.FILES[member]
    path = STATIC_DIR / "vendor" / name
    assert path.is_file(), f"{name} is not vendored: run `make vendor`"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_the_library_is_the_pinned_standalone_es_module_build() -> None:
    text = (STATIC_DIR / "vendor" / "lightweight-charts.mjs").read_text(encoding="utf-8")
    assert f"Lightweight Charts™ v{vendor.VERSION}" in text and "Apache License 2.0" in text
    assert "export{" in text and "createChart" in text
    assert vendor.VERSION.startswith("5.")


def test_a_tarball_that_does_not_match_the_registry_integrity_is_refused() -> None:
    forged = _tarball({member: b"console.log('not the library')" for member in vendor.FILES})
    with pytest.raises(vendor.VendorError, match="integrity"):
        vendor.extract(forged)


def test_a_file_that_does_not_match_its_pin_is_refused_even_when_the_tarball_checks_out() -> None:
    """As if the registry served (and vouched for) other bytes: the file's own pin still refuses them."""
    forged = _tarball({member: b"tampered" for member in vendor.FILES})
    with pytest.raises(vendor.VendorError, match="sha256"):
        vendor.extract(forged, integrity=vendor.integrity_of(forged))


def test_a_tarball_missing_the_build_is_refused() -> None:
    forged = _tarball({"package/README.md": b"readme"})
    with pytest.raises(vendor.VendorError, match="no file"):
        vendor.extract(forged, integrity=vendor.integrity_of(forged))


def test_the_pinned_files_come_out_under_their_vendor_names() -> None:
    members = {"package/dist/x.mjs": b"export{}", "package/LICENSE": b"licence"}
    pins = {m: (Path(m).name, hashlib.sha256(d).hexdigest()) for m, d in members.items()}
    tarball = _tarball({**members, "package/other.js": b"ignored"})
    assert vendor.extract(tarball, integrity=vendor.integrity_of(tarball), files=pins) == {
        "x.mjs": b"export{}",
        "LICENSE": b"licence",
    }


def test_files_are_written_whole_under_their_vendor_names(tmp_path: Path) -> None:
    vendor.write({"a.mjs": b"export{}", "a.LICENSE": b"licence"}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.LICENSE", "a.mjs"]
    assert (tmp_path / "a.mjs").read_bytes() == b"export{}"


def test_package_data_ships_the_vendor_folder() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["spark"]
    assert "api/static/vendor/*" in patterns
