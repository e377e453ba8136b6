"""Digests through the real adapters: commands via the Telegram and Slack fakes, and a digest far
larger than usual rendered within each platform's limits."""

from __future__ import annotations

import json

import drive
from gatebot.digest import build_digest
from gatebot.handlers.slack_render import MAX_BLOCKS, MAX_SECTION, render_blocks
from gatebot.handlers.telegram_render import TELEGRAM_LIMIT, render_chunks, tg_len
from gatebot.service import Message, Service
from test_slack import CHANNEL, slack  # noqa: F401 - the `slack` fixture runs the real app
from test_telegram import GROUP, HEADLINE, polling_bot, reply_to, run

LONG = "昇腾CANN全面开源,开发者迁移成本下降 " * 12  # long items, mixed script


def _fill(service: Service, chat: str, platform: str, n: int = 60) -> None:
    for i in range(n):
        drive.say(service, Message(platform, chat, f"u{i}", f"{LONG} {i} https://news.example/{i}?q=<&>"))
        drive.say(service, Message(platform, chat, f"u{i}", f"ByteDance orders {i}0,000 Ascend 950PR chips <b>{i}</b>"))


def test_telegram_digest_commands_through_the_fake(service: Service) -> None:
    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            fake.members[(GROUP, 1001)] = "administrator"  # digests are configured by the chat's admins
            await reply_to(fake, fake.push_message(GROUP, HEADLINE))
            digest = await reply_to(fake, fake.push_message(GROUP, "/digest"))
            assert "Gate 1" in digest["text"] and "ByteDance" in digest["text"]
            on = await reply_to(fake, fake.push_message(GROUP, "/digest on 09:00 Asia/Shanghai"))
            assert "09:00" in on["text"] and "Asia/Shanghai" in on["text"]
            bad = await reply_to(fake, fake.push_message(GROUP, "/digest on 25:00 Mars/Base"))
            assert "09:00" in bad["text"]  # the clear message carries an example
            status = await reply_to(fake, fake.push_message(GROUP, "/digest status"))
            assert "09:00" in status["text"]
    run(scenario())
    row = service.store.db["subscriptions"].get(("telegram", str(GROUP)))
    assert row["enabled"] == 1 and row["tz"] == "Asia/Shanghai"


def test_slack_digest_commands_through_the_fake(slack) -> None:  # noqa: F811
    async def body(bot) -> None:
        await bot.service.ahandle_message(Message("slack", CHANNEL, "U1", HEADLINE))
        bot.fake.users["U0USER001"] = {"is_admin": True}  # a workspace admin configures digests
        await bot.command("/digest", "", rid="now")
        await bot.command("/digest", "on 08:30 Europe/Berlin", rid="on")
        await bot.command("/setstatus", "4 A crack has opened", rid="refused")
        await bot.fake.wait_for("response_url", 3, 5.0)
        texts = [json.dumps(c.params, ensure_ascii=False) for c in bot.fake.responses]
        assert any("ByteDance" in t for t in texts)
        assert any("08:30" in t and "Europe/Berlin" in t for t in texts)
        assert bot.service.store.gate_status(4) is None  # not an admin: nothing changed

    slack(body)


def test_huge_digest_fits_telegram_and_slack_limits(service: Service) -> None:
    _fill(service, "big", "telegram")
    reply = build_digest(service, "telegram", "big")
    chunks = render_chunks(reply)
    assert chunks and all(tg_len(c) <= TELEGRAM_LIMIT for c in chunks)
    assert "&lt;b&gt;" in "".join(chunks) and "<b>0</b>" not in "".join(chunks)  # user text escaped
    blocks = render_blocks(reply)
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        text = (block.get("text") or {}).get("text", "")
        assert len(text) <= MAX_SECTION
    assert "<b>" not in json.dumps(blocks)
