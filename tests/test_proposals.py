"""Status proposals end to end: a simulated month of pasted headlines through the real pipeline and
the ledger, the proposals job driven by the fake clock, Accept / Dismiss through service.apress,
the board after a restart, and the terminal (`gatebot status proposals|accept|dismiss`)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from drive import FakeClock, command, press
from gatebot import proposals
from gatebot.classifier import Classifier
from gatebot.cli import main
from gatebot.jobs import Job, run_job
from gatebot.reply import Reply
from gatebot.ruleset import RuleSet
from gatebot.service import Message, Service
from gatebot.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
BOSS = "boss"  # in GATEBOT_ADMINS as test:boss
# Real headlines of gate 4 adoption (data/dev-headlines.jsonl), read as evidence for, high confidence.
ADOPTION = [
    "Pangu mining model adapts to a new mine with light fine-tuning instead of one model per mine",
    "Huawei Cloud: medical AI is now assembled on a conveyor",
    "Factory scale mining AI",
    "China Mobile quality-inspection compute platform now used by 27 instrument makers in Ningbo and Dongguan",
    "Shenzhen district puts DeepSeek to work across 240 government services",
    "China's Central State-Owned Enterprises Accelerate AI Industrial Applications",
    "Huawei in the countryside: AI diagnostics now runs on an ordinary office PC",
    "China adopts DeepSeek artificial intelligence in local governments, ports",
    "【创新发展】全球首个煤矿行业商用AI大模型落地见效",
    "昆仑芯已落地招商银行、南方电网等客户,覆盖金融、能源、制造、交通、教育多个行业",
    "批量复制传统产业“破壁人”:华为×山东能源AI出圈启示录",
]


class Sender:
    """What an adapter's `send` does, recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Reply]] = []

    async def send(self, chat_id: str, reply: Reply) -> str:
        self.sent.append((chat_id, reply))
        return f"m{len(self.sent)}"


class Time:
    """The store's and the service's clock: the fake clock of the phase being driven (a FakeClock
    drives one run of the jobs; each phase of a test gets its own, starting where the last ended)."""

    def __init__(self, now: datetime) -> None:
        self.fake = FakeClock(now)

    def __call__(self) -> datetime:
        return self.fake.now

    def advance(self, delta: timedelta) -> None:
        self.fake = FakeClock(self.fake.now + delta)


def open_service(rules: RuleSet, classifier: Classifier, db: Path, clock: Time) -> Service:
    service = Service(rules, Store(db, clock=clock), classifier, clock=clock)
    service.admins = frozenset({f"test:{BOSS}"})
    return service


@pytest.fixture(scope="module", autouse=True)
def _adoption(classifier: Classifier) -> None:
    """The headlines still read as the month needs them with the model that ships."""
    read = [classifier.classify(text) for text in ADOPTION]
    assert all((v.gate, v.reading, v.confidence) == (4, "for", "high") for v in read), [
        (t, v.gate, v.reading, v.confidence) for t, v in zip(ADOPTION, read, strict=True)]


def month(service: Service, senders: dict, clock: Time, texts: list[str], days: int = 30, readers: int = 3) -> None:
    """`days` of simulated time: a headline pasted in the newsroom every other day by one of three
    readers, and the proposals job ticking every 6 hours, both on one fake clock."""
    clock.advance(timedelta(0))
    fake, queue, day = clock.fake, list(texts), [0]
    stop = asyncio.Event()

    async def paste() -> None:
        if day[0] >= days:
            stop.set()
            return
        if day[0] % 2 == 0 and queue:
            await service.ahandle_message(Message("test", "newsroom", f"reader{day[0] % readers}", queue.pop(0)))
        day[0] += 1

    async def both() -> None:
        await asyncio.gather(
            run_job(Job("paste", paste, 24 * 3600), stop, wait=fake.wait),
            proposals.run_proposals(service, senders, stop, tick_seconds=6 * 3600, clock=fake, wait=fake.wait,
                                    off_loop=False))  # each tick done before the fake clock moves on

    asyncio.run(asyncio.wait_for(both(), 60))


def texts_of(reply: Reply) -> str:
    return reply.plain()


def test_a_month_crossing_the_threshold_yields_one_proposal_and_accept_moves_the_board(
        rules: RuleSet, classifier: Classifier, tmp_path: Path) -> None:
    clock = Time(T0)
    service = open_service(rules, classifier, tmp_path / "p.db", clock)
    sender = Sender()
    refused = command(service, "test", "newsroom", "reader0", "proposals", "on")
    assert refused.kind == "error" and "only the bot's admins" in refused.plain()
    assert proposals.rows(service).proposal_chats() == []
    assert "on" in command(service, "test", "boss-dm", BOSS, "proposals", "on", is_direct=True).plain()
    command(service, "test", "newsroom", BOSS, "proposals", "on")
    month(service, {"test": sender}, clock, ADOPTION)

    made = proposals.rows(service).proposals()
    assert [(p["gate"], p["direction"], p["from_step"], p["to_step"], p["status"]) for p in made] == [
        (4, "up", 0, 1, "pending")]
    proposal = made[0]
    assert proposal["signals"] >= 8 and proposal["sources"] == 3
    assert sorted(chat for chat, _ in sender.sent) == ["boss-dm", "newsroom"]  # one post per chat
    posts = dict(sender.sent)
    dm, room = texts_of(posts["boss-dm"]), texts_of(posts["newsroom"])
    assert "from “not opened” to “a crack has opened”" in dm and "Scaled replication" in dm
    assert not any(text[:30] in dm for text in ADOPTION)  # another chat's headlines are never quoted
    assert sum(text[:30] in room for text in ADOPTION) >= 1  # this chat's are
    assert [(c.value, c.target) for c in posts["boss-dm"].choices] == [
        (f"accept={proposal['id']}", "proposal"), (f"dismiss={proposal['id']}", "proposal")]

    nope = press(service, "test", "newsroom", "reader1", "proposal", f"accept={proposal['id']}")
    assert not nope.ok and nope.reply is None and "only the bot's admins" in nope.notice
    assert service.store.gate_status(4) is None

    done = press(service, "test", "boss-dm", BOSS, "proposal", f"accept={proposal['id']}", is_direct=True)
    assert done.ok and done.reply is not None and not done.reply.choices
    assert "accepted by test:boss" in done.reply.plain()
    assert service.store.gate_status(4).status_en == "A crack has opened."
    again = press(service, "test", "newsroom", BOSS, "proposal", f"dismiss={proposal['id']}")
    assert not again.ok and again.notice.startswith("Already accepted by test:boss on 2026-")
    card = command(service, "test", "newsroom", "reader0", "gate", "4").plain()
    assert "A crack has opened. (since 2026-12-02 · accepted by test:boss on" in card
    assert f"accepted by test:boss on {proposal['signals']} signals" in card

    # a restart: the board stays moved, nothing is posted twice, and the same evidence does not
    # push the gate a second step
    service.store.close()
    clock.advance(timedelta(hours=1))
    service = open_service(rules, classifier, tmp_path / "p.db", clock)
    card = command(service, "test", "boss-dm", BOSS, "gate", "4", is_direct=True).plain()
    assert f"accepted by test:boss on {proposal['signals']} signals" in card
    month(service, {"test": sender}, clock, [], days=10)
    assert len(sender.sent) == 2 and len(proposals.rows(service).proposals()) == 1
    zh = command(service, "test", "boss-dm", BOSS, "gate", "第四道门", is_direct=True).plain()
    assert f"由 test:boss 依据 {proposal['signals']} 条信号接受" in zh
    service.store.close()


def test_a_proposal_nobody_decides_lapses_and_no_longer_blocks_its_gate(
        rules: RuleSet, classifier: Classifier, tmp_path: Path) -> None:
    clock = Time(T0)
    service = open_service(rules, classifier, tmp_path / "l.db", clock)
    sender = Sender()
    command(service, "test", "boss-dm", BOSS, "proposals", "on", is_direct=True)
    month(service, {"test": sender}, clock, ADOPTION, days=20)
    (first,) = proposals.rows(service).proposals()
    days = proposals.ladder_of(rules).thresholds.pending_days
    clock.advance(timedelta(days=days + 1))  # nobody pressed a button
    asyncio.run(proposals.check(service, off_loop=False))
    book = proposals.rows(service)
    assert book.proposal(first["id"])["status"] == "lapsed"
    late = press(service, "test", "boss-dm", BOSS, "proposal", f"accept={first['id']}", is_direct=True)
    assert not late.ok and late.notice.startswith("It lapsed undecided on 2026-")
    assert service.store.gate_status(4) is None  # a lapsed proposal moves nothing
    # most of its evidence has left the 30-day window by now, so nothing new is proposed (that a
    # lapsed proposal stops blocking is rules/ladder.yaml's "idle data centres" month, day 28)
    assert [(p["gate"], p["status"]) for p in book.proposals()] == [(4, "lapsed")]
    assert "无人决定" in proposals.proposal_reply(service, book.proposal(first["id"]), "test", "boss-dm", "zh").plain()
    service.store.close()


def test_dismiss_keeps_it_quiet(rules: RuleSet, classifier: Classifier, tmp_path: Path) -> None:
    clock = Time(T0)
    service = open_service(rules, classifier, tmp_path / "d.db", clock)
    sender = Sender()
    command(service, "test", "boss-dm", BOSS, "proposals", "on", is_direct=True)
    month(service, {"test": sender}, clock, ADOPTION[:9], days=20)
    (proposal,) = proposals.rows(service).proposals()
    result = press(service, "test", "boss-dm", BOSS, "proposal", f"dismiss={proposal['id']}", is_direct=True)
    assert result.ok and "dismissed by test:boss" in result.reply.plain()
    assert service.store.gate_status(4) is None  # nothing changed on the board
    # two more weeks, the last headlines pasted: more evidence, but not the margin more
    month(service, {"test": sender}, clock, ADOPTION[9:], days=14)
    assert [p["status"] for p in proposals.rows(service).proposals()] == ["dismissed"]
    assert len(sender.sent) == 1
    again = press(service, "test", "boss-dm", BOSS, "proposal", f"accept={proposal['id']}", is_direct=True)
    assert not again.ok and again.notice.startswith("Already dismissed by test:boss")
    service.store.close()


def test_the_terminal_lists_accepts_and_dismisses(rules: RuleSet, classifier: Classifier, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    clock = Time(T0)
    db = tmp_path / "cli.db"
    service = open_service(rules, classifier, db, clock)
    month(service, {}, clock, ADOPTION[:9], days=20)  # no chat has them on: none posted
    service.store.close()
    monkeypatch.setenv("GATEBOT_DB", str(db))
    assert main(["status", "proposals", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    item = json.loads(line)
    assert (item["gate"], item["direction"], item["from"], item["to"], item["status"], item["posted"]) == (
        4, "up", "not_opened", "crack", "pending", [])
    assert item["evidence"]["for"]["sources"] == 3 and item["signals"] == item["evidence"]["for"]["stories"]
    assert main(["status", "dismiss", "99"]) == 1
    assert "no status proposal #99" in capsys.readouterr().err
    assert main(["status", "accept", str(item["id"]), "--by", "ops"]) == 0
    assert "accepted: Gate 4 · Scaled replication now reads “A crack has opened.”" in capsys.readouterr().out
    assert main(["status", "dismiss", str(item["id"])]) == 1
    assert "Already accepted by ops on" in capsys.readouterr().err
    assert main(["status", "proposals"]) == 0
    assert "accepted by ops" in capsys.readouterr().out
    store = Store(db)
    try:
        assert store.gate_status(4).status_en == "A crack has opened." and store.gate_status(4).changed_by == "ops"
    finally:
        store.close()


def test_one_source_repeating_itself_proposes_nothing(rules: RuleSet, classifier: Classifier, tmp_path: Path) -> None:
    clock = Time(T0)
    service = open_service(rules, classifier, tmp_path / "one.db", clock)
    sender = Sender()
    command(service, "test", "boss-dm", BOSS, "proposals", "on", is_direct=True)
    month(service, {"test": sender}, clock, ADOPTION, readers=1)  # eleven stories, all from one reader
    assert proposals.rows(service).proposals() == [] and sender.sent == []
    service.store.close()


class Flaky(Sender):
    """A platform that fails the first send; the job is stopped after the first that goes through."""

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__()
        self.stop = stop

    async def send(self, chat_id: str, reply: Reply) -> str:
        if not self.sent:
            self.sent.append(("failed", reply))
            raise ConnectionError("platform down")
        self.stop.set()
        return await super().send(chat_id, reply)


def test_posts_are_claimed_once_retried_after_a_failure_and_never_resent_after_a_crash(
        rules: RuleSet, classifier: Classifier, tmp_path: Path) -> None:
    clock = Time(T0)
    service = open_service(rules, classifier, tmp_path / "once.db", clock)
    for chat in ("boss-dm", "crashed"):
        command(service, "test", chat, BOSS, "proposals", "on", is_direct=True)
    month(service, {}, clock, ADOPTION[:9], days=20)  # a proposal waits; no platform is running
    (proposal,) = proposals.rows(service).proposals()
    book = proposals.rows(service)
    assert book.claim_post(proposal["id"], "test", "crashed", "an-earlier-run", 3) == 1  # it stopped mid-send

    async def restart() -> Flaky:
        clock.advance(timedelta(0))
        stop = asyncio.Event()
        flaky = Flaky(stop)
        # the job alone on the fake clock: a tick fails, ten minutes later the next one sends
        await proposals.run_proposals(service, {"test": flaky}, stop, clock=clock.fake, wait=clock.fake.wait,
                                      off_loop=False)
        return flaky

    flaky = asyncio.run(asyncio.wait_for(restart(), 30))
    assert [chat for chat, _ in flaky.sent] == ["failed", "boss-dm"]  # failed once, sent on the next tick
    assert book.posts(proposal["id"]) == [("test", "boss-dm", "sent"), ("test", "crashed", "interrupted")]
    again = asyncio.run(proposals.proposals_tick(service, {"test": flaky}, "a-later-run", off_loop=False))
    assert again == [] and len(flaky.sent) == 2  # neither chat gets it again
    service.store.close()
