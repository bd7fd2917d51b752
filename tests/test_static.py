"""`make run` collects static files with the production (manifest) storage: it must succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_collectstatic_with_manifest_storage(tmp_path: Path):
    env = {**os.environ, "RAPPORT_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "rapport.settings.base"}
    result = subprocess.run(
        [sys.executable, "-m", "rapport", "collectstatic", "--noinput", "-v0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    for name in (
        "vendor/htmx.min.js",
        "css/app.css",
        "js/app.js",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    ):
        assert name in manifest
