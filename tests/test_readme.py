"""Figures the README quotes come from the real commands and files, so they cannot drift unnoticed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from cli_run import gatebot_here

pytestmark = pytest.mark.slow  # the whole gatebot command (rules and models loaded) in most tests

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def gatebot(*args: str) -> subprocess.CompletedProcess:
    """The whole command in this process (cli_run.py), its output decoded as text."""
    ran = gatebot_here(*args, env=dict(os.environ), cwd=ROOT)
    return subprocess.CompletedProcess(ran.args, ran.returncode, ran.stdout.decode(), ran.stderr.decode())


def test_rules_check_block_is_the_real_output():
    quoted = re.search(r"\$ gatebot rules check\n(rules check: [^\n]+)\n", README)
    assert quoted, "README shows `gatebot rules check` with its output"
    real = gatebot("rules", "check").stdout.strip().splitlines()[-1]
    assert quoted.group(1) == real, "update README.md's `gatebot rules check` block with the command's output"


def test_data_files_listed_with_their_real_sizes():
    quoted = dict(re.findall(r"\| `data/(\S+\.jsonl)` \| (\d+) \|", README))
    present = {p.name for p in (ROOT / "data").glob("*.jsonl")}
    assert set(quoted) == present
    for name, n in quoted.items():
        lines = [x for x in (ROOT / "data" / name).read_text(encoding="utf-8").splitlines() if x.strip()]
        assert len(lines) == int(n), name


def test_eval_format_example_is_a_valid_eval_file(tmp_path):
    block = re.search(r"An evaluation file is JSON Lines.*?```json\n(.*?)```", README, re.S)
    assert block
    path = tmp_path / "example.jsonl"
    path.write_text(block.group(1), encoding="utf-8")
    out = gatebot("eval", "--json", str(path))
    assert out.returncode == 0, out.stderr
    assert '"n": 2' in out.stdout
