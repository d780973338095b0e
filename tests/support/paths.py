"""Where the checkout is (the suite runs from one; the kit's server finds `netcall_site` wherever it is installed)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
