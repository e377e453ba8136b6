"""Requests and messages at the edges: bad timestamps, lone surrogates, Slack's escaping, secrets in logs.

Everything goes through the real adapters (`run.serve`) against the fake platform APIs.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from fakes.telegram_api import FakeTelegram
from gatebot.handlers.run import serve
from test_slack import CHANNEL, HEADLINE, Bot, event_callback, message, sign
from test_telegram import GROUP, free_port, reply_to, run, settings_for

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- Slack


def test_non_numeric_slack_timestamp_is_401_without_a_traceback(slack, caplog):
    caplog.set_level(logging.INFO)

    async def body(bot: Bot):
        payload = json.dumps(event_callback(message(HEADLINE, "1700000001.000100"), "EvTs"))
        for ts in ("abc", "", "1e9", "١٢٣", "9" * 400):
            headers = {**sign(payload), "X-Slack-Request-Timestamp": ts}
            status, _ = await bot.post(payload, "application/json", headers=headers, signed=False)
            assert status == 401, ts
        assert bot.fake.of("chat.postMessage") == []

    slack(body)
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_slack_escaping_is_undone_once(slack):
    """Slack sends "AT&amp;T": the user typed AT&T, and must read AT&T (mrkdwn "AT&amp;T"), not AT&amp;T."""

    async def body(bot: Bot):
        await bot.command("/classify", "AT&amp;T orders 5,000 Ascend 910B chips &lt;b&gt; &amp;lt;", rid="q")
        (resp,) = await bot.fake.wait_for("response_url")
        quoted = resp.params["blocks"][0]["text"]["text"]
        assert "AT&amp;T" in quoted and "&amp;amp;" not in json.dumps(resp.params)
        assert "&lt;b&gt;" in quoted  # typed <b>: shown as text, not markup
        assert "&amp;lt;" in quoted  # typed &lt; literally: shown as "&lt;"
        row = bot.service.store.db["messages"].get(1)
        assert row["text"].startswith("AT&T orders") and "<b> &lt;" in row["text"]

    slack(body)


def test_slack_lone_surrogate_and_nul_are_answered(slack):
    async def body(bot: Bot):
        # json.dumps writes "\ud800" as the escape Slack would send; the body itself is valid UTF-8
        event = message(f"{HEADLINE} \ud800 x\x00y \udfff", "1700000002.000100")
        assert await bot.event(event, "EvSur") == 200
        (post,) = await bot.fake.wait_for("chat.postMessage")
        assert post.params["channel"] == CHANNEL and "Gate 1" in post.params["text"]
        text = bot.service.store.db["messages"].get(1)["text"]
        assert "\ufffd" in text and "\x00" not in text and "xy" in text

    slack(body)


@pytest.fixture
def slack(tmp_path, rules, classifier):
    from test_slack import scenario

    return scenario(tmp_path, rules, classifier)


# --------------------------------------------------------------------------- Telegram


def test_telegram_lone_surrogate_is_replaced_and_answered(service) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            port = free_port()
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings_for(fake, gatebot_http_port=port), stop, ready))
            await asyncio.wait_for(ready.wait(), 10)
            update = fake.push_message(GROUP, f"{HEADLINE} \ud800\x00")
            params = await reply_to(fake, update)
            assert "Gate 1" in params["text"]
            assert service.store.db["messages"].get(1)["text"].endswith("\ufffd")
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0

    run(scenario())


def test_webhook_secret_never_reaches_debug_logs(service, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "webhook-secret-Value_0123456789"

    async def scenario() -> None:
        async with FakeTelegram() as fake:
            port = free_port()
            url = f"http://127.0.0.1:{port}/tg/hook"
            settings = settings_for(fake, telegram_webhook_url=url, telegram_webhook_secret=secret,
                                    gatebot_http_host="127.0.0.1", gatebot_http_port=port)
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings, stop, ready))
            await asyncio.wait_for(ready.wait(), 10)
            assert fake.calls_to("setWebhook")[0].params["secret_token"] == secret
            update = fake.make_update(fake.message(GROUP, HEADLINE))
            assert await fake.post_webhook(update, secret=secret) == 200
            await reply_to(fake, update)
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0

    run(scenario())
    assert "setWebhook" in caplog.text  # PTB did log the call and its parameters...
    assert secret not in caplog.text  # ...without the secret


# --------------------------------------------------------------------------- replayed Slack requests


def test_replayed_signed_command_runs_once_also_after_restart(tmp_path, rules, classifier):
    """A signed slash command sent again with the same signature (within Slack's 5 minutes) is
    acknowledged and not run again: /setstatus changes the board once, and one answer is posted."""
    from urllib.parse import urlencode

    from fakes.slack_api import TEAM_ID, FakeSlackAPI
    from test_slack import running

    async def main():
        async with FakeSlackAPI() as fake:
            form = urlencode({"token": "x", "team_id": TEAM_ID, "channel_id": CHANNEL, "user_id": "U0ADMIN01",
                              "user_name": "ann", "command": "/setstatus", "text": "4 A crack has opened | replayed",
                              "response_url": fake.response_url("r1"), "trigger_id": "1.2.3"})
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(form)}  # signed once

            async def post(bot: Bot) -> int:
                async with bot.http.post(bot.url + "/slack/events", data=form.encode(), headers=headers) as resp:
                    return resp.status

            db = tmp_path / "gatebot.db"
            async with running(db, fake, rules, classifier) as bot:
                bot.service.admins = frozenset({"U0ADMIN01"})
                assert [await post(bot) for _ in range(3)] == [200, 200, 200]
                await fake.wait_for("response_url", 1)
                await asyncio.sleep(0.3)
                assert len(bot.service.store.status_history(4)) == 1
            async with running(db, fake, rules, classifier) as bot:
                bot.service.admins = frozenset({"U0ADMIN01"})
                assert await post(bot) == 200
                await asyncio.sleep(0.3)
                assert len(bot.service.store.status_history(4)) == 1
            assert len(fake.responses) == 1 and "A crack has opened" in json.dumps(fake.responses[0].params)

    asyncio.run(asyncio.wait_for(main(), 45))


def test_slack_api_errors_with_a_non_json_body_are_described_not_raised():
    from gatebot.handlers.slack_api import api_error as _api_error
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    def response(data):
        return AsyncSlackResponse(client=None, http_verb="POST", api_url="https://slack.test/api/chat.postMessage",
                                  req_args={}, data=data, headers={}, status_code=405)

    assert _api_error(SlackApiError("bad", response("<html>Method Not Allowed</html>"))) == "405"
    assert _api_error(SlackApiError("bad", response({"ok": False, "error": "channel_not_found"}))) == \
        "405 channel_not_found"
