"""Feeds and charts end to end through both chat fakes: the real python-telegram-bot and slack-bolt
apps, a local feed site, the poller posting through the adapters, /trend as a real PNG upload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from fakes.feed_site import FeedSite, Item, rss20
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import sent_texts
from gatebot.address_guard import AddressGuard
from gatebot.feeds import FeedReader
from gatebot.poller import FeedPoller
from gatebot.service import Service
from gatebot.store import Store
from gatebot.weekly import next_weekly, weekly_tick
from test_slack import CHANNEL, serving
from test_telegram import GROUP, polling_bot, reply_to, run

OPEN = AddressGuard(allow_private=True)
PNG = b"\x89PNG\r\n\x1a\n"
GATE1 = "ByteDance orders $5.6B of Ascend 950PR chips"
GATE3 = "Huawei opens the CANN toolkit for Ascend developers"
GATE1B = "Tencent orders 3,000 Ascend 910C servers"
CHATTER = "lunch menu for friday"
ALIBABA = "Alibaba buys 20,000 Kunlun AI chips for its data centres"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site() -> Iterator[FeedSite]:
    s = FeedSite().start()
    yield s
    s.stop()


def entries(*titles: str, prefix: str) -> list[Item]:
    return [Item(t, f"https://news.example/{prefix}/{i}", f"{prefix}-{i}", "") for i, t in enumerate(titles)]


def poller_for(service: Service) -> FeedPoller:
    return FeedPoller(service, FeedReader(guard=OPEN, timeout=2.0))


def test_telegram_follow_post_cap_restart_unfollow_trend_and_weekly(service: Service, site: FeedSite) -> None:
    service.feeds = poller_for(service)
    fs = service.store
    path = "/tg.xml"
    url = site.serve(path, rss20("Wire & Co", entries(CHATTER, GATE1, prefix="old")))

    async def scenario() -> None:
        async with polling_bot(service) as (fake, adapter):
            service.feeds.senders = {"telegram": adapter}
            fake.members[(GROUP, 1001)] = "administrator"  # feeds are configured by the chat's admins
            followed = await reply_to(fake, fake.push_message(GROUP, f"/follow {url} post"))
            assert "Following “Wire &amp; Co”" in followed["text"]  # the feed's title, escaped
            assert len(fake.calls_to("sendMessage")) == 1  # the first fetch posts nothing
            capped = await reply_to(fake, fake.push_message(GROUP, "/feeds post 2"))
            assert "at most 2 an hour" in capped["text"]

            # three new entries with a gate, one without: two are posted (the cap), oldest first
            site.serve(path, rss20("Wire & Co", entries(ALIBABA, GATE3, GATE1B, "more lunch", prefix="new")
                                   + entries(CHATTER, GATE1, prefix="old")))
            before = len(sent_texts(fake, GROUP))
            summary = await reply_to(fake, fake.push_message(GROUP, "/feeds refresh"))
            assert "new entries: 4 · posted: 2 · for the digest: 1" in summary["text"], summary["text"]
            posts = [c.params for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == GROUP][before:-1]
            assert [GATE1B in p["text"] or GATE3 in p["text"] for p in posts] == [True, True]
            assert "Tencent" in posts[0]["text"] and "Wire &amp; Co · https://news.example/new/2" in posts[0]["text"]
            assert all(p["reply_markup"]["inline_keyboard"] for p in posts)  # feedback buttons, like any verdict
            assert dict(service.store.db.execute("select post, count(*) from feed_items where post != '' "
                                                 "group by post").fetchall()) == {"sent": 2, "capped": 1, "none": 1}

            # a restart: a new poller on the same store, the feed re-served with a new ETag, posts nothing
            restarted = poller_for(service)
            restarted.senders = {"telegram": adapter}
            site.serve(path, site.routes[path].body)
            fs.schedule_feeds("telegram", str(GROUP), service.clock() - timedelta(minutes=1))
            results = await restarted.cycle()
            assert len(results) == 1 and not results[0].unchanged and results[0].new == 0
            assert len(sent_texts(fake, GROUP)) == before + 3

            # /trend: a PNG through sendPhoto, answering the command
            trend = fake.push_message(GROUP, "/trend 7d")
            photo = (await fake.wait_calls("sendPhoto"))[0].params
            assert photo["photo"][:8] == PNG and len(photo["photo"]) > 10_000
            assert photo["reply_parameters"]["message_id"] == trend["message"]["message_id"]
            assert "Signals per gate per day" in photo["caption"] and "from feeds: 3" in photo["caption"]

            # the weekly chart: sent once on its day, not again
            weekly = await reply_to(fake, fake.push_message(GROUP, "/digest weekly mon 09:00 Asia/Shanghai"))
            assert "every Monday at 09:00 (Asia/Shanghai)" in weekly["text"]
            due = next_weekly(fs.weekly("telegram", str(GROUP)), service.clock())
            assert due is not None and due.weekday() in (0, 6)  # Monday 09:00 in Shanghai is Monday 01:00 UTC
            assert await weekly_tick(service, {"telegram": adapter}, "run-1", due + timedelta(minutes=1)) == [
                ("telegram", str(GROUP), due.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat(), "sent")]
            assert await weekly_tick(service, {"telegram": adapter}, "run-2", due + timedelta(minutes=2)) == []
            assert len(fake.calls_to("sendPhoto")) == 2

            # unfollow: the next poll has nothing to read
            gone = await reply_to(fake, fake.push_message(GROUP, "/unfollow 1"))
            assert "Unfollowed" in gone["text"]
            site.serve(path, rss20("Wire", entries(GATE3, prefix="later")))
            fs.schedule_feeds("telegram", str(GROUP), service.clock() - timedelta(minutes=1))
            assert await service.feeds.cycle() == []

    run(scenario(), timeout=60)


@asynccontextmanager
async def slack_app(db: Path, fake: FakeSlackAPI, rules, classifier):
    """The whole `gatebot run` (serve) in Slack HTTP mode, with the feed poller ticking fast."""
    service = Service(rules, Store(db), classifier)
    service.feeds = poller_for(service)
    service.feeds.tick = 0.05
    async with serving(service, fake) as bot:
        yield bot


def test_slack_follow_background_posts_trend_upload_and_unfollow(tmp_path, rules, classifier, site: FeedSite) -> None:
    path = "/slack.xml"
    url = site.serve(path, rss20("Trade press", entries(GATE1, CHATTER, prefix="s-old")))
    quiet = site.serve("/quiet.xml", rss20("Vendor blog", entries(CHATTER, prefix="q-old")))

    async def main() -> None:
        async with FakeSlackAPI() as fake, slack_app(tmp_path / "g.db", fake, rules, classifier) as bot:
            fs = bot.service.store
            fake.users["U0USER001"] = {"is_admin": True}  # feeds are configured by the workspace's admins
            await bot.command("/follow", f"<{url}> post", rid="follow")
            await bot.command("/follow", quiet, rid="follow-quiet")  # the chat's default: digest
            answers = await fake.wait_for("response_url", 2)
            assert all("Following" in json.dumps(a.params, ensure_ascii=False) for a in answers)
            # the background poller (one for all chats) picks the feeds up when they are due
            site.serve(path, rss20("Trade press", entries(GATE3, GATE1B, prefix="s-new")
                                   + entries(GATE1, CHATTER, prefix="s-old")))
            site.serve("/quiet.xml", rss20("Vendor blog", entries(ALIBABA, prefix="q-new")
                                           + entries(CHATTER, prefix="q-old")))
            fs.schedule_feeds("slack", CHANNEL, bot.service.clock() - timedelta(minutes=1))
            posts = await fake.wait_for("chat.postMessage", 2, 10.0)
            assert all(p.params["channel"] == CHANNEL and "thread_ts" not in p.params for p in posts)
            assert GATE1B in posts[0].params["text"] and GATE3 in posts[1].params["text"]
            assert "Trade press · https://news.example/s-new/1" in json.dumps(posts[0].params["blocks"], ensure_ascii=False)

            await bot.command("/trend", "30d", rid="trend")
            done = (await fake.wait_for("files.completeUploadExternal", 1, 10.0))[0].params
            assert done["channel_id"] == CHANNEL and "Signals per gate per day" in done["initial_comment"]
            (file_id,) = fake.uploads
            assert fake.uploads[file_id][:8] == PNG and len(fake.uploads[file_id]) > 10_000
            assert fake.upload_requests[file_id]["filename"] == "trend-30d.png"

            for n, (command, args) in enumerate((("/feeds", ""), ("/unfollow", "1"), ("/digest", "")), start=3):
                await bot.command(command, args, rid=command.lstrip("/"))
                await fake.wait_for("response_url", n)  # one at a time: the answers keep their order
            texts = [json.dumps(c.params, ensure_ascii=False) for c in fake.responses]
            assert "Trade press" in texts[2] and "entries seen: 4" in texts[2] and "Vendor blog" in texts[2]
            assert "Unfollowed" in texts[3]
            # the digest-mode feed's entry was never posted, and is in the digest with its source
            assert len(fake.of("chat.postMessage")) == 2
            assert f"{ALIBABA} [Vendor blog]" in texts[4]
            assert [f.title for f in fs.feeds("slack", CHANNEL)] == ["Vendor blog"]

    asyncio.run(asyncio.wait_for(main(), 60))


def test_the_slack_manifest_and_telegram_menu_carry_the_new_commands() -> None:
    from gatebot.handlers.telegram import command_menu

    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text(encoding="utf-8"))
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert {"/follow", "/unfollow", "/feeds", "/trend"} <= commands
    assert "files:write" in manifest["oauth_config"]["scopes"]["bot"]
    for lang in ("en", "zh"):
        assert {"follow", "unfollow", "feeds", "trend"} <= {c.command for c in command_menu(lang)}
