"""Both chat adapters with the model judge: the real python-telegram-bot and slack-bolt apps
against their fake platform APIs, and the fake OpenAI-compatible server, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes.openai_api import MODEL, FakeLLM, keyword_answer
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import TOKEN as TG_TOKEN
from fakes.telegram_api import FakeTelegram, check_html
from gatebot.handlers import telegram
from gatebot.handlers.run import serve
from gatebot.judge import Judge
from gatebot.service import Service
from gatebot.settings import Settings
from gatebot.store import Store
from test_slack import SECRET, Bot, free_port, message

pytestmark = pytest.mark.slow

KEY = "sk-test-SECRET-0123456789abcdef"
HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips for its servers"  # rules: gate 1; the fake model: gate 2
ZH_HEADLINE = "昇腾CANN全面开源"
SNEAKY = "Hospitals adopt Ascend AI appliances at scale"
GROUP, OTHER_GROUP = -1001234567890, -1009876543210


def answer(text: str) -> dict[str, Any]:
    if text == SNEAKY:  # a reason full of markup: it must arrive as text
        return {"gate": 4, "confidence": "high", "reason": "<b>bold</b> & <!channel> <@U0ADMIN> *x*"}
    return keyword_answer(text)


def with_judge(service: Service, fake: FakeLLM, timeout: float = 1.0) -> Service:
    service.judge = Judge(service.rules, url=fake.base_url, model=MODEL, api_key=KEY, timeout=timeout,
                          store=service.store)
    return service


def run(coro: Any, timeout: float = 40) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --------------------------------------------------------------------------- Telegram


async def tg_reply(fake: FakeTelegram, update: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    msg = update["message"]

    def found(f: FakeTelegram) -> list[dict[str, Any]]:
        return [c.params for c in f.calls_to("sendMessage") if int(c.params["chat_id"]) == msg["chat"]["id"]
                and (c.params.get("reply_parameters") or {}).get("message_id") == msg["message_id"]]

    return (await fake.wait_for(found, timeout))[0]


async def telegram_bot(service: Service, fake: FakeTelegram) -> telegram.TelegramAdapter:
    settings = Settings(telegram_bot_token=TG_TOKEN, telegram_api_base_url=fake.base_url, telegram_webhook_url=None,
                        telegram_webhook_secret=None, slack_bot_token=None)
    adapter = telegram.build(service, settings, web.Application(), retry_base=0.01)
    await adapter.start()
    return adapter


def test_telegram_uses_the_models_gate_and_escapes_its_reason(service: Service) -> None:
    async def scenario() -> None:
        async with FakeLLM(answer=answer) as llm, FakeTelegram() as fake:
            adapter = await telegram_bot(with_judge(service, llm), fake)
            try:
                params = await tg_reply(fake, fake.push_message(GROUP, HEADLINE))
                assert "Gate 2" in params["text"] and f"Judged by {MODEL}." in params["text"]
                assert "The rules said:" in params["text"] and check_html(params["text"]) is None
                params = await tg_reply(fake, fake.push_message(GROUP, SNEAKY))
                assert check_html(params["text"]) is None
                assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;!channel&gt;" in params["text"]
            finally:
                await adapter.stop()
                await service.judge.aclose()

    run(scenario())


def test_telegram_failure_gives_the_rules_answer_and_other_chats_wait_for_nothing(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with FakeLLM() as llm, FakeTelegram() as fake:
            llm.by_text[HEADLINE] = "hang"
            adapter = await telegram_bot(with_judge(service, llm, timeout=2.0), fake)
            try:
                stuck = fake.push_message(GROUP, HEADLINE)
                await asyncio.sleep(0.1)
                started = time.perf_counter()
                other = await tg_reply(fake, fake.push_message(OTHER_GROUP, ZH_HEADLINE))
                assert time.perf_counter() - started < 1.0  # not behind the pending call
                assert "第三道门" in other["text"] and f"由 {MODEL} 判断。" in other["text"]
                params = await tg_reply(fake, stuck, timeout=5.0)
                assert "Gate 1" in params["text"] and "the model did not answer" in params["text"]
            finally:
                await adapter.stop()
                await service.judge.aclose()

    run(scenario())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "llm judge fake-judge-1 failed (timeout" in logged and KEY not in logged


# --------------------------------------------------------------------------- Slack


async def slack_bot(tmp_path: Path, fake: FakeSlackAPI, llm: FakeLLM, rules, classifier, body) -> None:
    port = free_port()
    settings = Settings(slack_bot_token="xoxb-test-token-SECRET-42", slack_signing_secret=SECRET,
                        slack_app_token=None, slack_api_url=fake.base_url, gatebot_http_host="127.0.0.1",
                        gatebot_http_port=port, telegram_bot_token=None)
    store = Store(tmp_path / "gatebot.db")
    service = with_judge(Service(rules, store, classifier), llm)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(service, settings, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with aiohttp.ClientSession() as http:
            await body(Bot(http, f"http://127.0.0.1:{port}", service, fake))
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        await service.judge.aclose()
        store.close()


def test_slack_uses_the_models_gate_and_escapes_its_reason(tmp_path: Path, rules, classifier) -> None:
    async def body(bot: Bot) -> None:
        assert await bot.event(message(HEADLINE, "1700000001.000100"), "EvJ1") == 200
        (call,) = await bot.fake.wait_for("chat.postMessage")
        assert "Gate 2" in call.params["text"] and f"Judged by {MODEL}." in call.params["text"]
        assert await bot.event(message(SNEAKY, "1700000002.000100"), "EvJ2") == 200
        calls = await bot.fake.wait_for("chat.postMessage", n=2)
        sent = json.dumps(calls[1].params, ensure_ascii=False)
        assert "&lt;!channel&gt;" in sent and "&lt;@U0ADMIN&gt;" in sent and "<!channel>" not in sent

    async def main() -> None:
        async with FakeLLM(answer=answer) as llm, FakeSlackAPI() as fake:
            await slack_bot(tmp_path, fake, llm, rules, classifier, body)

    run(main())


def test_slack_failure_gives_the_rules_answer(tmp_path: Path, rules, classifier) -> None:
    async def body(bot: Bot) -> None:
        started = time.perf_counter()
        assert await bot.event(message(HEADLINE, "1700000001.000100"), "EvJ3") == 200
        assert time.perf_counter() - started < 0.5  # acked before the model is asked
        (call,) = await bot.fake.wait_for("chat.postMessage")
        assert "Gate 1" in call.params["text"] and "the model did not answer" in call.params["text"]

    async def main() -> None:
        async with FakeLLM(mode="close") as llm, FakeSlackAPI() as fake:
            await slack_bot(tmp_path, fake, llm, rules, classifier, body)

    run(main())
