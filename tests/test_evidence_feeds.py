"""Feed entries reach the evidence ledger through the real poller (a local feed site): recorded as
`feed` with the feed's title as source and the entry's link; the same link from two feeds in two
chats counts once in each chat and once in every chat, and names two sources."""

from __future__ import annotations

from datetime import timedelta

from fakes.feed_site import FeedSite, Item, rss20
from gatebot.service import Service
from test_feeds import CHATTER, GATE1, bot, cmd, items, site, u1_administers_the_chats  # noqa: F401 - fixtures


def test_the_same_link_from_two_feeds_in_two_chats(bot: Service, site: FeedSite) -> None:  # noqa: F811
    site.serve("/e1.xml", rss20("Wire One", items(CHATTER, prefix="e1")))
    site.serve("/e2.xml", rss20("Wire Two", items(CHATTER, prefix="e2")))
    cmd(bot, "follow", site.url("/e1.xml"), chat="c1")
    cmd(bot, "follow", site.url("/e2.xml"), chat="c2")
    site.serve("/e1.xml", rss20("Wire One", [Item(GATE1, "https://news.example/story?utm_source=one", "e1-new"),
                                             *items(CHATTER, prefix="e1")]))
    site.serve("/e2.xml", rss20("Wire Two", [Item("Same story told again: " + GATE1, "https://www.news.example/story",
                                                  "e2-new"), *items(CHATTER, prefix="e2")]))
    cmd(bot, "feeds", "refresh", chat="c1")
    cmd(bot, "feeds", "refresh", chat="c2")
    store, now = bot.store, bot.clock()
    window = (now - timedelta(days=30), now + timedelta(seconds=1))
    verdicts = [store.get_message(mid).verdict for (mid,) in store.db.execute(
        "select id from messages where source is not null order by id").fetchall()]
    assert len(verdicts) == 2 and all(v.gate == 1 and v.reading == verdicts[0].reading for v in verdicts)
    reading = verdicts[0].reading
    for chat in ("c1", "c2"):
        assert store.evidence_balance(*window, platform="test", chat_id=chat)[1].reading(reading).stories == 1
    assert store.evidence_balance(*window)[1].reading(reading).stories == 1
    assert store.evidence_sources(1, *window) == 2
    [item] = store.evidence_items(1, *window, feeds_only=True)
    assert (item.source_kind, item.source, item.chat_id) == ("feed", "Wire One", "c1")
    [c2] = store.evidence_items(1, *window, platform="test", chat_id="c2")
    assert (c2.source, c2.link) == ("Wire Two", "https://www.news.example/story")
