"""The Telegram adapter: the real python-telegram-bot Application against a fake Bot API server.

Every wait is bounded: we poll the fake's recorded calls (FakeTelegram.wait_for) with a timeout.
Silence is asserted deterministically: after the message that must get no answer we send one that
must, and check that only the second got a reply (updates are handed over in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from fakes.telegram_api import BOT_USERNAME, TOKEN, FakeTelegram, check_html, sent_texts
from gatebot.handlers import telegram
from gatebot.handlers.run import serve
from gatebot.handlers.telegram_render import (
    TELEGRAM_LIMIT,
    callback_data,
    keyboard,
    parse_callback,
    render_chunks,
    render_single,
    tg_len,
)
from gatebot.reply import Block, Choice, Reply, label
from gatebot.service import Service
from gatebot.settings import Settings

GROUP = -1001234567890
OTHER_GROUP = -1009876543210
DM = 4242
HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips"
HEADLINE_ZH = "昇腾CANN全面开源"
CHATTER = "anyone up for lunch?"


def run(coro: Any, timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def settings_for(fake: FakeTelegram, **kw: Any) -> Settings:
    values: dict[str, Any] = dict(telegram_bot_token=TOKEN, telegram_api_base_url=fake.base_url,
                                  telegram_webhook_url=None, telegram_webhook_secret=None,
                                  slack_bot_token=None)
    values.update(kw)
    return Settings(**values)


@contextlib.asynccontextmanager
async def polling_bot(service: Service, **kw: Any) -> AsyncIterator[tuple[FakeTelegram, telegram.TelegramAdapter]]:
    async with FakeTelegram() as fake:
        adapter = telegram.build(service, settings_for(fake), web.Application(), retry_base=0.01, **kw)
        await adapter.start()
        try:
            yield fake, adapter
        finally:
            await adapter.stop()


def replies_to(fake: FakeTelegram, chat_id: int, message_id: int) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("sendMessage")
            if int(c.params["chat_id"]) == chat_id
            and (c.params.get("reply_parameters") or {}).get("message_id") == message_id]


async def reply_to(fake: FakeTelegram, update: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Wait for the bot's reply to a pushed message update."""
    msg = update["message"]
    chat_id = msg["chat"]["id"]
    if msg["chat"]["type"] == "private":  # no threading in direct chats: the next message there
        before = len(sent_texts(fake, chat_id))
        await fake.wait_for(lambda f: len(sent_texts(f, chat_id)) > before, timeout)
        return [c.params for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == chat_id][before]
    found = await fake.wait_for(lambda f: replies_to(f, chat_id, msg["message_id"]), timeout)
    return found[0]


async def reply_to_dm(fake: FakeTelegram, chat_id: int, text: str, **kw: Any) -> dict[str, Any]:
    before = len(sent_texts(fake, chat_id))
    fake.push_message(chat_id, text, **kw)
    await fake.wait_for(lambda f: len(sent_texts(f, chat_id)) > before)
    return [c.params for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == chat_id][before]


async def assert_silent(fake: FakeTelegram, update: dict[str, Any]) -> None:
    """No reply to `update`: a later message in the same chat is answered, and nothing else was."""
    chat_id = update["message"]["chat"]["id"]
    sent_before = len(sent_texts(fake, chat_id))
    marker = fake.push_message(chat_id, HEADLINE)
    await reply_to(fake, marker)
    assert not replies_to(fake, chat_id, update["message"]["message_id"])
    assert len(sent_texts(fake, chat_id)) == sent_before + 1


# --------------------------------------------------------------------------- messages


def test_group_headline_gets_threaded_reply_naming_the_gate(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            update = fake.push_message(GROUP, HEADLINE)
            params = await reply_to(fake, update)
            assert params["parse_mode"] == "HTML"
            assert "Gate 1" in params["text"]
            assert params["reply_parameters"]["message_id"] == update["message"]["message_id"]
            assert check_html(params["text"]) is None
            buttons = [b for row in params["reply_markup"]["inline_keyboard"] for b in row]
            assert [b["callback_data"].rsplit(":", 1)[1] for b in buttons] == ["right", "1", "2", "3", "4", "0"]
            assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
            # stored through the core store, with the reply's id
            message_id = int(buttons[0]["callback_data"].split(":")[1])
            stored = service.store.get_message(message_id)
            assert stored is not None and stored.platform == "telegram" and stored.chat_id == str(GROUP)
            assert stored.message_ref == str(update["message"]["message_id"])
            await fake.wait_for(lambda f: service.store.db["messages"].get(message_id)["reply_ref"])
    run(scenario())


def test_chinese_headline_gets_chinese_reply(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            params = await reply_to(fake, fake.push_message(GROUP, HEADLINE_ZH))
            assert "状态" in params["text"] and "Gate" not in params["text"]
            labels = [b["text"] for row in params["reply_markup"]["inline_keyboard"] for b in row]
            assert label("vote_right", "zh") in labels
    run(scenario())


def test_group_chatter_is_silent(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            await assert_silent(fake, fake.push_message(GROUP, CHATTER))
            assert service.store.count_messages() == 2  # the chatter is stored all the same
    run(scenario())


def test_direct_chat_chatter_gets_no_gate_reply(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            params = await reply_to_dm(fake, DM, CHATTER)
            assert label("no_gate", "en") in params["text"]
            assert "reply_parameters" not in params  # direct chats are not threaded
    run(scenario())


def test_mention_and_reply_to_the_bot_are_answered(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            mention = fake.push_message(GROUP, f"@{BOT_USERNAME} {CHATTER}")
            params = await reply_to(fake, mention)
            assert label("no_gate", "en") in params["text"]
            stored = service.store.get_message(1)
            assert stored is not None and BOT_USERNAME not in stored.text  # mention stripped
            bot_msg = fake.message(GROUP, "earlier answer", user=fake.bot)
            answer = fake.push_message(GROUP, CHATTER, reply_to=bot_msg)
            await reply_to(fake, answer)
            other = fake.push_message(GROUP, f"@someone_else {CHATTER}")
            await assert_silent(fake, other)
    run(scenario())


def test_caption_counts_as_text(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            params = await reply_to(fake, fake.push_message(GROUP, HEADLINE, caption=True))
            assert "Gate 1" in params["text"]
    run(scenario())


def test_messages_from_bots_and_itself_are_ignored(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            other_bot = fake.user(777, "otherbot", is_bot=True, username="other_bot")
            await assert_silent(fake, fake.push_message(GROUP, HEADLINE, user=other_bot))
            await assert_silent(fake, fake.push_message(GROUP, HEADLINE, user=fake.bot))
            dm_from_bot = fake.push_message(DM, CHATTER, user=other_bot)
            params = await reply_to_dm(fake, DM, HEADLINE)
            assert "Gate 1" in params["text"]
            assert len(sent_texts(fake, DM)) == 1, dm_from_bot
    run(scenario())


# --------------------------------------------------------------------------- commands


def test_commands_gates_gate_and_botname(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            board = await reply_to(fake, fake.push_message(GROUP, "/gates"))
            assert label("board", "en") in board["text"]
            card = await reply_to(fake, fake.push_message(GROUP, "/gate 3"))
            assert "Gate 3" in card["text"] and label("definition", "en") in card["text"]
            named = await reply_to(fake, fake.push_message(GROUP, f"/gates@{BOT_USERNAME}"))
            assert label("board", "en") in named["text"]
            named_arg = await reply_to(fake, fake.push_message(GROUP, f"/gate@{BOT_USERNAME} 2"))
            assert "Gate 2" in named_arg["text"]
            zh_user = fake.user(1002, "Li", language_code="zh-hans")
            zh = await reply_to(fake, fake.push_message(GROUP, "/gates", user=zh_user))
            assert label("board", "zh") in zh["text"]
            classify = await reply_to(fake, fake.push_message(GROUP, f"/classify {CHATTER}"))
            assert label("no_gate", "en") in classify["text"]
            # for another bot, or unknown and not addressed to us in a group: silence
            await assert_silent(fake, fake.push_message(GROUP, "/gates@some_other_bot"))
            await assert_silent(fake, fake.push_message(GROUP, "/weather"))
            # addressed to us, an unknown command gets the service's answer
            unknown = await reply_to(fake, fake.push_message(GROUP, f"/weather@{BOT_USERNAME}"))
            assert "/weather" in unknown["text"]
            dm_unknown = await reply_to_dm(fake, DM, "/weather")  # in a direct chat it is for us
            assert "/help" in dm_unknown["text"]
            dm_help = await reply_to_dm(fake, DM, "/help")
            assert label("help_title", "en") in dm_help["text"]
    run(scenario())


def test_set_my_commands_en_and_zh(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            calls = fake.calls_to("setMyCommands")
            assert len(calls) == 2
            en, zh = calls
            assert "language_code" not in en.params and zh.params["language_code"] == "zh"
            for call in calls:
                names = [c["command"] for c in call.params["commands"]]
                assert {"start", "help", "gates", "gate", "classify", "digest", "setstatus"} <= set(names)
            assert any("四道门" in c["description"] for c in zh.params["commands"])
            gate = next(c for c in en.params["commands"] if c["command"] == "gate")
            assert gate["description"].startswith("one gate")  # from the help line's text after " — "
    run(scenario())


# --------------------------------------------------------------------------- feedback


def _buttons(params: dict[str, Any]) -> dict[str, str]:
    return {b["callback_data"].rsplit(":", 1)[1]: b["callback_data"]
            for row in params["reply_markup"]["inline_keyboard"] for b in row}


def test_button_press_stores_vote_answers_and_edits_tally(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            await reply_to(fake, fake.push_message(GROUP, HEADLINE))
            sent = fake.calls_to("sendMessage")[-1]
            buttons = _buttons(sent.params)
            bot_message_id = fake.messages and max(mid for (chat, mid) in fake.messages if chat == GROUP)
            stored_id = int(buttons["right"].split(":")[1])
            voter = fake.user(2001, "Bo")
            fake.push_callback(GROUP, bot_message_id, buttons["3"], user=voter)
            answer = (await fake.wait_calls("answerCallbackQuery"))[0]
            assert answer.params["text"] == label("vote_thanks", "en")
            edit = (await fake.wait_calls("editMessageText"))[0]
            assert int(edit.params["message_id"]) == bot_message_id and int(edit.params["chat_id"]) == GROUP
            assert label("tally", "en") in edit.params["text"] and "Gate 3 1" in edit.params["text"]
            assert edit.params["reply_markup"]  # the buttons stay
            assert check_html(edit.params["text"]) is None
            assert service.store.tally(stored_id) == {"3": 1}
            # a later vote by the same user replaces the first
            fake.push_callback(GROUP, bot_message_id, buttons["right"], user=voter)
            edit2 = (await fake.wait_calls("editMessageText", 2))[1]
            assert service.store.tally(stored_id) == {"right": 1}
            assert "Gate 3 1" not in edit2.params["text"]
            # the same vote again: tally unchanged, Telegram says "not modified", no crash
            fake.push_callback(GROUP, bot_message_id, buttons["right"], user=voter)
            await fake.wait_calls("answerCallbackQuery", 3)
            await reply_to(fake, fake.push_message(GROUP, HEADLINE_ZH))  # still alive
    run(scenario())


def test_forged_and_stale_callback_data_get_clear_answers(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            await reply_to(fake, fake.push_message(GROUP, HEADLINE))
            buttons = _buttons(fake.calls_to("sendMessage")[-1].params)
            bot_message_id = max(mid for (chat, mid) in fake.messages if chat == GROUP)
            stored_id = buttons["right"].split(":")[1]
            cases = [
                ("garbage", label("vote_bad", "en")),
                ("v:1:9", label("vote_bad", "en")),
                ("v:abc:right", label("vote_bad", "en")),
                ("v:99999:right", label("vote_stale", "en")),
                ("", label("vote_bad", "en")),
            ]
            for i, (data, expected) in enumerate(cases, start=1):
                fake.push_callback(GROUP, bot_message_id, data)
                answer = (await fake.wait_calls("answerCallbackQuery", i))[i - 1]
                assert answer.params["text"] == expected, data
                assert answer.params.get("show_alert") in (True, "true")
            # a real verdict's button pressed in another chat (forged): stale, nothing stored
            fake.push_callback(OTHER_GROUP, 1, f"v:{stored_id}:right")
            answer = (await fake.wait_calls("answerCallbackQuery", len(cases) + 1))[-1]
            assert answer.params["text"] == label("vote_stale", "en")
            assert service.store.tally(int(stored_id)) == {}
            assert not fake.calls_to("editMessageText")
            await reply_to(fake, fake.push_message(GROUP, HEADLINE_ZH))  # still alive
        assert "Traceback" not in caplog.text
    run(scenario())


# --------------------------------------------------------------------------- size and markup


def test_five_thousand_character_message(service: Service) -> None:
    long_text = (HEADLINE + ". ") + ("Analysts say more details will follow soon. " * 200)
    long_text = long_text[:5000]
    assert len(long_text) == 5000

    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            params = await reply_to(fake, fake.push_message(GROUP, long_text))
            assert tg_len(params["text"]) <= TELEGRAM_LIMIT and check_html(params["text"]) is None
            classify = await reply_to_dm(fake, DM, "/classify " + long_text)
            assert tg_len(classify["text"]) <= TELEGRAM_LIMIT and check_html(classify["text"]) is None
            assert "…" in classify["text"]  # the quote is cut cleanly
    run(scenario())


def test_html_in_user_text_is_escaped(service: Service) -> None:
    nasty = '<b>ByteDance</b> orders <a href="http://x">Ascend 950PR</a> chips & <script>alert(1)</script>'

    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            params = await reply_to(fake, fake.push_message(GROUP, "/classify " + nasty))
            text = params["text"]
            assert check_html(text) is None
            assert "&lt;b&gt;ByteDance&lt;/b&gt;" in text and "&lt;script&gt;" in text and "&amp;" in text
            assert "<script>" not in text and "<a " not in text
            plain = await reply_to(fake, fake.push_message(GROUP, nasty))
            assert check_html(plain["text"]) is None
    run(scenario())


def test_render_splits_and_cuts_within_limit_and_escapes_everything() -> None:
    big = "x<y & z " * 2000  # 16,000 chars, escaping makes it longer
    reply = Reply(kind="board", lang="en", blocks=[
        Block(kind="heading", text="Head <i>ing</i>"),
        Block(kind="field", label="A<b>", text=big),
        Block(kind="list", label="L&", items=[big[:3000], "<item>"] * 3),
        Block(kind="quote", text=big, user_text=True),
        Block(kind="note", text="note <u>"),
        Block(kind="text", text="line1\nline2 </b>"),
    ])
    chunks = render_chunks(reply)
    assert 1 < len(chunks) <= 5
    for chunk in chunks:
        assert tg_len(chunk) <= TELEGRAM_LIMIT
        assert check_html(chunk) is None
    joined = "\n".join(chunks)
    assert "A&lt;b&gt;" in joined and "L&amp;" in joined and "&lt;item&gt;" in joined
    assert "Head &lt;i&gt;ing&lt;/i&gt;" in joined
    single = render_single(reply)
    assert tg_len(single) <= TELEGRAM_LIMIT and check_html(single) is None and single.endswith("…")
    # Chinese and emoji (two UTF-16 units each for emoji)
    wide = Reply(kind="board", lang="zh", blocks=[Block(kind="text", text="算力🚀" * 3000)])
    for chunk in render_chunks(wide):
        assert tg_len(chunk) <= TELEGRAM_LIMIT and check_html(chunk) is None


def test_keyboard_and_callback_data() -> None:
    reply = Reply(kind="verdict", lang="en", blocks=[Block(kind="heading", text="x")], message_id=123,
                  choices=[Choice(value=v, label=f"<{v}>") for v in ("right", "1", "2", "3", "4", "0")])
    markup = keyboard(reply)
    assert markup is not None
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert data == ["v:123:right", "v:123:1", "v:123:2", "v:123:3", "v:123:4", "v:123:0"]
    assert parse_callback("v:123:right") == ("123", "right")
    assert parse_callback("x:1:2") == (None, "") and parse_callback(None) == (None, "")
    assert callback_data(10 ** 70, "right") is None  # would not fit in 64 bytes
    assert keyboard(Reply(kind="board", lang="en", blocks=[])) is None


# --------------------------------------------------------------------------- robustness


def test_429_retry_after_then_reply_arrives(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            fake.fail_next("sendMessage", status=429, retry_after=1)
            start = time.monotonic()
            update = fake.push_message(GROUP, HEADLINE)
            await fake.wait_calls("sendMessage", 2, timeout=10)
            assert time.monotonic() - start >= 1.0  # waited as told
            params = await reply_to(fake, update)
            assert "Gate 1" in params["text"]
    run(scenario())


def test_network_errors_are_retried_with_backoff(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            fake.fail_next("sendMessage", status=502, times=2)
            update = fake.push_message(GROUP, HEADLINE)
            await fake.wait_calls("sendMessage", 3, timeout=10)
            assert "Gate 1" in (await reply_to(fake, update))["text"]
    run(scenario())


def test_error_handler_logs_update_id_never_the_token(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
            failing = fake.push_message(GROUP, HEADLINE)
            await fake.wait_calls("sendMessage")
            await reply_to(fake, fake.push_message(GROUP, HEADLINE_ZH))  # the bot keeps running
            await fake.wait_for(lambda f: f"update {failing['update_id']} failed" in caplog.text)
    run(scenario())
    assert "chat not found" in caplog.text.lower()
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


def test_stop_finishes_in_flight_replies(service: Service) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            adapter = telegram.build(service, settings_for(fake), web.Application())
            await adapter.start()
            fake.delays["sendMessage"] = 0.3
            update = fake.push_message(GROUP, HEADLINE)
            await fake.wait_calls("sendMessage")  # the reply is on its way, not answered yet
            await adapter.stop()
            assert update["update_id"] in fake.served_at
            row = service.store.db["messages"].get(1)
            assert row["reply_ref"]  # the send completed before stop() returned
    run(scenario())


def test_send_unprompted(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            message_id = await adapter.send(str(GROUP), await service.ahandle_command("telegram", str(GROUP), "1", "gates", "", "en"))
            assert message_id and (GROUP, int(message_id)) in fake.messages
    run(scenario())


# --------------------------------------------------------------------------- through run.serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_polling_through_run_serve(service: Service) -> None:
    async def scenario() -> int:
        async with FakeTelegram() as fake:
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings_for(fake), stop, ready))
            await asyncio.wait_for(ready.wait(), 10)
            assert fake.calls_to("deleteWebhook")
            await reply_to(fake, fake.push_message(GROUP, HEADLINE))
            stop.set()
            return await asyncio.wait_for(task, 10)
    assert run(scenario()) == 0


def test_webhook_mode_secret_header(service: Service) -> None:
    secret = "s3cret-Token_1"

    async def scenario() -> int:
        async with FakeTelegram() as fake:
            port = free_port()
            url = f"http://127.0.0.1:{port}/tg/hook"
            settings = settings_for(fake, telegram_webhook_url=url, telegram_webhook_secret=secret,
                                    gatebot_http_host="127.0.0.1", gatebot_http_port=port)
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(serve(service, settings, stop, ready))
            await asyncio.wait_for(ready.wait(), 10)
            hook = fake.calls_to("setWebhook")[0].params
            assert hook["url"] == url and hook["secret_token"] == secret
            assert hook["allowed_updates"] == telegram.ALLOWED_UPDATES and "inline_query" in hook["allowed_updates"]
            update = fake.make_update(fake.message(GROUP, HEADLINE))
            assert await fake.post_webhook(update) == 403  # no header
            assert await fake.post_webhook(update, secret="wrong") == 403
            assert service.store.count_messages() == 0
            assert await fake.post_webhook(update, secret=secret) == 200
            params = await reply_to(fake, update)
            assert "Gate 1" in params["text"]
            # Telegram re-delivers an update it thinks failed: answered once
            assert await fake.post_webhook(update, secret=secret) == 200
            marker = fake.make_update(fake.message(GROUP, HEADLINE_ZH))
            assert await fake.post_webhook(marker, secret=secret) == 200
            await reply_to(fake, marker)
            assert len(replies_to(fake, GROUP, update["message"]["message_id"])) == 1
            assert not fake.calls_to("getUpdates")  # no polling in webhook mode
            assert await fake.post_webhook(update, secret=secret, url=f"http://127.0.0.1:{port}/healthz") in (405, 200)
            stop.set()
            return await asyncio.wait_for(task, 10)
    assert run(scenario()) == 0


def test_webhook_without_configured_secret_uses_a_random_one(service: Service) -> None:
    async def scenario() -> None:
        async with FakeTelegram() as fake:
            app = web.Application()
            adapter = telegram.build(service, settings_for(fake, telegram_webhook_url="https://example.org/hook"), app)
            assert adapter.uses_http
            await adapter.start()
            try:
                secret = fake.calls_to("setWebhook")[0].params["secret_token"]
                assert len(secret) >= 32
            finally:
                await adapter.stop()
    run(scenario())


def test_bad_webhook_secret_is_refused_at_build(service: Service) -> None:
    settings = Settings(telegram_bot_token=TOKEN, telegram_webhook_url="https://example.org/hook",
                        telegram_webhook_secret="has spaces!")
    with pytest.raises(ValueError):
        telegram.build(service, settings, web.Application())


def test_rejected_token_is_not_in_the_error_or_logs(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "987654321:AAWrongTokenWrongTokenWrongToken_xyz"

    async def scenario() -> str:
        async with FakeTelegram() as fake:
            adapter = telegram.build(service, settings_for(fake, telegram_bot_token=wrong), web.Application())
            with pytest.raises(RuntimeError) as info:
                await adapter.start()
            return str(info.value) + repr(info.value.__cause__) + repr(info.value.__context__)
    message = run(scenario())
    assert "InvalidToken" in message
    assert wrong not in message and wrong not in caplog.text
    assert wrong.split(":")[1] not in caplog.text


@pytest.mark.slow
def test_gatebot_run_sigterm_finishes_reply_and_exits_0(tmp_path: Any) -> None:
    """The real CLI in a child process: SIGTERM while a reply is in flight -> sent, exit 0, no token."""
    import os
    import signal
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    async def scenario() -> tuple[int, str]:
        async with FakeTelegram() as fake:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
            env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=fake.base_url,
                       GATEBOT_DB=str(tmp_path / "g.db"), GATEBOT_LOG_LEVEL="DEBUG")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gatebot.cli", "run", cwd=str(root), env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                await fake.wait_calls("getUpdates", 1, timeout=20)
                fake.delays["sendMessage"] = 0.5
                fake.push_message(GROUP, HEADLINE)
                await fake.wait_calls("sendMessage", 1, timeout=10)
                proc.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(proc.communicate(), 20)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            return proc.returncode, (out + err).decode("utf-8", "replace")
    code, output = run(scenario(), timeout=45)
    assert code == 0, output[-2000:]
    assert "Application.stop() complete" in output
    from gatebot.store import Store

    store = Store(tmp_path / "g.db")
    try:
        assert store.db["messages"].get(1)["reply_ref"]  # the in-flight reply completed
    finally:
        store.close()
    assert TOKEN not in output and TOKEN.split(":")[1] not in output


def test_text_link_entity_is_read_and_its_headline_quoted(service: Service) -> None:
    """A text_link hides its URL behind words: the adapter passes it to the link reader."""
    from gatebot.address_guard import AddressGuard
    from gatebot.links import LinkReader

    page = ('<html><head><meta property="og:title" content="ByteDance orders $5.6B of Ascend 950PR chips">'
            "</head><body>news</body></html>")

    async def scenario() -> None:
        async def story(request: web.Request) -> web.Response:
            return web.Response(text=page, content_type="text/html")

        site = web.Application()
        site.router.add_get("/story", story)
        runner = web.AppRunner(site)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        port = tcp._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS picked
        service.link_reader = LinkReader(guard=AddressGuard(allow_private=True), timeout=2.0)
        try:
            async with polling_bot(service) as (fake, adapter):
                words = "read this"
                update = fake.message(GROUP, words)
                update["entities"] = [{"type": "text_link", "offset": 0, "length": len(words),
                                       "url": f"http://127.0.0.1:{port}/story"}]
                fake.push(update)
                params = await reply_to(fake, {"message": update})
                assert "Gate 1" in params["text"] and "Ascend 950PR" in params["text"]
        finally:
            service.link_reader = None
            await runner.cleanup()
    run(scenario())
