"""`gatebot` inside the test process: the `main(argv)` the console script calls, with the environment,
working directory and stdin a child process would get, and its exit code, stdout and stderr as
bytes (the shape of `subprocess.run(..., capture_output=True)`).

A new interpreter costs about a second before the first line of gatebot runs (imports, rules,
models); tests about what a command does and prints run it here instead. Tests about the process
itself (the console script, `gatebot run`, signals, resource limits, a child's start-up) still start
one. An exception that would reach the interpreter is printed to stderr as a traceback with exit
code 1, as Python does, so "no traceback" assertions keep their meaning.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path


class _Kept(io.BytesIO):
    """Output kept after a wrapper around it is closed or collected (that closes what it wraps)."""

    def close(self) -> None:
        pass


@dataclass
class Ran:
    args: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes


def gatebot_here(*args: str, env: dict[str, str], cwd: Path, stdin: bytes | None = None) -> Ran:
    """Run `gatebot *args` with exactly `env` as the environment, in `cwd`, reading `stdin` (none:
    an empty, non-interactive stdin, like a child's /dev/null)."""
    from gatebot.cli import main

    out, err = _Kept(), _Kept()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's --help and --version
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 - what the interpreter would print
            traceback.print_exc()
            code = 1
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Ran(["gatebot", *args], code, stdout, stderr)
