"""The container image builds and runs with the Makefile's own steps (no Docker daemon here:
this checks that every step it runs is one the Makefile has, which `make test` exercises)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_the_image_runs_the_makefiles_steps():
    docker = (ROOT / "Dockerfile").read_text()
    steps = re.findall(r"RUN make ([\w-]+)", docker) + re.findall(r'"make", "([\w-]+)"', docker)
    assert {"install-server", "run"} <= set(steps) and set(steps) <= _targets()
    for copied in re.findall(r"^COPY (\S+)", docker, re.M):
        assert (ROOT / copied).exists(), copied
    compose = (ROOT / "compose.yaml").read_text()
    assert "build: ." in compose and "/data" in compose


def test_make_knows_how_to_build_the_server_alone():
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "install-server", "VENV=/tmp/kb-dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "-c requirements.lock -e ." in out.stdout and "[test" not in out.stdout
