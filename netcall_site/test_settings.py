"""Settings for the test run: the real settings, with a fixed secret so tokens can be minted in tests."""

import os

os.environ.setdefault("NETCALL_SECRET_KEY", "netcall-test-secret-key-not-for-production")

from netcall_site.settings import *  # noqa: F403
