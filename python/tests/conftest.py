import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _binary():
    """The command-line tool, to compare bytes with: $BBCODEC_BIN, or a build in the
    repository's target folder (release first), or `bbcodec` on the PATH."""
    env = os.environ.get("BBCODEC_BIN")
    if env:
        return env
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "bbcodec"
        if p.exists():
            return str(p)
    return shutil.which("bbcodec")


@pytest.fixture(scope="session")
def cli():
    b = _binary()
    if b is None:
        pytest.skip("no bbcodec binary (cargo build --release, or set BBCODEC_BIN)")

    def run(*args, input=None):
        r = subprocess.run([b, *map(str, args)], input=input, capture_output=True)
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout

    return run


@pytest.fixture(scope="session")
def sample():
    """A real file: alice29.txt's first 40,000 bytes, shipped in testdata/."""
    return (ROOT / "testdata" / "alice29-excerpt.txt").read_bytes()


@pytest.fixture(scope="session")
def corpus():
    d = ROOT.parent / "shared" / "corpus"
    if not d.is_dir():
        if os.environ.get("BBCODEC_REQUIRE_CORPUS"):
            pytest.fail("the corpus is required but absent")
        pytest.skip("SKIPPED: ../shared/corpus absent")
    return d
