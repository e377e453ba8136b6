"""`gatebot run` as a real child process against the fake platform APIs: start-up errors, adapters
that cannot connect, /healthz, slow clients, SIGTERM, and kill -9 in the middle of a burst.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cli_run import gatebot_here
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import TOKEN as TG_TOKEN
from fakes.telegram_api import FakeTelegram
from gatebot.store import Store
from test_slack import SECRET, event_callback, message, sign
from test_slack import TOKEN as SLACK_TOKEN

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_", "GATEBOT_"))}
    env.update(GATEBOT_DB=str(tmp_path / "g.db"), GATEBOT_HTTP_HOST="127.0.0.1", GATEBOT_HTTP_PORT=str(free_port()),
               PYTHONUNBUFFERED="1")
    env.update(values)
    return env


def gatebot(*args: str, env: dict[str, str], stdin: bytes | None = None, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gatebot.cli", *args], input=stdin, capture_output=True, env=env,
                          cwd=ROOT, timeout=60, preexec_fn=preexec)


def one_line_error(out: subprocess.CompletedProcess) -> str:
    err = out.stderr.decode().strip()
    assert out.returncode == 2, (out.returncode, err[-2000:])
    assert "Traceback" not in err and err.count("\n") == 0 and err.startswith("gatebot: "), err[-2000:]
    return err


class Run:
    """`gatebot run` in a child process; its output goes to a file (a pipe could fill up)."""

    def __init__(self, env: dict[str, str], log: Path, preexec=None):
        self.env = env
        self.log = log
        self.preexec = preexec
        self.proc: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{env['GATEBOT_HTTP_PORT']}"

    async def start(self) -> Run:
        out = open(self.log, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gatebot.cli", "run", cwd=str(ROOT), env=self.env, stdout=out,
            stderr=subprocess.STDOUT, preexec_fn=self.preexec)
        out.close()
        return self

    @property
    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")

    async def health(self, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            async with http.get(self.url + "/healthz") as resp:
                return resp.status, await resp.json()

    async def wait_health(self, check, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.returncode is None, self.output[-3000:]
            try:
                status, body = await self.health()
                last = (status, body)
                if check(status, body):
                    return body
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = exc
            await asyncio.sleep(0.1)
        raise AssertionError(f"health never matched: {last}\n{self.output[-3000:]}")

    async def stop(self, sig: int = signal.SIGTERM, limit: float = 10.0) -> tuple[int, float]:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.proc.wait(), limit + 5)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        return code, time.monotonic() - started

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no handler, no cleanup
        await self.proc.wait()


def run(coro: Any, timeout: float = 90) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --------------------------------------------------------------------------- start-up errors


@pytest.mark.parametrize("values, names", [
    ({"GATEBOT_HTTP_PORT": "abc"}, ["GATEBOT_HTTP_PORT"]),
    ({"GATEBOT_HTTP_PORT": "70000", "GATEBOT_LOG_LEVEL": "verbose"}, ["GATEBOT_HTTP_PORT", "GATEBOT_LOG_LEVEL"]),
    ({"TELEGRAM_BOT_TOKEN": "123456:secret value with spaces"}, ["TELEGRAM_BOT_TOKEN"]),
    ({"SLACK_BOT_TOKEN": "xoxp-user-token-SECRETVALUE"}, ["SLACK_BOT_TOKEN"]),
])
def test_bad_settings_are_one_line_exit_2_and_echo_no_value(tmp_path: Path, values: dict[str, str],
                                                            names: list[str]) -> None:
    err = one_line_error(gatebot("run", env=base_env(tmp_path, **values)))
    assert all(name in err for name in names), err
    for value in values.values():
        assert value not in err.replace(names[0], "")
    assert "secret" not in err.lower().replace("secret_", "") and "SECRETVALUE" not in err


def test_rejected_telegram_token_exits_2_in_one_line(tmp_path: Path) -> None:
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken_xyz"

    async def scenario() -> tuple[int, str]:
        async with FakeTelegram() as fake:
            bot = await Run(base_env(tmp_path, TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_BASE_URL=fake.base_url),
                            tmp_path / "run.log").start()
            assert bot.proc is not None
            code = await asyncio.wait_for(bot.proc.wait(), 20)
            return code, bot.output

    code, output = run(scenario())
    assert code == 2, output
    assert "cannot start: telegram: Telegram rejected the bot token (InvalidToken)" in output
    assert "Traceback" not in output and wrong not in output and wrong.split(":")[1] not in output


def test_digest_send_with_a_rejected_token_is_one_line(tmp_path: Path) -> None:
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken_xyz"

    async def scenario() -> subprocess.CompletedProcess:
        async with FakeTelegram() as fake:
            env = base_env(tmp_path, TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_BASE_URL=fake.base_url)
            return await asyncio.to_thread(gatebot, "digest", "--send", "--platform", "telegram", "--chat", "1", env=env)

    err = one_line_error(run(scenario()))
    assert "cannot send: telegram: Telegram rejected the bot token" in err and wrong.split(":")[1] not in err


def test_rejected_slack_app_token_exits_2_and_never_retries(tmp_path: Path) -> None:
    """Socket Mode with an app token Slack refuses: one line, exit 2, at once (it used to retry forever)."""

    async def scenario() -> tuple[int, float, str, int]:
        async with FakeSlackAPI(tokens={SLACK_TOKEN}) as fake:
            bot = await Run(base_env(tmp_path, SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_APP_TOKEN="xapp-1-A0-revoked",
                                     SLACK_API_URL=fake.base_url), tmp_path / "run.log").start()
            started = time.monotonic()
            assert bot.proc is not None
            code = await asyncio.wait_for(bot.proc.wait(), 20)
            return code, time.monotonic() - started, bot.output, len(fake.of("apps.connections.open"))

    code, took, output, attempts = run(scenario())
    assert code == 2 and attempts == 1, output
    assert "cannot start: slack: Slack rejected SLACK_APP_TOKEN (invalid_auth)" in output
    assert "Traceback" not in output and "xapp-1-A0-revoked" not in output
    assert took < 10


def test_busy_port_in_webhook_mode_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env(tmp_path, SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET=SECRET,
                       SLACK_API_URL="http://127.0.0.1:9/api/", GATEBOT_HTTP_PORT=str(port))
        out = gatebot("run", env=env)
    assert out.returncode == 2
    text = out.stderr.decode()
    assert f"cannot start: cannot listen on 127.0.0.1:{port}" in text and "Traceback" not in text


# --------------------------------------------------------------------------- the database file


def damaged_db(tmp_path: Path) -> Path:
    env = base_env(tmp_path)
    lines = "".join(f"昇腾CANN全面开源 {i}\n" for i in range(300)).encode()
    assert gatebot_here("chat", env=env, stdin=lines, cwd=ROOT).returncode == 0  # the file to damage: made here
    db = Path(env["GATEBOT_DB"])
    with open(db, "r+b") as f:  # pages 4-7 overwritten, the header page left intact
        f.seek(4096 * 3)
        f.write(os.urandom(4096 * 4))
    return db


def test_damaged_database_stops_every_command_in_one_line(tmp_path: Path) -> None:
    db = damaged_db(tmp_path)
    env = base_env(tmp_path, GATEBOT_DB=str(db), TELEGRAM_BOT_TOKEN=TG_TOKEN,
                   TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot")
    for args, stdin in ((("run",), None), (("gates",), None), (("chat",), "昇腾CANN全面开源\n/gates\n".encode())):
        err = one_line_error(gatebot(*args, env=env, stdin=stdin))
        assert str(db) in err and "damaged" in err and "backup" in err, (args, err)


def test_write_error_during_chat_is_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    Store(env["GATEBOT_DB"]).close()  # create and migrate the database first
    size = Path(env["GATEBOT_DB"]).stat().st_size

    def small_files() -> None:  # `ulimit -f`: no file may grow past what the database has now
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 8192, size + 8192))

    lines = "".join(f"昇腾CANN全面开源 {i}\n" for i in range(400)).encode()
    out = gatebot("chat", env=env, stdin=lines, preexec=small_files)
    err = one_line_error(out)
    assert env["GATEBOT_DB"] in err and "cannot write database" in err
    assert "第三道门" in out.stdout.decode()  # what came before the error was answered


# --------------------------------------------------------------------------- adapters that cannot connect


def test_unreachable_platform_is_retried_while_the_other_runs(tmp_path: Path) -> None:
    """Telegram is down at start and comes up later; Slack (Socket Mode) stays unreachable. The
    scheduler runs from the start, Telegram answers once it is up, /healthz says who is not
    running, there is no traceback, and SIGTERM stops it all within 10 s."""
    tg_port = free_port()

    async def scenario() -> None:
        env = base_env(tmp_path, TELEGRAM_BOT_TOKEN=TG_TOKEN, TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{tg_port}/bot",
                       SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_APP_TOKEN="xapp-1-unreachable",
                       SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
        bot = await Run(env, tmp_path / "run.log").start()
        try:
            body = await bot.wait_health(lambda status, b: status == 503 and b["scheduler"]["last_tick"]
                                         and b["adapters"]["telegram"]["state"] == "retrying"
                                         and b["adapters"]["slack"]["state"] == "retrying")
            assert body["scheduler"]["state"] == "running" and not body["ok"]
            fake = await FakeTelegram().start(port=tg_port)  # the network comes back for Telegram
            try:
                body = await bot.wait_health(lambda status, b: b["adapters"]["telegram"]["state"] == "running",
                                             timeout=30)
                assert body["adapters"]["slack"]["state"] == "retrying"
                fake.push_message(-100777, HEADLINE)
                calls = await fake.wait_calls("sendMessage", 1, timeout=15)
                assert "Gate 1" in calls[0].params["text"]
                status, _ = await bot.health()
                assert status == 503  # Slack is still down
                code, took = await bot.stop()
            finally:
                await fake.stop()
        finally:
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.kill()
        output = bot.output
        assert code == 0 and took < 10, output[-3000:]
        assert "slack adapter could not start" in output and "telegram adapter could not start" in output
        assert "Traceback" not in output and TG_TOKEN not in output and "xapp-1-unreachable" not in output

    run(scenario())


def test_docker_healthcheck_command_follows_healthz(tmp_path: Path) -> None:
    """The Dockerfile's HEALTHCHECK, run as written: passes while healthy, fails once it is not."""
    command = re.search(r'HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])', (ROOT / "Dockerfile").read_text()).group(1)
    argv = [sys.executable if a == "python" else a for a in json.loads(command)]

    async def check(env: dict[str, str]) -> int:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stderr=subprocess.DEVNULL)
        return await proc.wait()

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            env = base_env(tmp_path, TELEGRAM_BOT_TOKEN=TG_TOKEN, TELEGRAM_API_BASE_URL=fake.base_url)
            bot = await Run(env, tmp_path / "run.log").start()
            try:
                body = await bot.wait_health(lambda status, b: status == 200)
                assert body["adapters"]["telegram"]["state"] == "running" and body["inbox"] is not None
                assert await check(env) == 0
                assert await check({**env, "GATEBOT_HTTP_PORT": str(free_port())}) != 0  # nothing listening
            finally:
                code, _ = await bot.stop()
            assert code == 0
            assert shlex.join(argv)  # the command is runnable as written

    run(scenario())


# --------------------------------------------------------------------------- slow clients


def test_half_sent_requests_cannot_exhaust_descriptors(tmp_path: Path) -> None:
    """400 connections that never finish their headers, against a process allowed 256 descriptors:
    /healthz and the Slack endpoint keep answering, a slow body gets 408, the idle ones are closed."""

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    async def scenario() -> None:
        async with FakeSlackAPI() as fake:
            env = base_env(tmp_path, SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET=SECRET,
                           SLACK_API_URL=fake.base_url, GATEBOT_HTTP_TIMEOUT="2")
            bot = await Run(env, tmp_path / "run.log", preexec=few_descriptors).start()
            port = int(env["GATEBOT_HTTP_PORT"])
            writers = []
            try:
                await bot.wait_health(lambda status, b: status == 200)
                for _ in range(400):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
                    writers.append((reader, writer))
                await asyncio.sleep(0.2)
                status, body = await bot.health()
                assert status == 200 and body["ok"]
                payload = json.dumps(event_callback(message(HEADLINE, "1700000001.000100"), "EvSlow"))
                async with aiohttp.ClientSession() as http:
                    async with http.post(bot.url + "/slack/events", data=payload.encode(),
                                         headers={"Content-Type": "application/json", **sign(payload)}) as resp:
                        assert resp.status == 200
                    await fake.wait_for("chat.postMessage", 1, timeout=10)
                # a body that never arrives: 408 after GATEBOT_HTTP_TIMEOUT
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                answer = await asyncio.wait_for(reader.read(200), 6)
                assert answer.startswith(b"HTTP/1.1 408"), answer
                writer.close()
                # the half-sent ones are all closed by the server: evicted, or timed out
                closed = 0
                for reader, _writer in writers:
                    try:
                        closed += await asyncio.wait_for(reader.read(100), 5) == b""
                    except ConnectionError:
                        closed += 1
                    except asyncio.TimeoutError:
                        pass  # still open: counted as not closed
                assert closed == len(writers)
                status, _ = await bot.health()
                assert status == 200
            finally:
                for _reader, writer in writers:
                    writer.close()
                code, took = await bot.stop()
            output = bot.output
            assert code == 0 and took < 10, output[-3000:]
            assert "Too many open files" not in output and "Traceback" not in output
            assert output.count("\n") < 100, output[-3000:]

    run(scenario())


# --------------------------------------------------------------------------- kill -9 in a burst


class SlowSite:
    """A news page that does not answer until `opened`: messages with its link stay in hand."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> SlowSite:
        async def page(request: web.Request) -> web.Response:
            await self.opened.wait()
            return web.Response(text=f"<html><head><title>{HEADLINE}</title></head></html>", content_type="text/html")

        app = web.Application()
        app.router.add_get("/{name}", page)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.opened.set()
        if self.runner is not None:
            await self.runner.cleanup()


def inbox_counts(db: str) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return dict(conn.execute("select status, count(*) from inbox group by status").fetchall())
        except sqlite3.OperationalError:
            return {}


def test_kill_9_mid_burst_loses_nothing_and_answers_once(tmp_path: Path) -> None:
    """A burst on Telegram (polling) and Slack (HTTP); gatebot is killed with SIGKILL while most of
    it is confirmed to the APIs but unanswered. After a restart every message is answered, once."""
    plain_tg, linked_tg, plain_sl, linked_sl = 30, 90, 15, 30

    async def scenario() -> None:
        site = await SlowSite().start()
        async with FakeTelegram() as tg, FakeSlackAPI() as sl:
            env = base_env(tmp_path, TELEGRAM_BOT_TOKEN=TG_TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
                           SLACK_BOT_TOKEN=SLACK_TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=sl.base_url,
                           GATEBOT_FETCH_ALLOW_PRIVATE="1")
            bot = await Run(env, tmp_path / "run.log").start()
            try:
                await bot.wait_health(lambda status, b: status == 200)
                link = f"http://127.0.0.1:{site.port}"
                # one direct chat per Telegram message, one channel per Slack message: answers are countable
                tg_chats = list(range(5001, 5001 + plain_tg + linked_tg))
                for i, chat in enumerate(tg_chats):
                    tg.push_message(chat, HEADLINE if i < plain_tg else f"{HEADLINE} {link}/tg{i}")
                async with aiohttp.ClientSession() as http:
                    for i in range(plain_sl + linked_sl):
                        text = HEADLINE if i < plain_sl else f"{HEADLINE} <{link}/sl{i}>"
                        body = json.dumps(event_callback(message(text, f"1700000{i:03d}.000100", channel=f"C{i:08d}"),
                                                         f"Ev{i}"))
                        async with http.post(bot.url + "/slack/events", data=body.encode(),
                                             headers={"Content-Type": "application/json", **sign(body)}) as resp:
                            assert resp.status == 200  # acknowledged: Slack will not send it again
                # the plain ones are answered; the linked ones wait for the page (in hand, or queued)
                await tg.wait_for(lambda f: len(f.calls_to("sendMessage")) >= plain_tg, 20)
                await sl.wait_for("chat.postMessage", plain_sl, 20)
                await tg.wait_for(lambda f: not f.updates, 10)  # every update confirmed by an offset
                deadline = time.monotonic() + 10
                while True:  # no reply half-sent: each one the APIs saw is marked done
                    done = inbox_counts(env["GATEBOT_DB"]).get("done", 0)
                    if done == len(tg.calls_to("sendMessage")) + len(sl.of("chat.postMessage")):
                        break
                    assert time.monotonic() < deadline, inbox_counts(env["GATEBOT_DB"])
                    await asyncio.sleep(0.05)
                await bot.kill()
                counts = inbox_counts(env["GATEBOT_DB"])
                assert counts.get("pending", 0) >= linked_tg + linked_sl, counts
                assert len(tg.calls_to("sendMessage")) == plain_tg and len(sl.of("chat.postMessage")) == plain_sl

                site.opened.set()  # the page answers now
                bot = await Run(env, tmp_path / "run2.log").start()
                await tg.wait_for(lambda f: len(f.calls_to("sendMessage")) >= len(tg_chats), 40)
                await sl.wait_for("chat.postMessage", plain_sl + linked_sl, 20)
                await asyncio.sleep(0.5)  # anything sent twice would show up now
                body = await bot.wait_health(lambda status, b: status == 200)
                assert body["inbox"].get("pending", 0) == 0, body
                code, took = await bot.stop()
                assert code == 0 and took < 10
            finally:
                if bot.proc is not None and bot.proc.returncode is None:
                    await bot.kill()
                await site.stop()
            per_chat = [int(c.params["chat_id"]) for c in tg.calls_to("sendMessage")]
            assert sorted(per_chat) == tg_chats  # every Telegram message answered exactly once
            per_channel = [c.params["channel"] for c in sl.of("chat.postMessage")]
            assert sorted(per_channel) == [f"C{i:08d}" for i in range(plain_sl + linked_sl)]  # and every Slack one
            linked_replies = [c.params["text"] for c in tg.calls_to("sendMessage")[plain_tg:]]
            assert all("Gate 1" in text for text in linked_replies)
            assert "resumed" in bot.output

    run(scenario(), timeout=120)
