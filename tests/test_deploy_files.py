"""compose.yaml, the Dockerfile and the README's Docker section agree with each other and with the code.

Docker itself cannot run in the test environment; what can be checked without it is checked here:
the paths, port and uid line up, and compose's health check command, run as it is written, passes
against the real HTTP server and fails when nothing answers.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import yaml
from fakes.slack_api import FakeSlackAPI
from gatebot.handlers.run import serve
from gatebot.settings import Settings
from test_slack import SECRET, free_port
from test_slack import TOKEN as SLACK_TOKEN

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))["services"]["gatebot"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_volume_port_and_user_line_up():
    db = re.search(r"GATEBOT_DB=(\S+)", DOCKERFILE).group(1)
    assert COMPOSE["volumes"] == [f"gatebot-data:{Path(db).parent}"]
    assert f"VOLUME {Path(db).parent}" in DOCKERFILE
    port = Settings.model_fields["gatebot_http_port"].default
    assert COMPOSE["ports"] == [f"{port}:{port}"] and f"EXPOSE {port}" in DOCKERFILE
    assert f"-p {port}:{port}" in README and f"-v gatebot-data:{Path(db).parent}" in README
    uid = re.search(r"--uid (\d+)", DOCKERFILE).group(1)
    assert f"chown {uid}" in README
    assert ".env" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()  # secrets stay out of the build


def test_compose_health_check_passes_on_the_real_server_and_fails_without_it(service):
    test = COMPOSE["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    port = Settings.model_fields["gatebot_http_port"].default

    async def check(on_port: int) -> int:
        argv = [sys.executable, *(arg.replace(f":{port}/", f":{on_port}/") for arg in test[2:])]
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        return await asyncio.wait_for(proc.wait(), 20)

    async def scenario() -> tuple[int, int]:
        async with FakeSlackAPI() as slack:
            on = free_port()
            settings = Settings(slack_bot_token=SLACK_TOKEN, slack_signing_secret=SECRET, slack_app_token=None,
                                slack_api_url=slack.base_url, gatebot_http_host="127.0.0.1", gatebot_http_port=on)
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings, stop, ready))
            try:
                await asyncio.wait_for(ready.wait(), 15)
                healthy = await check(on)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
            return healthy, await check(on)

    healthy, after = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert healthy == 0 and after != 0
