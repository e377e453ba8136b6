"""Group manners and per-chat settings in the core: modes, the confidence floor, /quiet with an
injected clock, compact replies and /why, the language override, who may change settings, reply
wording. The same through the real Telegram and Slack adapters: test_manners_telegram.py and
test_manners_slack.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import drive
import pytest
from fakes.feed_site import FeedSite
from fakes.openai_api import MODEL, FakeLLM, keyword_answer
from gatebot.address_guard import AddressGuard
from gatebot.chatsettings import parse_duration
from gatebot.classifier import Classifier
from gatebot.commands import help_lines
from gatebot.judge import Judge
from gatebot.links import LinkReader
from gatebot.reply import LABELS, Reply, zh_text
from gatebot.ruleset import RuleSet
from gatebot.service import Message, Service
from gatebot.store import Store
from headlines import CANDIDATES, pick

UTC = timezone.utc
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HIGH = "ByteDance orders $5.6B of Ascend 950PR chips"
MEDIUM = "Tencent orders Ascend chips for its cloud"
LOW = "Huawei Ascend chips in the news again"
CHATTER = "lunch at noon?"
ADMIN = "admin-1"
GROUP = "group-1"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module", autouse=True)
def _confidences(classifier: Classifier) -> None:
    """Headlines with the confidences their names say, for the model that ships (see headlines.py)."""
    global HIGH, MEDIUM, LOW
    HIGH, MEDIUM, LOW = (pick(classifier, c) for c in ("high", "medium", "low"))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def make_service(rules: RuleSet, classifier: Classifier, path: Path, clock: Clock) -> Service:
    service = Service(rules, Store(path, clock=clock), classifier, clock=clock)
    service.admins = frozenset({ADMIN})
    return service


@pytest.fixture
def svc(rules: RuleSet, classifier: Classifier, tmp_path: Path, clock: Clock) -> Iterator[Service]:
    service = make_service(rules, classifier, tmp_path / "m.db", clock)
    yield service
    service.store.close()


def group(svc: Service, text: str, *, addressed: bool = False, chat: str = GROUP) -> Reply | None:
    return drive.say(svc, Message("test", chat, "user-1", text, addressed=addressed))


def direct(svc: Service, text: str, chat: str = "dm-1") -> Reply | None:
    return drive.say(svc, Message("test", chat, "user-1", text, is_direct=True))


def command(svc: Service, name: str, args: str = "", *, user: str = ADMIN, chat: str = GROUP,
            is_direct: bool = False, lang_hint: str | None = "en") -> Reply:
    return drive.command(svc, "test", chat, user, name, args, lang_hint, is_direct=is_direct)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


# --------------------------------------------------------------------------- the floor and modes


def test_unprompted_group_replies_need_the_rules_floor(svc: Service, rules: RuleSet) -> None:
    assert svc.default_floor == rules.context.thresholds.group_reply == "medium"
    assert group(svc, HIGH) is not None and group(svc, MEDIUM) is not None
    assert group(svc, LOW) is None  # a low-confidence gate verdict: silence, stored all the same
    assert group(svc, CHATTER) is None
    assert svc.store.count_messages() == 4
    asked = group(svc, LOW, addressed=True)  # a question gets its answer, with its confidence
    assert asked is not None and "\nConfidence: low" in asked.plain()
    assert "\nConfidence: low" in direct(svc, LOW).plain()


def test_the_floor_setting(svc: Service) -> None:
    reply = command(svc, "settings", "floor high")
    assert "floor is now high." in reply.plain() and not reply.ephemeral
    assert group(svc, MEDIUM) is None and group(svc, HIGH) is not None
    command(svc, "settings", "floor low")
    assert group(svc, LOW) is not None
    assert group(svc, CHATTER) is None  # no gate is never "at least low"
    reply = command(svc, "settings", "floor default")
    assert "floor is now medium (default)." in reply.plain()
    assert group(svc, LOW) is None
    assert group(svc, HIGH, chat="other-group") is not None  # settings are per chat


def test_mention_mode_answers_only_questions_and_commands(svc: Service) -> None:
    command(svc, "settings", "mode mention")
    assert group(svc, HIGH) is None
    assert group(svc, HIGH, addressed=True) is not None
    assert group(svc, LOW, addressed=True) is not None
    assert command(svc, "gates", user="someone").kind == "board"
    assert direct(svc, CHATTER) is not None  # a direct chat has no mode


def test_off_mode_answers_commands_only(svc: Service) -> None:
    command(svc, "settings", "mode off")
    assert group(svc, HIGH) is None and group(svc, HIGH, addressed=True) is None
    assert command(svc, "classify", HIGH, user="someone").kind == "verdict"
    assert command(svc, "gate", "3", user="someone").kind == "gate"
    assert svc.store.count_messages() == 3  # silence is not forgetting: the digest still counts them


def test_quiet_silences_unprompted_replies_and_expires_by_itself(svc: Service, clock: Clock) -> None:
    reply = command(svc, "quiet", "2h")
    assert reply.plain().startswith("Quiet until 11:00 UTC: no unprompted replies until then;")
    assert group(svc, HIGH) is None
    assert group(svc, HIGH, addressed=True) is not None  # direct questions still answered
    assert command(svc, "gates", user="someone").kind == "board"
    assert command(svc, "quiet", user="someone").plain() == "Quiet until 11:00 UTC. /quiet off ends it early."
    clock.now = T0 + timedelta(hours=1, minutes=59)
    assert group(svc, HIGH) is None
    clock.now = T0 + timedelta(hours=2)
    assert group(svc, HIGH) is not None  # over, with nobody lifting it
    assert command(svc, "quiet").plain().startswith("Not quiet.")
    command(svc, "quiet", "30m")
    assert group(svc, HIGH) is None
    assert command(svc, "quiet", "off").plain() == "Quiet is over: unprompted replies are back."
    assert group(svc, HIGH) is not None


def test_quiet_durations_and_bad_input(svc: Service) -> None:
    assert parse_duration("2h") == timedelta(hours=2) and parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1) and parse_duration("45 min") == timedelta(minutes=45)
    assert parse_duration("2小时") == timedelta(hours=2)
    assert parse_duration("soon") is None and parse_duration("2h later") is None and parse_duration("0m") is None
    assert command(svc, "quiet", "8d").plain() == "At most 7 days, e.g. /quiet 1d."
    bad = command(svc, "quiet", "for a while")
    assert bad.kind == "error" and bad.plain().startswith("Usage: /quiet 2h")
    assert command(svc, "quiet", "1d").plain().startswith("Quiet until 2026-12-01 09:00 UTC")


def test_quiet_is_shown_in_the_chats_time_zone(svc: Service) -> None:
    command(svc, "digest", "on 08:00 Asia/Shanghai")
    assert command(svc, "quiet", "2h").plain().startswith("Quiet until 19:00 CST")


# --------------------------------------------------------------------------- compact replies and /why


def test_compact_replies_and_why(svc: Service) -> None:
    assert command(svc, "why", user="someone").plain() == "Nothing to explain yet: no verdict in this chat."
    command(svc, "settings", "format compact")
    reply = group(svc, HIGH)
    assert reply.plain().splitlines() == [
        "Gate 1 · Policy procurement · high confidence",
        "Opened, and opened wide. (checklist, 2026) — Risk: Procurement volume ≠ deployment volume. Don't confuse them.",
    ]
    assert [(c.value, c.label) for c in reply.choices] == [("why", "Why?")]
    pressed = drive.press(svc, "test", GROUP, "user-2", reply.message_id, "why")  # the button expands it in place
    assert pressed.ok and pressed.notice == ""
    full = pressed.reply.plain()
    assert full.startswith("Gate 1 · Policy procurement\nStatus:") and "Why:\n  - “orders” → order (+3)" in full
    assert [c.value for c in pressed.reply.choices] == ["right", "1", "2", "3", "4", "0"]
    assert svc.store.tally(reply.message_id) == {}  # "why" is not a vote
    why = command(svc, "why", user="someone")  # the same, as a command
    assert why.plain().startswith(f"> {HIGH}\nGate 1 · Policy procurement\nStatus:")
    assert command(svc, "classify", MEDIUM).plain().count("\n") > 5  # /classify asks for the whole analysis
    no_gate = direct(svc, CHATTER)  # a direct chat follows its own settings: full until changed
    assert "Try a headline" in no_gate.plain()
    command(svc, "settings", "format compact", chat="dm-1", is_direct=True, user="user-1")
    assert direct(svc, CHATTER).plain().splitlines()[0] == "No gate."
    assert len(direct(svc, CHATTER).plain().splitlines()) == 2


# --------------------------------------------------------------------------- language


def test_the_language_setting_rules_every_reply(svc: Service) -> None:
    assert command(svc, "gates", lang_hint="en").lang == "en"
    command(svc, "settings", "lang zh")
    reply = group(svc, HIGH)
    assert reply.lang == "zh" and reply.plain().startswith("第一道门·政策采购\n状态：")
    assert command(svc, "gates", lang_hint="en").plain().startswith("国产算力兑现的四道门")
    assert command(svc, "help", lang_hint="en").lang == "zh"
    assert command(svc, "gate", "ecosystem", lang_hint="en").lang == "zh"
    assert drive.press(svc, "test", GROUP, "user-2", reply.message_id, "right").notice == "谢谢，已记下你的反馈。"
    command(svc, "settings", "lang en")
    assert group(svc, "昇腾CANN全面开源").plain().startswith("Gate 3 · Software ecosystem maturity")
    command(svc, "settings", "lang auto")
    assert group(svc, "昇腾CANN全面开源").lang == "zh" and command(svc, "gates", lang_hint="en").lang == "en"


def test_without_a_locale_commands_follow_the_chats_language(svc: Service) -> None:
    for text in ("昇腾CANN全面开源", "字节跳动采购昇腾950PR芯片"):
        group(svc, text)
    assert command(svc, "gates", lang_hint=None).lang == "zh"  # Slack sends no locale
    assert command(svc, "help", lang_hint=None).lang == "zh"
    assert command(svc, "gates", lang_hint=None, chat="quiet-room").lang == "en"


# --------------------------------------------------------------------------- who may change settings


def test_settings_permissions(svc: Service) -> None:
    view = command(svc, "settings", user="someone")  # anyone may look
    assert view.ephemeral and "mode: auto — answer gate headlines unprompted" in view.plain()
    refused = command(svc, "settings", "mode off", user="someone")
    assert refused.kind == "error" and refused.ephemeral
    assert refused.plain() == ("Sorry, only the chat's admins can change its settings. Nothing was changed. "
                               "(Your id, for the bot's GATEBOT_ADMINS: test:someone)")
    assert command(svc, "quiet", "2h", user="someone").kind == "error"
    assert svc.chat_settings("test", GROUP).mode == "" and not svc.chat_settings("test", GROUP).quiet_until
    assert group(svc, HIGH) is not None
    assert command(svc, "settings", "mode off", user=ADMIN).kind == "status"  # GATEBOT_ADMINS
    assert svc.chat_settings("test", GROUP).updated_by == ADMIN
    # a direct chat: its user decides; only what means something there
    dm = command(svc, "settings", "format compact", user="someone", chat="dm-9", is_direct=True)
    assert dm.plain() == "format is now compact."  # a command's change: one line, no page
    page = command(svc, "settings", user="someone", chat="dm-9", is_direct=True).plain()
    assert page.splitlines()[1:3] == ["format: compact — one or two lines; Why? or /why shows the evidence",
                                      "lang: auto — each reply in its message's language; commands in yours"]
    assert "mode:" not in page and "quiet:" not in page
    assert command(svc, "settings", "mode off", user="someone", chat="dm-9", is_direct=True).plain() == (
        "mode applies to groups and channels: in a direct chat every message gets an answer.")


def test_platform_admins_through_the_async_path(svc: Service) -> None:
    async def scenario() -> None:
        asked: list[tuple[str, str]] = []

        async def chat_admins(chat_id: str, user_id: str) -> bool:
            asked.append((chat_id, user_id))
            return user_id == "owner"

        refused = await svc.ahandle_command("test", GROUP, "someone", "settings", "floor high")
        assert refused.kind == "error"  # no way to ask the platform: only GATEBOT_ADMINS
        svc.admin_checks["test"] = chat_admins
        assert (await svc.ahandle_command("test", GROUP, "someone", "settings", "floor high")).kind == "error"
        assert (await svc.ahandle_command("test", GROUP, "owner", "settings", "floor high")).kind == "status"
        assert asked == [(GROUP, "someone"), (GROUP, "owner")]
        await svc.ahandle_command("test", GROUP, "someone", "settings")  # looking asks nobody
        assert len(asked) == 2
        pressed = await svc.apress("test", GROUP, "someone", "settings", "mode=off")
        assert not pressed.ok and pressed.reply is None and "only the chat's admins" in pressed.notice
        pressed = await svc.apress("test", GROUP, "owner", "settings", "mode=mention")
        assert pressed.ok and pressed.notice == "mode is now mention."
        assert "✓ mode mention" in [c.label for c in pressed.reply.choices]
        assert not (await svc.apress("test", GROUP, "owner", "settings", "mode=loud")).ok

        async def broken(chat_id: str, user_id: str) -> bool:
            raise RuntimeError("platform down")

        svc.admin_checks["test"] = broken
        assert (await svc.ahandle_command("test", GROUP, "owner", "quiet", "1h")).kind == "error"

    run(scenario())


def test_settings_page_and_bad_input(svc: Service) -> None:
    page = command(svc, "settings", user="someone")
    assert page.plain() == "\n".join([
        "Settings for this chat",
        "mode: auto — answer gate headlines unprompted, stay silent on chatter",
        "floor: medium (default) — unprompted replies need medium confidence or better",
        "format: full — the whole reply: status, risk warning, evidence, feedback buttons",
        "lang: auto — each reply in its message's language; commands in yours",
        "quiet: off",
        "Change one: /settings <key> <value>, e.g. /settings mode mention · /settings floor high · "
        "/settings <key> default · /quiet 2h · /quiet off",
        "Who may change them: the chat's administrators and the bot's admins (GATEBOT_ADMINS).",
    ])
    groups = [c.group for c in page.choices]
    assert groups == ["mode"] * 3 + ["floor"] * 3 + ["format"] * 2 + ["lang"] * 3 + ["quiet"] * 3
    assert all(c.target == "settings" for c in page.choices)
    assert "✓ floor medium" in [c.label for c in page.choices]
    bad = command(svc, "settings", "loudness <b>11</b>")
    assert bad.kind == "error" and bad.blocks[0].user_text
    assert bad.plain() == "There is no setting “loudness”. Settings: mode, floor, format, lang (and /quiet)."
    assert command(svc, "settings", "mode loud").plain() == "“loud” is not a value for mode: use auto, mention, off, default."
    assert command(svc, "settings", "mode").plain().startswith("Usage: /settings")
    zh = command(svc, "settings", "floor 高", lang_hint="zh")
    assert zh.plain() == "「高」不是 floor 的有效值：请用 low、medium、high、default。"


def test_settings_survive_a_restart(rules: RuleSet, classifier: Classifier, tmp_path: Path, clock: Clock) -> None:
    first = make_service(rules, classifier, tmp_path / "r.db", clock)
    command(first, "settings", "mode mention")
    command(first, "settings", "format compact")
    command(first, "settings", "lang zh")
    command(first, "quiet", "1h", chat="g2")
    first.store.close()
    again = make_service(rules, classifier, tmp_path / "r.db", clock)
    try:
        assert group(again, HIGH) is None and group(again, HIGH, chat="g2") is None
        reply = group(again, HIGH, addressed=True)
        assert reply.lang == "zh" and len(reply.plain().splitlines()) == 2
        clock.now = T0 + timedelta(hours=1)
        assert group(again, HIGH, chat="g2") is not None
    finally:
        again.store.close()


# --------------------------------------------------------------------------- pasted links and the model judge


@pytest.fixture(scope="module")
def site() -> Iterator[FeedSite]:
    s = FeedSite().start()
    yield s
    s.stop()


def page(title: str) -> bytes:
    return f"<!doctype html><html><head><title>{title}</title></head><body><p>story</p></body></html>".encode()


def test_pasted_links_obey_the_floor_and_the_mode(svc: Service, site: FeedSite) -> None:
    svc.link_reader = LinkReader(guard=AddressGuard(allow_private=True), timeout=2.0)
    # A link is judged on its title and description ("story" here): the low headline must stay low so.
    low_title = next(t for t in CANDIDATES["low"] if t.isascii()  # the reply is read in English below
                     and (v := svc.classifier.classify(f"{t}\nstory")).gate and v.confidence == "low")
    low = site.serve("/low", page(low_title), "text/html; charset=utf-8")
    high = site.serve("/high", page(HIGH), "text/html; charset=utf-8")

    async def scenario() -> None:
        async def paste(url: str, **kw: Any) -> Reply | None:
            return await svc.ahandle_message(Message("test", GROUP, "user-1", f"look {url}", **kw))

        assert await paste(low) is None
        reply = await paste(high)
        assert reply is not None and reply.blocks[0].text == HIGH
        asked = await paste(low, addressed=True)
        assert asked is not None and "\nConfidence: low" in asked.plain()
        await svc.ahandle_command("test", GROUP, ADMIN, "settings", "mode mention", "en")
        assert await paste(high) is None
        await svc.ahandle_command("test", GROUP, ADMIN, "settings", "mode auto", "en")
        await svc.ahandle_command("test", GROUP, ADMIN, "settings", "format compact", "en")
        compact = await paste(high)
        assert compact.plain().splitlines()[1:] == ["Gate 1 · Policy procurement · high confidence",
                                                    compact.plain().splitlines()[2]]
        assert compact.plain().splitlines()[0] == f"> {HIGH}"
        assert (await svc.ahandle_command("test", GROUP, "user-1", "classify", low)).kind == "verdict"

    run(scenario())


def test_the_models_confidence_decides_in_groups(rules: RuleSet, classifier: Classifier, svc: Service) -> None:
    def answer(headline: str) -> dict[str, Any]:
        if headline == HIGH:  # the rules are sure; the model is not
            return {"gate": 1, "secondary": None, "confidence": "low", "reason": "Could be a rumour."}
        if headline == LOW:  # and the other way round
            return {"gate": 1, "secondary": None, "confidence": "high", "reason": "A purchase of chips."}
        return keyword_answer(headline)

    with FakeLLM(answer=answer).running_in_thread() as fake:
        svc.judge = Judge(rules, url=fake.base_url, model=MODEL, api_key="sk-test", timeout=2.0, store=svc.store)

        async def scenario() -> None:
            silent = await svc.ahandle_message(Message("test", GROUP, "user-1", HIGH))
            assert silent is None
            stored = svc.store.latest_answered("test", GROUP)
            assert stored.text == HIGH and stored.verdict.confidence == "low" and not stored.verdict.group_reply
            assert stored.judge == "llm" and stored.verdicts["rules"]["confidence"] == "high"
            reply = await svc.ahandle_message(Message("test", GROUP, "user-1", LOW))
            assert reply is not None and reply.plain().endswith(f"Judged by {MODEL}.")
            assert reply.verdict.confidence == "high" and reply.verdict.group_reply
            asked = await svc.ahandle_message(Message("test", GROUP, "user-1", HIGH, addressed=True))
            assert "Confidence: low" in asked.plain()

        run(scenario())


# --------------------------------------------------------------------------- wording


def test_direct_chats_never_say_this_group(svc: Service) -> None:
    direct(svc, HIGH)
    dm = direct(svc, HIGH).plain()
    assert "Your headlines, last 7 days: 1 other signal for this gate" in dm
    assert re.search(r"You sent this before, on \d{4}-\d\d-\d\d\.", dm) and "this chat" not in dm
    zh = direct(svc, "昇腾CANN全面开源").plain()
    assert "你近7日发来的：这道门没有其他信号" in zh and "本群" not in zh
    zh_again = direct(svc, "昇腾CANN全面开源").plain()
    assert "这道门另有 1 条信号" in zh_again and "你在 " in zh_again and "本群" not in zh_again
    for name, args in (("digest", "off"), ("feeds", ""), ("help", ""), ("gates", "")):
        text = command(svc, name, args, user="user-1", chat="dm-1", is_direct=True, lang_hint="zh").plain()
        assert "本群" not in text, (name, text)
    group(svc, HIGH)
    again = group(svc, HIGH, addressed=True).plain()
    assert "This chat, last 7 days: 1 other signal for this gate" in again
    assert "Seen before in this chat on" in again
    assert "This chat, last 7 days: 2 other signals for this gate" in group(svc, HIGH).plain()


def test_chinese_replies_use_full_width_punctuation(svc: Service) -> None:
    text = group(svc, "昇腾CANN全面开源").plain()
    assert "状态：顶层适配已实现，中下游生态还需1-2年。（清单，2026年）" in text
    assert "风险提示：这道门决定了算力「护城河」有多深。" in text
    assert "  - 「CANN」→ CANN（+5）" in text and "语境：「昇腾」" in text
    for block in [text, command(svc, "gate", "1", lang_hint="zh").plain(), command(svc, "gates", lang_hint="zh").plain()]:
        assert not re.search(r"[\u4e00-\u9fff][,:;?()]|[,:;?(][\u4e00-\u9fff]| [（(]", block), block
    assert zh_text('这道门才是"兑现"的终局,别提前庆祝。') == "这道门才是「兑现」的终局，别提前庆祝。"
    assert zh_text("需要1-2年, at 10:30 (UTC)") == "需要1-2年， at 10:30 (UTC)"  # Latin keeps its marks
    assert zh_text("at 10:30 (UTC), ok") == "at 10:30 (UTC), ok"


def test_the_other_sense_note_names_only_what_points_elsewhere(svc: Service) -> None:
    text = direct(svc, "Nvidia wins export license for H20 sales to China").plain()
    assert "It is about something the gates don't track (“export license”); they follow China's own AI compute." in text
    assert "“Nvidia”" not in text
    zh = direct(svc, "美团外卖订单创新高").plain()
    assert "这条讲的是四道门不跟踪的内容（「外卖」）；四道门跟踪的是国产算力。" in zh


def test_labels_are_complete_in_both_languages() -> None:
    def fields(text: str) -> set[str]:
        return {m.split(":")[0] for m in re.findall(r"\{([^{}]*)\}", text)}

    font_bound = {"chart_subtitle"}  # drawn with the bundled font subset, which has no full-width marks
    for key, texts in LABELS.items():
        assert set(texts) == {"en", "zh"}, key
        assert fields(texts["zh"]) <= fields(texts["en"]), key  # Chinese may leave one out ("Gate {n}")
        assert "key" not in fields(texts["en"]), key  # would clash with label()'s own argument
        if key not in font_bound:
            zh = re.sub(r"\{[^{}]*\}|https?://\S+|\d:\d\d", "", texts["zh"])
            assert not re.search(r"[\u4e00-\u9fff][,:;?()]|[,:;?(][\u4e00-\u9fff]", zh), (key, texts["zh"])
            assert "“" not in zh and "本群" not in zh or key in ("seen_before", "momentum"), key
    for lang in ("en", "zh"):
        assert [line.split(" ")[0] for line in help_lines(lang) if line.split(" ")[0] in
                ("/settings", "/quiet", "/why")] == ["/settings", "/quiet", "/why"]


def test_the_feed_floor_follows_the_chats_floor(svc: Service) -> None:
    fs, floor = svc.store, svc.default_floor
    assert fs.feed_settings("test", GROUP, floor).floor == "medium"
    command(svc, "settings", "floor high")
    assert fs.feed_settings("test", GROUP, floor).floor == "high"
    fs.set_feed_settings("test", GROUP, floor, mode="post")  # changing the mode does not pin the floor
    command(svc, "settings", "floor low")
    assert fs.feed_settings("test", GROUP, floor).floor == "low"
    fs.set_feed_settings("test", GROUP, floor, floor="medium")  # /feeds floor medium: the feed's own
    command(svc, "settings", "floor high")
    assert fs.feed_settings("test", GROUP, floor).floor == "medium"
    assert "medium confidence or better" in command(svc, "feeds", "floor medium").plain()
    assert "high confidence or better" in command(svc, "feeds", "floor default").plain()


@pytest.mark.slow  # the whole gatebot command
def test_the_readmes_compact_example_is_the_real_output(tmp_path: Path) -> None:
    import os

    from cli_run import gatebot_here

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\$ printf '(/settings format compact[^']*)' \| gatebot chat\n(.*?)```", readme, re.S)
    assert block, "README shows a compact reply from `gatebot chat`"
    stdin = block.group(1).encode().decode("unicode_escape").encode("utf-8")
    env = {**os.environ, "GATEBOT_DB": str(tmp_path / "readme.db")}
    out = gatebot_here("chat", stdin=stdin, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == block.group(2).strip(), "update README.md's compact example"


def test_feed_posts_wait_in_the_digest_while_a_chat_is_quiet_or_off(svc: Service, site: FeedSite, clock: Clock) -> None:
    from fakes.feed_site import Item, rss20
    from gatebot.feeds import FeedReader
    from gatebot.poller import FeedPoller

    svc.feeds = FeedPoller(svc, FeedReader(guard=AddressGuard(allow_private=True), timeout=2.0), clock=clock)
    stories = ["ByteDance orders $5.6B of Ascend 950PR chips", "Alibaba orders 10,000 Ascend 910C chips",
               "China Mobile orders 8,000 Ascend servers"]

    def publish(n: int) -> str:
        return site.serve("/quiet-feed.xml", rss20("Wire", [Item(t, f"https://news.example/q/{i}", f"q-{i}")
                                                            for i, t in enumerate(stories[:n])]))

    def refresh() -> str:
        return run(svc.ahandle_command("test", GROUP, ADMIN, "feeds", "refresh")).plain()

    url = publish(0)
    assert "Following" in run(svc.ahandle_command("test", GROUP, ADMIN, "follow", f"{url} post")).plain()
    command(svc, "quiet", "1h")
    publish(1)
    assert "new entries: 1 · posted: 0 · for the digest: 1" in refresh()
    clock.now = T0 + timedelta(hours=1)  # the quiet is over
    publish(2)
    assert "new entries: 1 · posted: 1 · for the digest: 0" in refresh()
    command(svc, "settings", "mode off")
    publish(3)
    assert "new entries: 1 · posted: 0 · for the digest: 1" in refresh()
