"""The dependency floors in pyproject.toml exclude releases with known vulnerabilities that reach lamina's server."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

# package -> first release with the fix: libwebp (CVE-2023-4863) and DDS (CVE-2025-48379) in Pillow; multipart
# DoS in Starlette (CVE-2024-47874, CVE-2025-54121) and python-multipart (CVE-2024-53981); Range DoS in Starlette
# (CVE-2025-62727); external-data traversal and ExternalDataInfo injection in onnx (CVE-2024-27318, CVE-2026-34445);
# request smuggling in h11 (CVE-2025-43859).
FIXED = {
    "pillow": "11.3",
    "starlette": "0.49.1",
    "python-multipart": "0.0.22",
    "onnx": "1.21",
    "onnxruntime": "1.20",
    "h11": "0.16",
}


def test_floors_exclude_known_vulnerable_releases():
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    floors = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
        floors[req.name.lower()] = max(lows) if lows else None
    for name, fixed in FIXED.items():
        assert floors.get(name) is not None, f"{name} has no floor"
        assert floors[name] >= Version(fixed), f"{name}>={floors[name]} admits releases before the fix in {fixed}"
