"""A copy killed mid-stream leaves no object under its final name; the next sync completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import skyfabric

pytestmark = pytest.mark.xdist_group("servers")

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    import skyfabric
    fab = skyfabric.connect(json.loads(os.environ["SF_TEST_CONFIG"]))
    marker = os.environ["SF_TEST_MARKER"]

    def stall(nbytes):
        # after the first chunk is on its way, announce it and hang until killed
        open(marker, "w").close()
        time.sleep(60)

    fab.copy("fabric://t/src/big.bin", "fabric://t/dst/big.bin", progress=stall)
    """
)


def test_killed_copy_leaves_no_final_object(fresh_store_config: dict, tmp_path: Path) -> None:
    if fresh_store_config["kind"] == "memory":
        pytest.skip("a memory store lives inside the killed process; nothing survives to check")
    config = {"stores": {"t": fresh_store_config}}
    fab = skyfabric.connect(config)
    data = os.urandom(12 * 2**20)
    fab.fs.pipe_file("fabric://t/src/big.bin", data)
    marker = tmp_path / "started"
    env = {
        **os.environ,
        "SF_TEST_CONFIG": json.dumps(config, default=str),
        "SF_TEST_MARKER": str(marker),
    }
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "copy process exited before it started streaming"
            assert time.monotonic() < deadline, "copy process never started streaming"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not fab.fs.exists("fabric://t/dst/big.bin")
    result = fab.sync("fabric://t/src", "fabric://t/dst", delete=True)
    assert result.ok, result.to_dict()
    assert fab.fs.cat_file("fabric://t/dst/big.bin") == data
    assert fab.ls("fabric://t/dst") == ["t/dst/big.bin"]
