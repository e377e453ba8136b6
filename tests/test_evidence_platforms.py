"""Black-box: headlines pasted on Telegram, Slack and the terminal move `/gate N` and `gatebot evidence`
by exactly what their verdicts read (reading and metric as stored with each verdict), the same story
counts once, and one chat's evidence never shows in another's."""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
from collections import Counter

import pytest
from gatebot import cli
from gatebot.handlers.terminal import run_chat
from gatebot.service import Service
from gatebot.store import Store
from test_slack import CHANNEL, Bot, message, scenario
from test_telegram import DM, GROUP, polling_bot, reply_to, reply_to_dm, run

pytestmark = pytest.mark.slow

# Stories, each a list of tellings: the later ones are the same story (near-identical text).
STORIES = [
    ["Alibaba orders 10,000 Ascend 910C chips", "ALIBABA orders 10,000 Ascend-910C chips!"],
    ["ByteDance orders $5.6B of Ascend 950PR chips"],
    ["部分国产芯片闲置率高达80%"],
    ["DeepSeek delays new models due to problems with Huawei chips"],
]
OTHER_CHAT_STORY = "Sales of DeepSeek all-in-one machines cool as SOE and government demand stalls"
READINGS = ("for", "against", "neutral")


async def until(ready, timeout: float = 10.0) -> None:
    """Poll (bounded) until the app has stored what was sent: events are answered before they are handled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ready():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def expected(store: Store, platform: str, chat_id: str) -> dict[int, Counter]:
    """gate -> Counter of reading and (metric, reading), from the verdicts stored for the chat's first
    telling of each story (the later tellings must read the same, or the test proves nothing)."""
    rows = store.db.execute("select id, text from messages where platform = ? and chat_id = ? order by id",
                            [platform, chat_id]).fetchall()
    verdicts = {text: store.get_message(mid).verdict for mid, text in rows}
    out: dict[int, Counter] = {g: Counter() for g in (1, 2, 3, 4)}
    for tellings in STORIES:
        first = verdicts[tellings[0]]
        assert first.gate and first.reading in READINGS and first.metric, tellings[0]
        for later in tellings[1:]:
            v = verdicts[later]
            assert (v.gate, v.reading, v.metric) == (first.gate, first.reading, first.metric), later
        out[first.gate][first.reading] += 1
        out[first.gate][(first.metric, first.reading)] += 1
    return out


def gate_numbers(text: str) -> tuple[int, int, int]:
    """(for, against, neutral) from /gate N's "This chat, last 30 days" line."""
    plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    if "This chat, last 30 days: no evidence for this gate yet" in plain:
        return 0, 0, 0
    m = re.search(r"This chat, last 30 days:?\s*(\d+) for · (\d+) against · (\d+) neutral", plain)
    assert m, plain[-600:]
    return int(m[1]), int(m[2]), int(m[3])


def cli_json(monkeypatch, capsys, store: Store, *args: str) -> dict[int, dict]:
    monkeypatch.setenv("GATEBOT_DB", str(store.path))
    capsys.readouterr()
    assert cli.main(["evidence", "--json", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {obj["gate"]: obj for obj in map(json.loads, lines)}


def check(store: Store, platform: str, chat_id: str, cards: dict[int, str], monkeypatch, capsys) -> None:
    want = expected(store, platform, chat_id)
    assert sum(sum(c[r] for r in READINGS) for c in want.values()) == len(STORIES)
    by_cli = cli_json(monkeypatch, capsys, store, "--chat", chat_id, "--platform", platform)
    for gate in (1, 2, 3, 4):
        numbers = tuple(want[gate][r] for r in READINGS)
        assert gate_numbers(cards[gate]) == numbers, gate
        got = by_cli[gate]
        assert (got["for"], got["against"], got["neutral"]) == numbers, gate
        assert got["stories"] == sum(numbers)
        metrics = {(m, r): n for (m, r), n in ((k, v) for k, v in want[gate].items() if isinstance(k, tuple))}
        assert {(m, r): got["by_metric"][m][r] for m in got["by_metric"] for r in READINGS
                if got["by_metric"][m][r]} == metrics


def test_telegram_pasted_headlines_move_gate_and_the_cli(service: Service, monkeypatch, capsys) -> None:
    cards: dict[int, str] = {}
    group_cards: dict[int, str] = {}

    async def scenario_() -> None:
        async with polling_bot(service) as (fake, _):
            for gate in (1, 2):  # before: nothing
                assert gate_numbers((await reply_to_dm(fake, DM, f"/gate {gate}"))["text"]) == (0, 0, 0)
            for tellings in STORIES:
                for text in tellings:
                    await reply_to_dm(fake, DM, text)  # a direct chat always answers: the verdict is stored
            await reply_to(fake, fake.push_message(GROUP, OTHER_CHAT_STORY))
            for gate in (1, 2, 3, 4):
                cards[gate] = (await reply_to_dm(fake, DM, f"/gate {gate}"))["text"]
                group_cards[gate] = (await reply_to(fake, fake.push_message(GROUP, f"/gate {gate}")))["text"]

    run(scenario_())
    check(service.store, "telegram", str(DM), cards, monkeypatch, capsys)
    # The group saw one story of its own, none of the direct chat's.
    assert sum(sum(gate_numbers(t)) for t in group_cards.values()) == 1
    assert not any("Alibaba" in t or "ByteDance" in t for t in group_cards.values())
    assert "Sales of DeepSeek" not in "".join(cards.values())
    # Every chat, for operators: the group's story too, the direct chat's duplicate still once.
    everywhere = cli_json(monkeypatch, capsys, service.store)
    assert sum(o["stories"] for o in everywhere.values()) == len(STORIES) + 1


def test_slack_pasted_headlines_move_gate_and_the_cli(tmp_path, rules, classifier, monkeypatch, capsys) -> None:
    cards: dict[int, str] = {}
    db = tmp_path / "gatebot.db"

    async def body(bot: Bot) -> None:
        n = 0
        for tellings in STORIES:
            for text in tellings:
                n += 1
                assert await bot.event(message(text, f"1700000{n:03d}.000100"), f"Ev{n:03d}") == 200
        await until(lambda: bot.service.store.count_messages() >= n)
        for gate in (1, 2, 3, 4):
            status, _ = await bot.command("/gate", str(gate), rid=f"gate{gate}")
            assert status == 200
        await bot.fake.wait_for("response_url", 4)
        for call in bot.fake.responses:
            title = re.search(r"Gate (\d)", call.params["text"])
            if title:
                cards[int(title[1])] = call.params["text"]

    scenario(tmp_path, rules, classifier)(body)
    store = Store(db)
    try:
        check(store, "slack", CHANNEL, cards, monkeypatch, capsys)
    finally:
        store.close()


def test_terminal_pasted_headlines_move_gate_and_the_cli(service: Service, monkeypatch, capsys) -> None:
    lines = [text for tellings in STORIES for text in tellings] + [f"/gate {g}" for g in (1, 2, 3, 4)]
    out = io.StringIO()
    assert run_chat(service, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out) == 0
    replies = out.getvalue().split("\n\n")
    cards = {int(m[1]): r for r in replies if (m := re.match(r"Gate (\d) ·", r))}
    assert set(cards) == {1, 2, 3, 4}
    check(service.store, "terminal", "terminal", cards, monkeypatch, capsys)
