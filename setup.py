"""Packaging beside pyproject.toml: which packages, and the top-level templates/ and static/ installed inside
netcall_site/ (netcall_site/settings.py looks there when it is not in a checkout)."""

from setuptools import find_packages, setup

DATA_PACKAGES = {"netcall_site.templates": "templates", "netcall_site.static": "static"}

setup(
    packages=[*find_packages(include=["recording", "recording.*", "netcall_site", "netcall_site.*"]), *DATA_PACKAGES],
    package_dir=DATA_PACKAGES,
    package_data={
        "recording.testing": ["*.js"],
        **{name: ["**/*"] for name in DATA_PACKAGES},
    },
    exclude_package_data={"netcall_site.static": ["netcall/types/**/*"]},
)
