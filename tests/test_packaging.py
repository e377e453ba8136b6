"""A plain `pip install .` into a fresh venv installs one import name, gatebot, and finds the rules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.db", "build", "dist",
                                                               "*.egg-info", "__pycache__", ".pytest_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(src)], check=True, timeout=300)
    wheel = next(wheels.glob("gatebot-*.whl"))
    env_dir = tmp_path / "venv"
    # The new venv sees this environment's dependencies through a .pth file: only the wheel is installed.
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()) / "parent.pth").write_text(site)
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   timeout=300)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "GATEBOT_RULES"}}
    env["GATEBOT_DB"] = str(workdir / "g.db")
    out = subprocess.run([str(env_dir / "bin" / "gatebot"), "gates"], capture_output=True, text=True, cwd=workdir,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Gate" not in out.stderr and "Policy procurement" in out.stdout
    where = subprocess.run([str(py), "-c", "import gatebot.ruleset as r; print(r.default_rules_dir())"],
                           capture_output=True, text=True, cwd=workdir, env=env, timeout=60).stdout
    assert where.strip().endswith("gatebot/rules") and str(ROOT) not in where
    # One import name in site-packages: nothing generic (bot, handlers, rules) lands beside it.
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    installed = sorted(p.name for p in purelib.iterdir() if p.name not in ("parent.pth", "__pycache__")
                       and not p.name.startswith(("pip", "_distutils_hack", "distutils-precedence", "setuptools",
                                                  "pkg_resources")))
    assert installed == ["gatebot", "gatebot-" + wheel.name.split("-")[1] + ".dist-info"], installed
    version = subprocess.run([str(env_dir / "bin" / "gatebot"), "--version"], capture_output=True, text=True,
                             cwd=workdir, env=env, timeout=60)
    assert version.returncode == 0 and version.stdout.strip().endswith(wheel.name.split("-")[1]), version
    out = subprocess.run([str(env_dir / "bin" / "gatebot"), "rules", "check"], capture_output=True, text=True,
                         cwd=workdir, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    # The chart's CJK font subset ships inside the package (and keeps the wheel small).
    assert (purelib / "gatebot" / "fonts" / "gatebot-chart-cjk.otf").is_file()
    assert (purelib / "gatebot" / "fonts" / "OFL.txt").is_file()
    assert wheel.stat().st_size < 5_000_000, wheel.stat().st_size  # mostly the learned model (rules/model.json)
