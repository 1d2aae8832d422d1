#!/usr/bin/env python3
"""Refresh the vendored third-party assets from the npm registry, at the versions pinned in vendor.json.

For each package: read its version's metadata from https://registry.npmjs.org, download
the tarball, check it against the registry's ``dist.integrity`` (sha512), and write the
listed files plus the package's LICENSE and a VERSION file into its folder. Nothing is
loaded from a CDN at run time; the pages serve these copies. To upgrade, change the
version in vendor.json and run this again. Standard library only.

    python scripts/refresh_vendored_assets.py [--check]

``--check`` downloads and compares without writing; it exits 1 when a file differs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = "https://registry.npmjs.org"
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https registry URL)
        return response.read()


def package_files(name: str, version: str, wanted: dict[str, str]) -> dict[str, bytes]:
    meta = json.loads(fetch(f"{REGISTRY}/{name}/{version}"))
    tarball = fetch(meta["dist"]["tarball"])
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    if algorithm != "sha512" or base64.b64encode(hashlib.sha512(tarball).digest()).decode() != expected:
        raise SystemExit(f"{name}@{version}: the tarball does not match the registry's integrity")
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = {member.name.removeprefix("package/"): member for member in archive.getmembers() if member.isfile()}
        for source, target in wanted.items():
            out[target] = archive.extractfile(members[source]).read()
        licence = next((members[n] for n in LICENSE_NAMES if n in members), None)
        if licence is None:
            raise SystemExit(f"{name}@{version}: no LICENSE file in the package")
        out["LICENSE"] = archive.extractfile(licence).read()
    out["VERSION"] = f"{name}@{version} ({meta.get('license', 'see LICENSE')}) from {meta['dist']['tarball']}\n".encode()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when something differs")
    args = parser.parse_args(argv)
    manifest = json.loads((ROOT / "scripts" / "vendor.json").read_text())
    differs = False
    for package in manifest["packages"]:
        dest = ROOT / package["dest"]
        for target, content in package_files(package["name"], package["version"], package["files"]).items():
            path = dest / target
            same = path.exists() and path.read_bytes() == content
            differs |= not same
            print(f"{'same   ' if same else 'changed'} {path.relative_to(ROOT)} ({len(content)} bytes)")
            if not args.check and not same:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    return 1 if (args.check and differs) else 0


if __name__ == "__main__":
    sys.exit(main())
