"""The npm package `netcall` (static/netcall/package.json): its version is the project's release, defined
once in pyproject.toml, and the changelog names it; the package holds the served modules themselves,
with no runtime dependency. Packing, installing, bundling and type-checking it: tests/e2e/test_sdk_package.py."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SDK_DIR = REPO_ROOT / "static" / "netcall"
ENTRY_POINTS = {".": "netcall", "./embed": "embed", "./dom": "dom", "./sinks": "sinks"}


def project_version() -> str:
    """The release: pyproject.toml's [project] version, the one place it is written by hand."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def sdk_package() -> dict[str, Any]:
    package: dict[str, Any] = json.loads((SDK_DIR / "package.json").read_text(encoding="utf-8"))
    return package


def test_the_package_version_is_the_project_release() -> None:
    assert sdk_package()["version"] == project_version(), (
        "static/netcall/package.json's version differs from pyproject.toml's: change both together"
    )


def test_the_changelog_starts_with_the_project_release() -> None:
    text = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[?(\d+\.\d+\.\d+[^\]\s]*)\]?", text, flags=re.MULTILINE)
    assert releases, "CHANGELOG.md has no '## <version>' section"
    assert releases[0] == project_version(), f"CHANGELOG.md's newest section is {releases[0]}, not the release"


def test_the_package_is_the_served_modules_with_declarations_beside_them() -> None:
    package = sdk_package()
    assert package["name"] == "netcall"
    assert package["type"] == "module"
    for key in ("dependencies", "peerDependencies", "optionalDependencies", "bundleDependencies", "scripts"):
        assert key not in package, f"the package has {key}: it must install and load as it is"
    for subpath, module in ENTRY_POINTS.items():
        entry = package["exports"][subpath]
        assert list(entry) == ["types", "default"], f"{subpath}: 'types' must come first, then 'default'"
        assert entry["default"] == f"./{module}.js" and (SDK_DIR / f"{module}.js").is_file()
        assert entry["types"] == f"./types/{module}.d.ts"
    assert package["files"] == ["*.js", "types/*.d.ts"]


def test_the_generated_declarations_are_ignored_by_git() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "static/netcall/types/" in ignored
