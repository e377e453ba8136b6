"""Figures the README quotes come from the real commands and files, so they cannot drift unnoticed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here starts the gatebot command as a process

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def gatebot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gatebot.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


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
