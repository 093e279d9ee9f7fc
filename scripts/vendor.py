"""Vendor TradingView's lightweight-charts (Apache-2.0) into spark/api/static/vendor/: `make vendor`.

The dashboard has no build step and fetches nothing from elsewhere at run time (its Content-Security-Policy says
so), so the chart library is a committed file. This script is how that file got there: it downloads the pinned
version's tarball from the npm registry, checks the tarball against the registry's sha512 integrity pinned below,
extracts the standalone production ES module build (the library with its one dependency, fancy-canvas, bundled)
and the licence, checks their sha256, and writes them atomically. A test checks the committed files still hash to
the pins (tests/api/test_vendor.py), so an edited or stale copy cannot slip in.

To upgrade: change VERSION, run `python scripts/vendor.py --print-hashes`, check the new version's notes, copy the
printed pins here, run `make vendor`, and commit the script with the files.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.2.1"
TARBALL_URL = f"https://registry.npmjs.org/lightweight-charts/-/lightweight-charts-{VERSION}.tgz"
# dist.integrity of the version on the registry (`npm view lightweight-charts@5.2.1 dist.integrity`)
TARBALL_INTEGRITY = "sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB2a1nsQ=="
VENDOR_DIR = Path(__file__).resolve().parents[1] / "spark" / "api" / "static" / "vendor"
# member of the tarball -> (file name under vendor/, sha256 of its bytes)
FILES = {
    "package/dist/lightweight-charts.standalone.production.mjs": (
        "lightweight-charts.mjs",
        "1bb1ee79f9d4dd17261b53d930f7a8995748276f80e7ba0e24412b5068062f5f",
    ),
    "package/LICENSE": (
        "lightweight-charts.LICENSE",
        "70c9d5382506dd184465425c08a99ad9bd6d9ac1313c252968ba0b585e5ef823",
    ),
}


class VendorError(Exception):
    """A download that failed or bytes that do not match their pin: nothing was written."""


def integrity_of(data: bytes) -> str:
    """The npm (subresource) integrity string of ``data``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def download(url: str = TARBALL_URL, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # a fixed https URL
            return answer.read()
    except OSError as exc:
        raise VendorError(f"cannot download {url}: {exc}") from None


def extract(
    tarball: bytes, *, integrity: str | None = TARBALL_INTEGRITY, files: dict[str, tuple[str, str]] = FILES
) -> dict[str, bytes]:
    """``{vendor file name: bytes}`` of ``files`` from the tarball, which must have ``integrity`` (None: not
    checked, to print the pins of a new version), each file checked against its sha256 pin (empty: not checked)."""
    if integrity is not None and integrity_of(tarball) != integrity:
        raise VendorError(f"the tarball's integrity is {integrity_of(tarball)}, pinned {integrity}")
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member, (name, sha256) in files.items():
            try:
                handle = archive.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise VendorError(f"the tarball has no file {member}")
            data = handle.read()
            digest = hashlib.sha256(data).hexdigest()
            if sha256 and digest != sha256:
                raise VendorError(f"{member} has sha256 {digest}, pinned {sha256}")
            out[name] = data
    return out


def write(files: dict[str, bytes], folder: Path = VENDOR_DIR) -> None:
    """Each file written to a temporary name and renamed over the old one."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        temp = folder / f".{name}.tmp"
        temp.write_bytes(data)
        temp.replace(folder / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vendor.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--print-hashes", action="store_true", help="print the pins of VERSION's tarball; write nothing"
    )
    args = parser.parse_args(argv)
    try:
        tarball = download()
        if args.print_hashes:
            print(f"TARBALL_INTEGRITY = {integrity_of(tarball)!r}")
            unpinned = {member: (name, "") for member, (name, _) in FILES.items()}
            for name, data in extract(tarball, integrity=None, files=unpinned).items():
                print(f"{name}: {hashlib.sha256(data).hexdigest()}")
            return 0
        files = extract(tarball)
    except VendorError as exc:
        print(f"vendor.py: error: {exc}", file=sys.stderr)
        return 1
    write(files)
    for name, data in files.items():
        print(f"vendored {name} ({len(data):,} bytes) from lightweight-charts {VERSION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
