"""Settings for the test run: the real settings, with a fixed secret so tokens can be minted in tests."""

import os
import sys

os.environ.setdefault("NETCALL_SECRET_KEY", "netcall-test-secret-key-not-for-production")

from netcall_site.settings import *  # noqa: F403

# The pytest process runs jobs itself (jobs_run_pending): no background job thread racing the tests on the
# test database. Daphne servers started by the end-to-end tests import these settings too (they inherit
# DJANGO_SETTINGS_MODULE) and keep their job thread: there, pytest is not loaded.
if "pytest" in sys.modules:
    NETCALL_JOBS_IN_PROCESS = False

# The tests' RTMP listeners are on loopback, which push targets may not be by default (recording/net.py);
# a test of that refusal sets the list empty (NETCALL_LIVE_RTMP_ALLOWED_HOSTS="" for a test server).
if "NETCALL_LIVE_RTMP_ALLOWED_HOSTS" not in os.environ:
    NETCALL_LIVE_RTMP_ALLOWED_HOSTS = ["127.0.0.1", "elsewhere.example"]
