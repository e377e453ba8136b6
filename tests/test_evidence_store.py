"""The evidence ledger's store API: what a gated verdict records, each story counted once per scope,
balances per metric over exact windows, and one chat never seeing another's items."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from gatebot.models import Verdict
from gatebot.storage.evidence import WEIGHTS, near_key, normalise_link
from gatebot.store import Store, Tally

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path, clock: Clock) -> Store:
    s = Store(tmp_path / "ledger.db", clock=clock)
    yield s
    s.close()


def verdict(gate: int, reading: str = "for", metric: str = "1.orders", confidence: str = "high",
            figure: str | None = None) -> Verdict:
    return Verdict(gate=gate, confidence=confidence, gates=[], lang="en", compute=1.0,  # type: ignore[arg-type]
                   reading=reading if gate else None, metric=metric if gate else None, figure=figure)


def add(store: Store, text: str, v: Verdict, chat: str = "C1", platform: str = "slack", user: str = "U1",
        source: str | None = None, link: str | None = None) -> int:
    return store.add_message(platform=platform, chat_id=chat, user_id=user, text=text, verdict=v,
                             source=source, link=link)[0]


MONTH = (T0 - timedelta(days=30), T0 + timedelta(hours=1))


def test_a_gated_verdict_is_recorded_with_its_reading_metric_figure_weight_and_source(ledger: Store) -> None:
    mid = add(ledger, "Alibaba orders 10,000 Ascend 910C chips", verdict(1, "for", "1.orders", "medium", "10,000 chips"))
    add(ledger, "The weather is nice", verdict(0))  # no gate: not evidence
    [item] = ledger.evidence_items(1, *MONTH, platform="slack", chat_id="C1")
    assert (item.gate, item.reading, item.metric, item.figure, item.confidence) == (
        1, "for", "1.orders", "10,000 chips", "medium")
    assert item.weight == WEIGHTS["medium"] and item.source_kind == "paste" and item.source == "slack:C1:U1"
    assert item.text.startswith("Alibaba orders") and item.link is None and item.at == T0.isoformat()
    assert ledger.db.execute("select message_id from evidence").fetchall() == [(mid,)]
    assert ledger.db.execute("select count(*) from evidence where gate = 0").fetchone()[0] == 0
    assert all(ledger.evidence_balance(*MONTH)[g].stories == 0 for g in (2, 3, 4))


def test_source_kinds_feed_and_pasted_link(ledger: Store) -> None:
    add(ledger, "Idle data centres in Gansu", verdict(2, "against", "2.utilisation"), source="Caixin feed",
        link="https://caixin.com/a/1", user="feed:7")
    add(ledger, "look https://www.scmp.com/tech/article/99 \nSMIC adds 7nm capacity", verdict(4, "for", "4.midsize"))
    [feed] = ledger.evidence_items(2, *MONTH)
    [link] = ledger.evidence_items(4, *MONTH)
    assert (feed.source_kind, feed.source, feed.link) == ("feed", "Caixin feed", "https://caixin.com/a/1")
    assert (link.source_kind, link.source, link.link) == ("link", "scmp.com", "https://www.scmp.com/tech/article/99")
    assert ledger.evidence_items(2, *MONTH, feeds_only=True) == [feed]
    assert ledger.evidence_items(4, *MONTH, feeds_only=True) == []


def test_the_same_link_from_two_feeds_counts_once_but_names_two_sources(ledger: Store) -> None:
    add(ledger, "Huawei ships 100,000 Ascend chips", verdict(2, "for", "2.vendors"), source="Feed A",
        link="https://www.example.com/story/1?utm_source=rss", user="feed:1")
    add(ledger, "Huawei shipped 100k Ascend chips this quarter", verdict(2, "for", "2.vendors"), source="Feed B",
        link="http://example.com/story/1/", user="feed:2")
    balance = ledger.evidence_balance(*MONTH, platform="slack", chat_id="C1")[2]
    assert balance.for_ == Tally(1, 1.0)
    assert ledger.evidence_balance(*MONTH)[2].for_.stories == 1
    assert len(ledger.evidence_items(2, *MONTH, platform="slack", chat_id="C1")) == 1
    assert ledger.evidence_sources(2, *MONTH) == 2
    assert ledger.evidence_sources(2, *MONTH, reading="against") == 0


def test_near_identical_text_counts_once(ledger: Store) -> None:
    add(ledger, "Alibaba orders 10,000 Ascend 910C chips - Reuters", verdict(1))
    add(ledger, "ALIBABA orders 10,000 Ascend-910C chips!", verdict(1), user="U2")
    add(ledger, "10,000 Ascend 910C chips: Alibaba orders", verdict(1), user="U3")  # same words, reordered
    add(ledger, "Tencent orders 10,000 Ascend 910C chips", verdict(1), user="U4")  # another story
    assert ledger.evidence_balance(*MONTH, platform="slack", chat_id="C1")[1].for_.stories == 2
    assert ledger.evidence_sources(1, *MONTH, platform="slack", chat_id="C1") == 4


def test_a_story_pasted_first_and_later_read_from_a_feed_with_its_link_counts_once(ledger: Store) -> None:
    add(ledger, "Baidu migrates Ernie training to Kunlun chips", verdict(3, "for", "3.migration"))
    add(ledger, "Baidu migrates Ernie training to Kunlun chips | SCMP", verdict(3, "for", "3.migration"),
        source="SCMP", link="https://scmp.com/x", user="feed:1")
    # Known now by its link too: a third telling under another title but the same link is the same story.
    add(ledger, "Ernie moves to Kunlun", verdict(3, "for", "3.migration"), source="Other",
        link="https://scmp.com/x#top", user="feed:2")
    assert ledger.evidence_balance(*MONTH)[3].for_.stories == 1


def test_the_same_story_in_two_chats_counts_once_per_chat_and_once_globally(ledger: Store) -> None:
    text = "Alibaba orders 10,000 Ascend 910C chips"
    add(ledger, text, verdict(1), chat="C1")
    add(ledger, text, verdict(1), chat="C2")
    add(ledger, text, verdict(1), chat="-100", platform="telegram")
    assert ledger.evidence_balance(*MONTH, platform="slack", chat_id="C1")[1].for_.stories == 1
    assert ledger.evidence_balance(*MONTH, platform="slack", chat_id="C2")[1].for_.stories == 1
    assert ledger.evidence_balance(*MONTH, platform="telegram", chat_id="-100")[1].for_.stories == 1
    assert ledger.evidence_balance(*MONTH, platform="slack")[1].for_.stories == 1
    assert ledger.evidence_balance(*MONTH)[1].for_.stories == 1
    assert len(ledger.evidence_items(1, *MONTH)) == 1
    assert len(ledger.evidence_items(1, *MONTH, platform="slack", chat_id="C2")) == 1


def test_balance_per_metric_and_reading(ledger: Store) -> None:
    add(ledger, "Huawei wins 2,000 server tender", verdict(1, "for", "1.orders", "high"))
    add(ledger, "State fund puts $5.6B into AI chips", verdict(1, "for", "1.funds", "low"))
    add(ledger, "Provincial chip tender cancelled", verdict(1, "against", "1.orders", "medium"))
    add(ledger, "Ministry reviews procurement rules", verdict(1, "neutral", "other", "high"))
    b = ledger.evidence_balance(*MONTH, platform="slack", chat_id="C1")
    assert set(b) == {1, 2, 3, 4}
    g1 = b[1]
    assert (g1.for_.stories, g1.against.stories, g1.neutral.stories) == (2, 1, 1)
    assert g1.for_.weight == pytest.approx(WEIGHTS["high"] + WEIGHTS["low"])
    assert g1.by_metric["1.orders"]["for"] == Tally(1, WEIGHTS["high"])
    assert g1.by_metric["1.orders"]["against"] == Tally(1, WEIGHTS["medium"])
    assert g1.by_metric["1.funds"]["for"].stories == 1 and g1.by_metric["1.funds"]["against"].stories == 0
    assert g1.by_metric["other"]["neutral"].stories == 1
    assert b[2].by_metric == {} and b[2].stories == 0
    assert [i.reading for i in ledger.evidence_items(1, *MONTH, reading="for")] == ["for", "for"]
    assert ledger.evidence_items(1, *MONTH, limit=2)[0].weight == WEIGHTS["high"]


def test_windows_are_half_open_and_exact_at_their_edges(ledger: Store, clock: Clock) -> None:
    times = [datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc),  # a day's first second
             datetime(2026, 11, 10, 8, 30, tzinfo=timezone.utc),
             datetime(2026, 11, 10, 17, 45, tzinfo=timezone.utc),
             datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc)]
    for i, ts in enumerate(times):
        clock.now = ts
        add(ledger, f"Story number {i} about Ascend orders", verdict(1))

    def count(start: datetime, end: datetime) -> int:
        both = (ledger.evidence_balance(start, end)[1].for_.stories,
                ledger.evidence_balance(start, end, platform="slack", chat_id="C1")[1].for_.stories)
        assert both[0] == both[1]
        assert len(ledger.evidence_items(1, start, end, limit=10)) == both[0]
        return both[0]

    assert count(times[0], times[3]) == 3  # start included, end excluded
    assert count(times[0], times[3] + timedelta(seconds=1)) == 4
    assert count(times[0] + timedelta(seconds=1), times[3] + timedelta(seconds=1)) == 3
    assert count(times[1], times[2]) == 1  # within one day
    assert count(times[1] + timedelta(minutes=1), times[2] + timedelta(minutes=1)) == 1
    assert count(datetime(2026, 11, 2, tzinfo=timezone.utc), datetime(2026, 11, 30, tzinfo=timezone.utc)) == 2
    assert count(datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 12, 31, tzinfo=timezone.utc)) == 4
    assert count(times[2], times[1]) == 0  # an empty window


def test_one_chat_never_sees_another_chats_items(ledger: Store) -> None:
    add(ledger, "Secret board memo: we cancel the Ascend order", verdict(2, "against", "2.vendors"), chat="C1")
    add(ledger, "Inspur ships Kunpeng servers to banks", verdict(2, "for", "2.vendors"), chat="C2")
    c2 = ledger.evidence_items(2, *MONTH, platform="slack", chat_id="C2", limit=10)
    assert [i.chat_id for i in c2] == ["C2"] and "Secret" not in c2[0].text
    assert ledger.evidence_balance(*MONTH, platform="slack", chat_id="C2")[2].against.stories == 0
    assert ledger.evidence_sources(2, *MONTH, platform="slack", chat_id="C2") == 1
    assert ledger.evidence_items(2, *MONTH, platform="telegram", chat_id="C1") == []
    with pytest.raises(ValueError):
        ledger.evidence_items(2, *MONTH, chat_id="C1")  # a chat is named with its platform


def test_story_keys() -> None:
    assert normalise_link("https://WWW.Example.com/a/b/?utm_source=x&id=3#frag") == "example.com/a/b?id=3"
    assert normalise_link("http://example.com/a/b?id=3") == "example.com/a/b?id=3"
    assert near_key("昇腾CANN全面开源") == near_key("昇騰 CANN 全面開源!")
    assert near_key("Huawei opens CANN - Reuters") == near_key("huawei opens cann")
    assert near_key("Huawei opens CANN") != near_key("Huawei closes CANN")
    assert near_key("https://example.com/only-a-link") == ""


def test_every_chat_queries_read_a_months_rows_from_an_index_alone(ledger: Store) -> None:
    """A month of a gate in every chat is ~20,000 rows at 1,000,000: read from a covering index, never
    row by row (the rows themselves are read only for the items shown)."""
    add(ledger, "Alibaba orders 10,000 Ascend 910C chips", verdict(1))
    seen: list[str] = []
    ledger.db.conn.set_trace_callback(seen.append)
    start, end = T0 - timedelta(days=30, hours=3), T0 + timedelta(hours=1)  # two partial days
    ledger.evidence_balance(start, end)
    ledger.evidence_items(1, start, end, reading="for", feeds_only=True)
    ledger.evidence_sources(1, start, end, reading="for")
    ledger.db.conn.set_trace_callback(None)
    for sql in seen:
        plan = " | ".join(r[-1] for r in ledger.db.execute("explain query plan " + sql).fetchall())
        for step in plan.split(" | "):
            if step.startswith("SEARCH evidence ") or step.startswith("SCAN evidence"):
                assert "COVERING INDEX" in step or "INTEGER PRIMARY KEY" in step, (sql, plan)
