"""`gatebot run`'s composition: Telegram (webhook) and Slack (HTTP) on one server, one event loop."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import TOKEN as TG_TOKEN
from fakes.telegram_api import FakeTelegram
from gatebot.handlers.run import serve
from gatebot.settings import Settings
from test_slack import CHANNEL, SECRET, event_callback, free_port, message, sign
from test_slack import TOKEN as SLACK_TOKEN

HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips"


def test_telegram_webhook_and_slack_events_share_one_server(service) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as tg, FakeSlackAPI() as sl:
            port = free_port()
            settings = Settings(
                telegram_bot_token=TG_TOKEN, telegram_api_base_url=tg.base_url,
                telegram_webhook_url="https://bot.example.org/tg/hook", telegram_webhook_secret="s3cret",
                slack_bot_token=SLACK_TOKEN, slack_signing_secret=SECRET, slack_app_token=None,
                slack_api_url=sl.base_url, gatebot_http_host="127.0.0.1", gatebot_http_port=port)
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings, stop, ready))
            try:
                await asyncio.wait_for(ready.wait(), 15)
                base = f"http://127.0.0.1:{port}"
                assert tg.webhook["url"] == "https://bot.example.org/tg/hook"
                async with aiohttp.ClientSession() as http:
                    async with http.get(base + "/healthz") as resp:
                        assert resp.status == 200
                    # Slack event, signed, on /slack/events
                    body = json.dumps(event_callback(message(HEADLINE, "1700000001.000100"), "Ev1"))
                    async with http.post(base + "/slack/events", data=body.encode(),
                                         headers={"Content-Type": "application/json", **sign(body)}) as resp:
                        assert resp.status == 200
                    # Telegram update, with the secret header, on the webhook's path
                    update = tg.make_update(tg.message(-100777, HEADLINE))
                    status = await tg.post_webhook(update, secret="s3cret", url=base + "/tg/hook")
                    assert status == 200
                    assert await tg.post_webhook(tg.make_update(tg.message(-100777, HEADLINE)),
                                                 url=base + "/tg/hook") == 403
                posted = await sl.wait_for("chat.postMessage", 1, 10.0)
                assert posted[0].params["channel"] == CHANNEL and "Gate 1" in json.dumps(posted[0].params)
                await tg.wait_for(lambda f: f.calls_to("sendMessage"), 10.0)
                assert "Gate 1" in tg.calls_to("sendMessage")[0].params["text"]
            finally:
                stop.set()
                assert await asyncio.wait_for(task, 30) == 0

    asyncio.run(asyncio.wait_for(scenario(), 60))
