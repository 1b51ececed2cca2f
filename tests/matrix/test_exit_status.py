"""tests/matrix/run: every FAIL row it records fails the run, whether or not the step
that recorded it also returned non-zero (issue 12, item 9)."""

import os
import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent / "run"


def matrix_exit(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    # Sourcing sets up the scratch dir and the exit trap without running a release.
    env = dict(os.environ, MATRIX_CACHE=str(tmp_path / "cache"))
    return subprocess.run(["bash", "-c", f'source "$1" --no-floor; {body}', "bash", str(RUN)],
                          env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture(autouse=True)
def needs_root():
    if os.geteuid() != 0:
        pytest.fail("tests/matrix runs as root (as scripts/test does)")


def test_a_recorded_failure_sets_the_exit_status(tmp_path):
    r = matrix_exit(tmp_path, 'result bookworm pass "configure"; '
                              'result bookworm FAIL "native module placement: x"; true')
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "1 recorded failure(s)" in r.stderr, r.stderr
    assert "FAIL   native module placement: x" in r.stdout, r.stdout


def test_only_passes_exit_zero(tmp_path):
    r = matrix_exit(tmp_path, 'result bookworm pass "configure"; result bookworm warn "w"; true')
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "recorded failure" not in r.stderr
