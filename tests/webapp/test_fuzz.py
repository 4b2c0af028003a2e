"""Schemathesis against the real server (waitress, `kb serve`), driven by our OpenAPI
description: a bounded number of generated requests per operation, writes included (with a
key); no 5xx, and every response must match the description (status, content type, schema)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE_DIR
from .test_server import running_server

ST = Path(sys.executable).with_name("st")


@pytest.mark.skipif(not ST.exists() and not shutil.which("st"), reason="schemathesis is a test dependency")
def test_fuzz_the_api_against_its_description(tmp_path):
    home = tmp_path / "home"
    kb = KnowledgeBase(Settings.load(env={}, home=home, model="hash"))
    kb.ingest([SAMPLE_DIR])
    key = kb.keys.create("fuzz")
    with running_server(KB_HOME=str(home), KB_MODEL="hash", KB_RATE_LIMIT="1000000") as base:
        run = subprocess.run(
            [str(ST) if ST.exists() else "st", "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
             "run", base + "/api/v1/openapi.json", "--max-examples", "15", "--seed", "7",
             # every check, schema-valid requests accepted included (statuses: schemathesis.toml)
             "--request-timeout", "30",
             "-H", f"Authorization: Bearer {key}"],
            capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"},
        )
        assert run.returncode == 0, run.stdout[-4000:]
        assert "generated" in run.stdout and " passed" in run.stdout
