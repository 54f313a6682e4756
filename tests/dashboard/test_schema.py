"""The dashboard's typed client is generated from this API's OpenAPI document: the committed
`dashboard/src/api/schema.d.ts` must be what `npm --prefix dashboard run gen:api` writes now."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.dashboard.deployment import DASHBOARD


def test_the_committed_api_types_match_the_openapi_document() -> None:
    generator = DASHBOARD / "node_modules" / "openapi-typescript"
    if shutil.which("node") is None or not generator.is_dir():
        message = "needs node and dashboard/node_modules (npm --prefix dashboard ci)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    check = subprocess.run(
        ["node", "scripts/gen-api.mjs", "--check"],
        cwd=DASHBOARD, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-3000:] or check.stdout[-3000:]


def test_the_lock_file_names_no_address() -> None:
    """Versions and integrity hashes pin the dashboard's packages; the lock names no download
    or funding address (`dashboard/.npmrc`, `node scripts/clean-lock.mjs`)."""
    lock = (DASHBOARD / "package-lock.json").read_text(encoding="utf-8")
    assert "://" not in lock
    assert '"integrity": "sha512-' in lock
