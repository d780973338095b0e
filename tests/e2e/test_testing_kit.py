"""The test kit as a downstream team gets it: `pip install` into a fresh virtualenv outside the checkout,
then the README's 20-line example (examples/downstream/) run there by pytest, the plugin loading through its
entry point, the server started from the installed package (templates, static files and migrations
included: the source copy it was installed from is deleted first)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "downstream" / "test_recorded_call.py"
PACKAGED = ("pyproject.toml", "setup.py", "README.md", "recording", "netcall_site", "templates", "static")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "types", "*.egg-info")


def run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{args} failed ({result.returncode}):\n{result.stdout[-8000:]}\n{result.stderr[-8000:]}"
    )
    return result.stdout


def test_the_example_is_twenty_lines_of_test_code() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    code = text.split('"""', 2)[2]  # after the module docstring
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 20, f"{len(lines)} lines:\n" + "\n".join(lines)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert code.strip() in readme, "the README shows another example than examples/downstream/"


@pytest.mark.timeout(420)
def test_the_downstream_example_passes_against_the_installed_package(tmp_path: Path) -> None:
    # A virtualenv that sees this one's installed packages (pytest, Playwright, PyAV, Django...) through a
    # .pth file, so nothing is downloaded; netcall itself is installed into it from a copy of the checkout.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "suite-packages.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")
    source = tmp_path / "source"
    source.mkdir()
    for name in PACKAGED:
        src = REPO_ROOT / name
        (shutil.copytree(src, source / name, ignore=IGNORED) if src.is_dir() else shutil.copy2(src, source / name))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NETCALL_", "DJANGO_", "PYTEST_")) and k not in ("PYTHONPATH", "DATABASE_URL", "REDIS_URL")
    }
    run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", source],
        cwd=tmp_path,
        env=env,
    )
    shutil.rmtree(source)

    for installed in (
        "netcall_site/templates/room.html",
        "netcall_site/templates/recordings",
        "netcall_site/static/netcall/netcall.js",
        "netcall_site/static/netcall/embed.js",
        "netcall_site/static/demo/room.js",
        "recording/migrations/0001_squashed_0006_quotas_attribution.py",
        "recording/testing/probe.js",
    ):
        assert (site / installed).exists(), f"{installed} is not installed in {site}"
    where = run(
        [
            python,
            "-c",
            "import netcall_site, recording.testing.server as s; print(netcall_site.__file__, s.NETCALL_ROOT)",
        ],
        cwd=tmp_path,
        env=env,
    ).split()
    assert where == [str(site / "netcall_site" / "__init__.py"), str(site)], where

    work = tmp_path / "downstream"
    work.mkdir()
    shutil.copy2(EXAMPLE, work / EXAMPLE.name)
    out = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", EXAMPLE.name], cwd=work, env=env, timeout=360)
    assert "1 passed" in out, out
