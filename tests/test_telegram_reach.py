"""Telegram where people already read: inline mode, forwarded channel posts, captions of any media.

Black-box: the real python-telegram-bot Application against the fake Bot API server; every wait is
bounded (FakeTelegram.wait_for).
"""

from __future__ import annotations

from typing import Any

from fakes.telegram_api import FakeTelegram, check_html
from gatebot.handlers.telegram_inline import TokenBucket
from gatebot.reply import label
from gatebot.service import INLINE_MAX_CHARS, Service
from test_telegram import DM, GROUP, HEADLINE, HEADLINE_ZH, polling_bot, reply_to, reply_to_dm, run


async def inline_answer(fake: FakeTelegram, query: str, **kw: Any) -> dict[str, Any]:
    """Push an inline query and wait for its answerInlineQuery."""
    update = fake.push_inline(query, **kw)
    query_id = update["inline_query"]["id"]
    return await fake.wait_for(lambda f: f.inline_answers.get(query_id))


def inbox_rows(service: Service) -> int:
    return service.store.db.execute("select count(*) from inbox").fetchone()[0]


# --------------------------------------------------------------------------- inline mode


def test_inline_query_gets_one_personal_verdict_result_and_stores_nothing(service: Service) -> None:
    verdict = service.classifier.classify(HEADLINE)
    gate = service.rules.gates[verdict.gate]

    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            answer = await inline_answer(fake, HEADLINE)
            assert answer["is_personal"] is True and int(answer["cache_time"]) <= 30
            [result] = answer["results"]
            conf = label(f"conf_{verdict.confidence}", "en")
            assert result["title"] == f"Gate {gate.number} · {gate.name.en} ({conf})"
            assert gate.risk.en[:40] in result["description"]
            text = result["input_message_content"]["message_text"]
            assert result["input_message_content"]["parse_mode"] == "HTML" and check_html(text) is None
            assert f"Gate {gate.number}" in text and "reply_markup" not in result
            assert not fake.calls_to("sendMessage")  # the asker posts it, not the bot
            assert service.store.count_messages() == 0 and inbox_rows(service) == 0
    run(scenario())


def test_inline_chinese_query_gets_a_chinese_result(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            [result] = (await inline_answer(fake, HEADLINE_ZH))["results"]
            assert "Gate" not in result["title"] and "置信度" in result["title"]
            assert "风险" in result["description"] or "：" in result["description"]
            assert "Gate" not in result["input_message_content"]["message_text"]
    run(scenario())


def test_inline_no_gate_empty_and_overlong_queries_get_helpful_results(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            [none] = (await inline_answer(fake, "anyone up for lunch?"))["results"]
            assert none["title"] == label("inline_no_gate", "en") and none["description"]
            [empty] = (await inline_answer(fake, "   "))["results"]
            assert empty["title"] == label("inline_empty_title", "en")
            board = empty["input_message_content"]["message_text"]
            assert all(gate.name.en in board for gate in service.rules.gates.values()), board
            [long] = (await inline_answer(fake, HEADLINE + " x" * INLINE_MAX_CHARS))["results"]
            assert long["title"] == label("inline_long_title", "en")
            assert str(INLINE_MAX_CHARS) in long["description"]
            [zh_empty] = (await inline_answer(fake, "", user=fake.user(1002, language_code="zh-hans")))["results"]
            assert zh_empty["title"] == label("inline_empty_title", "zh")
    run(scenario())


def test_inline_user_text_is_escaped(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            [result] = (await inline_answer(fake, "<b>Huawei</b> & SMIC <i>open CANN to all</i>"))["results"]
            assert check_html(result["input_message_content"]["message_text"]) is None
    run(scenario())


def test_inline_queries_are_rate_limited_per_user(service: Service) -> None:
    now = [0.0]
    bucket = TokenBucket(burst=2, rate=1.0, clock=lambda: now[0])

    async def scenario() -> None:
        async with polling_bot(service, inline_bucket=bucket) as (fake, adapter):
            titles = [(await inline_answer(fake, HEADLINE))["results"][0]["title"] for _ in range(3)]
            assert titles[0] == titles[1] and titles[2] == label("inline_slow_title", "en")
            other = await inline_answer(fake, HEADLINE, user=fake.user(2002))
            assert other["results"][0]["title"] == titles[0]  # another user has a budget of their own
            now[0] += 1.0
            assert (await inline_answer(fake, HEADLINE))["results"][0]["title"] == titles[0]
    run(scenario())


def test_token_bucket_refills_and_stays_bounded() -> None:
    now = [0.0]
    bucket = TokenBucket(burst=3, rate=0.5, max_users=100, clock=lambda: now[0])
    assert [bucket.allow("a") for _ in range(4)] == [True, True, True, False]
    now[0] += 1.0
    assert not bucket.allow("a")  # half a token
    now[0] += 1.0
    assert bucket.allow("a") and not bucket.allow("a")
    for i in range(500):
        bucket.allow(str(i))
    assert len(bucket) == 100


def test_an_expired_inline_query_is_logged_not_raised(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            stale = fake.inline_query(HEADLINE)
            del fake.inline_queries[stale["id"]]  # Telegram forgot it: the asker typed on
            fake.push(stale, kind="inline_query")
            await fake.wait_calls("answerInlineQuery")
            assert (await inline_answer(fake, HEADLINE_ZH))["results"]  # the next one is answered
    run(scenario())


# --------------------------------------------------------------------------- posts


def test_forwarded_channel_post_in_a_direct_chat_names_the_channel(service: Service) -> None:
    channel = {"id": -1005550001, "type": "channel", "title": "Chips <daily> & more", "username": "chips_daily"}

    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            params = await reply_to_dm(fake, DM, HEADLINE, forward_from_channel=channel)
            text = params["text"]
            assert check_html(text) is None and "Gate 1" in text
            assert label("forwarded_from", "en") in text
            assert "Chips &lt;daily&gt; &amp; more (@chips_daily)" in text
            nameless = {"id": -1005550002, "type": "channel", "title": "", "username": "cn_compute"}
            zh = await reply_to_dm(fake, DM, HEADLINE_ZH, forward_from_channel=nameless, caption=True)
            assert label("forwarded_from", "zh") in zh["text"] and "@cn_compute" in zh["text"]
            plain = await reply_to_dm(fake, DM, HEADLINE)
            assert label("forwarded_from", "en") not in plain["text"]
    run(scenario())


def test_captions_of_photos_videos_and_documents_are_read_like_text(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            for media in ("photo", "video", "document"):
                params = await reply_to(fake, fake.push_message(GROUP, HEADLINE, caption=True, media=media))
                assert "Gate 1" in params["text"], media
            update = fake.push_message(GROUP, HEADLINE_ZH, caption=True, media="video")
            assert "状态" in (await reply_to(fake, update))["text"]
    run(scenario())



# --------------------------------------------------------------------------- channels

CHANNEL = -1004440001


def test_channel_posts_are_stored_for_the_digest_and_answered_only_once_the_channel_chose_auto(
        service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            fake.push_channel_post(CHANNEL, HEADLINE)
            fake.push_channel_post(CHANNEL, HEADLINE_ZH, caption=True)
            await fake.wait_for(lambda f: service.store.count_messages() == 2)
            # a DM after them is answered: the channel posts were handled in order, silently
            await reply_to_dm(fake, DM, HEADLINE)
            assert not [c for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == CHANNEL]
            rows = list(service.store.db.query(
                "select platform, chat_id, gate from messages where chat_id = ?", [str(CHANNEL)]))
            assert len(rows) == 2 and all(r["platform"] == "telegram" and r["gate"] for r in rows)
            # an admin (only admins post in a channel) switches replies on, in the channel itself
            settings = fake.push_channel_post(CHANNEL, "/settings mode auto")
            changed = await fake.wait_for(lambda f: [c for c in f.calls_to("sendMessage")
                                                     if int(c.params["chat_id"]) == CHANNEL])
            assert changed and service.chat_settings("telegram", str(CHANNEL)).mode == "auto", settings
            post = fake.push_channel_post(CHANNEL, HEADLINE)
            answer = await reply_to(fake, {"message": post["channel_post"]})
            assert "Gate 1" in answer["text"] and check_html(answer["text"]) is None
            assert not fake.calls_to("getChatMember")  # the channel itself posted: no need to ask
    run(scenario())
