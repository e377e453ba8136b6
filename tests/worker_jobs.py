"""Jobs for tests/test_workers.py, run in real worker processes.

A module of their own, importing nothing heavy: each new worker process imports it before its first job.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pid() -> int:
    return os.getpid()


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def hog(mb: int) -> int:
    return len(bytearray(mb * 1024 * 1024))


def die() -> None:
    os._exit(3)


def die_once(marker: str) -> str:
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(3)
    return "second life"
