"""netcall's test kit for teams who test their own app with Playwright: `pip install "netcall[testing]"`.

- `recording.testing.plugin`: the pytest plugin (fixtures `netcall_server`, `participant`,
  `webhook_receiver`), loaded by itself through the `pytest11` entry point.
- `recording.testing.media`: `assert_media(path, ...)` and `measure(path)`: recorded files checked by decoding.
- `recording.testing.server`, `.browser`, `.capture`, `.recorder`, `.webhooks`: what the fixtures build on.

Production code never imports this package (an import-linter contract in pyproject.toml).
"""
