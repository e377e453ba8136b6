"""The platform-neutral reply: what to say, in which language, as a list of blocks.

The service builds a Reply; each adapter turns its blocks into its own markup (plain text for the
terminal, HTML for Telegram, Block Kit for Slack) and escapes user text for that platform. All
wording lives here and in rules/, so adapters hold no domain text.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, model_validator

from .models import Lang, Verdict

BlockKind = Literal["heading", "field", "list", "quote", "text", "note"]


class Block(BaseModel):
    kind: BlockKind
    text: str = ""  # heading/quote/text/note content; field value
    label: str = ""  # field label
    items: list[str] = []  # list items
    user_text: bool = False  # text comes from a user: escape it, never interpret it


class Choice(BaseModel):
    """A button: a vote on the reply's verdict ("right", "0".."4"), "why" (expand a compact reply),
    or, with `target` "settings", a chat setting ("mode=off")."""

    value: str
    label: str
    target: str = ""  # what the button acts on; "" = the reply's stored message
    group: str = ""  # buttons of one group share a row where the platform lays out rows


class Reply(BaseModel):
    # "unknown": an unknown command; in a group it may be meant for another bot, so adapters may stay silent.
    kind: Literal["verdict", "no_gate", "board", "gate", "help", "error", "unknown", "vote", "status", "chart"]
    lang: Lang
    blocks: list[Block]
    verdict: Verdict | None = None
    message_id: int | None = None  # store id of the classified message, for feedback
    choices: list[Choice] = []  # feedback buttons to show under the reply
    ephemeral: bool = False  # only the asker needs to see it (Slack slash commands)
    image: bytes | None = None  # a PNG to post with the text (charts); the text is its caption/fallback
    image_name: str = ""

    @model_validator(mode="after")
    def _asker_only(self) -> Reply:
        # Usage errors, unknown commands and help concern the asker, not the whole channel.
        if self.kind in ("error", "unknown", "help"):
            self.ephemeral = True
        return self

    def plain(self) -> str:
        """Plain-text rendering: the terminal's, and the notification fallback elsewhere."""
        return render_plain(self.blocks, self.lang)


def colon(lang: str) -> str:
    """What follows a field's label: a full-width colon in Chinese, ": " in English."""
    return "：" if lang == "zh" else ": "


def render_plain(blocks: list[Block], lang: str = "en") -> str:
    sep = colon(lang)
    lines: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            lines.append(block.text)
        elif block.kind == "field":
            lines.append(f"{block.label}{sep}{block.text}")
        elif block.kind == "list":
            if block.label:
                lines.append(f"{block.label}{sep.rstrip()}")
            lines.extend(f"  - {item}" for item in block.items)
        elif block.kind == "quote":
            lines.append(f"> {block.text}")
        else:
            lines.append(block.text)
    return "\n".join(lines)


# UI wording, English and Chinese. Gate texts themselves come from rules/gates.yaml.
LABELS: dict[str, dict[str, str]] = {
    "gate": {"en": "Gate {n} · {name}", "zh": "{name}"},
    "status": {"en": "Status", "zh": "状态"},
    "since": {"en": "since {date}", "zh": "自 {date} 起"},
    "since_checklist": {"en": "checklist, 2026", "zh": "清单，2026年"},
    "previous": {"en": "Previous", "zh": "此前"},
    "risk": {"en": "Risk warning", "zh": "风险提示"},
    "why": {"en": "Why", "zh": "依据"},
    "evidence_item": {"en": "“{match}” → {cue} (+{weight})", "zh": "「{match}」→ {cue}（+{weight}）"},
    # Words the learned model leaned on beyond the rules' cues (weight: its push toward the gate).
    "evidence_learned": {"en": "“{match}” (learned from the corpus, +{weight})", "zh": "「{match}」（语料习得，+{weight}）"},
    "context_item": {"en": "Context: {items}", "zh": "语境：{items}"},
    "quoted": {"en": "“{text}”", "zh": "「{text}」"},
    "list_sep": {"en": ", ", "zh": "、"},
    "status_since": {"en": "{status} ({since})", "zh": "{status}（{since}）"},
    "also": {"en": "Also touches", "zh": "也涉及"},
    "confidence": {"en": "Confidence", "zh": "置信度"},
    "reads_as": {"en": "Reads as", "zh": "解读"},  # reading · metric · figure (names in rules/readings.yaml)
    "conf_high": {"en": "high", "zh": "高"},
    "conf_medium": {"en": "medium", "zh": "中"},
    "conf_low": {"en": "low", "zh": "低"},
    "seen_before": {"en": "Seen before in this chat on {date}.", "zh": "本群已于 {date} 出现过这条。"},
    "seen_before_direct": {"en": "You sent this before, on {date}.", "zh": "你在 {date} 发过这条。"},
    "read": {"en": "Read", "zh": "原文"},
    "cut": {
        "en": "(Only the first {n:,} characters were read.)",
        "zh": "（只读取了前 {n:,} 个字符。）",
    },
    "no_gate": {"en": "No gate.", "zh": "未触及任何一道门。"},
    "no_gate_empty": {
        "en": "Nothing to classify: send a headline or a sentence of news.",
        "zh": "没有可判断的内容：请发送一条新闻标题或一句新闻。",
    },
    "no_gate_no_compute": {
        "en": "This doesn't read as news about AI compute (no chips, compute, clusters or AI-model context found).",
        "zh": "这条看起来不是关于AI算力的新闻（没有发现芯片、算力、集群或大模型等语境）。",
    },
    "no_gate_off_domain": {
        "en": "It is about something the gates don't track ({items}); they follow China's own AI compute.",
        "zh": "这条讲的是四道门不跟踪的内容（{items}）；四道门跟踪的是国产算力。",
    },
    "no_gate_not_china": {
        "en": "This is about AI compute, but not China's domestic compute, which is what the gates track.",
        "zh": "这条与AI算力有关，但不是国产算力，而四道门跟踪的是国产算力。",
    },
    "no_gate_no_cue": {
        "en": "It is about AI compute, but says nothing about procurement, deployment, software or replication.",
        "zh": "这条与AI算力有关，但没有涉及采购、部署、软件生态或规模复制。",
    },
    "no_gate_weak": {
        "en": "The signal is too weak to name a gate (closest: gate {n}, {items}).",
        "zh": "信号太弱，无法判断是哪道门（最接近：第{n}道门，{items}）。",
    },
    "no_gate_hint": {
        "en": "Try a headline such as “ByteDance orders $5.6B of Ascend 950PR chips”, or /gates for the board.",
        "zh": "可以试试这样的标题：「昇腾CANN全面开源」，或发送 /gates 查看四道门。",
    },
    "board": {"en": "The four gates of domestic AI compute", "zh": "国产算力兑现的四道门"},
    "board_line": {"en": "{n} · {name}: {status}", "zh": "{name}：{status}"},
    "source": {"en": "Source: {title} — {author}", "zh": "来源：{title} — {author}"},
    "definition": {"en": "What it means", "zh": "含义"},
    "metrics": {"en": "Verification metrics", "zh": "验证指标"},
    "unknown_gate": {
        "en": "Unknown gate “{name}”. Use 1-4 or a name: procurement, deployment, ecosystem, replication.",
        "zh": "没有「{name}」这道门。请用1-4或名称：采购、部署、生态、复制。",
    },
    "gate_usage": {"en": "Usage: /gate <1-4 or name>, e.g. /gate 3", "zh": "用法：/gate <1-4或名称>，例如 /gate 3"},
    "classify_usage": {
        "en": "Usage: /classify <headline>, e.g. /classify ByteDance orders Ascend 950PR chips",
        "zh": "用法：/classify <标题>，例如 /classify 昇腾CANN全面开源",
    },
    "unknown_command": {"en": "Unknown command /{name}. Try /help.", "zh": "未知命令 /{name}。试试 /help。"},
    "help_title": {"en": "gatebot: which gate is this?", "zh": "gatebot：这是哪道门？"},
    "help_body": {
        "en": "Paste a headline about China's AI compute and I'll say which of the four gates it touches "
              "(procurement, deployment, software ecosystem, scaled replication), the gate's status, "
              "its risk warning, and why.",
        "zh": "贴一条关于国产AI算力的新闻标题，我会告诉你它触及四道门中的哪一道（政策采购、真实部署、"
              "软件生态、规模复制），这道门的现状、风险提示，以及判断依据。",
    },
    "help_commands": {"en": "Commands", "zh": "命令"},
    "vote_right": {"en": "Right", "zh": "判断正确"},
    "vote_gate": {"en": "Gate {n}", "zh": "第{n}道门"},
    "vote_none": {"en": "None", "zh": "都不是"},
    "tally": {"en": "Feedback", "zh": "反馈"},
    "vote_thanks": {"en": "Thanks, your vote is counted.", "zh": "谢谢，已记下你的反馈。"},
    "vote_stale": {
        "en": "That verdict can't be found any more; nothing was recorded.",
        "zh": "找不到这条判断了，没有记录反馈。",
    },
    "vote_bad": {"en": "That button is not valid; nothing was recorded.", "zh": "按钮无效，没有记录反馈。"},
    # a language model as the judge (bot/judge.py)
    "llm_reason": {"en": "Reason ({model})", "zh": "理由（{model}）"},
    "no_rule_evidence": {"en": "The rules found no cue for this gate.", "zh": "规则没有找到这道门的线索。"},
    "rules_said": {"en": "The rules said", "zh": "规则判断"},
    "judged_by_model": {"en": "Judged by {model}.", "zh": "由 {model} 判断。"},
    "judged_by_rules": {"en": "Judged by the rules.", "zh": "由规则判断。"},
    "judged_by_rules_fallback": {
        "en": "Judged by the rules (the model did not answer).",
        "zh": "由规则判断（模型未能作答）。",
    },
    # pasted links (bot/links.py)
    "link_unreadable": {"en": "Could not read {url}: {why}", "zh": "无法读取 {url}：{why}"},
    "link_err_refused": {
        "en": "it points to a private or internal address, which gatebot does not fetch.",
        "zh": "它指向内网或私有地址，gatebot 不会访问。",
    },
    "link_err_scheme": {"en": "only http and https links are read.", "zh": "只读取 http 和 https 链接。"},
    "link_err_port": {"en": "it uses a port that is not a web port (80, 443, 8080, 8443).",
                      "zh": "它使用的不是网页端口（80、443、8080、8443）。"},
    "link_err_bad_url": {"en": "it is not a well-formed web address.", "zh": "它不是格式正确的网址。"},
    "link_err_redirects": {"en": "it redirects too many times (more than 5).", "zh": "跳转次数过多（超过5次）。"},
    "link_err_not_html": {"en": "it is not a web page (not HTML).", "zh": "它不是网页（不是HTML）。"},
    "link_err_timeout": {"en": "the site took too long to answer.", "zh": "网站响应超时。"},
    "link_err_status": {"en": "the site answered with an error.", "zh": "网站返回了错误。"},
    "link_err_network": {"en": "the site could not be reached.", "zh": "无法连接到该网站。"},
    "link_err_no_headline": {"en": "the page has no title.", "zh": "网页没有标题。"},
    "link_err_failed": {"en": "reading it failed.", "zh": "读取失败。"},
    "link_more": {"en": "(Only the first {n} links were read.)", "zh": "（只读取了前 {n} 个链接。）"},
    # digests and the living board
    "digest_title": {"en": "Daily digest · {start} → {end}", "zh": "每日简报 · {start} → {end}"},
    "signals": {"en": "Signals per gate", "zh": "各道门的信号"},
    "signal_line": {
        "en": "{gate}: {n} ({delta} vs 7-day average {avg}/day)",
        "zh": "{gate}：{n} 条（较近7日日均 {avg} 条 {delta}）",
    },
    "signal_line_new": {"en": "{gate}: {n} (no signals in the 7 days before)",
                        "zh": "{gate}：{n} 条（此前7日没有信号）"},
    "top_items": {"en": "Top items · {gate}", "zh": "要闻 · {gate}"},
    "times": {"en": " (×{n})", "zh": "（×{n}）"},
    "status_changes": {"en": "Status changes", "zh": "状态变化"},
    "status_change_item": {"en": "{gate}: {status}", "zh": "{gate}：{status}"},
    "reason": {"en": " — reason: {reason}", "zh": " — 理由：{reason}"},
    "corrections": {"en": "Feedback corrections", "zh": "反馈纠正"},
    "correction_item": {
        "en": "“{text}”: the bot said {said}, readers said {choice} ({n})",
        "zh": "「{text}」：机器人判断为{said}，读者认为是{choice}（{n}）",
    },
    "gate_short": {"en": "gate {n}", "zh": "第{n}道门"},
    "no_gate_short": {"en": "no gate", "zh": "都不是"},
    "board_now": {"en": "The board now", "zh": "当前四道门"},
    "quiet": {"en": "No new signals since {start}.", "zh": "自 {start} 以来没有新的信号。"},
    "momentum_board": {"en": " · 7 days here: {n}", "zh": " · 近7日：{n} 条"},
    "momentum": {"en": "This chat, last 7 days", "zh": "本群近7日"},
    "momentum_direct": {"en": "Your headlines, last 7 days", "zh": "你近7日发来的"},
    # the count leaves out the message being answered
    "momentum_value_0": {"en": "no other signal for this gate", "zh": "这道门没有其他信号"},
    "momentum_value_1": {"en": "1 other signal for this gate", "zh": "这道门另有 1 条信号"},
    "momentum_value": {"en": "{n} other signals for this gate", "zh": "这道门另有 {n} 条信号"},
    # /digest
    "digest_usage": {
        "en": "Usage: /digest · /digest on HH:MM [time zone] · /digest off · /digest status · "
              "/digest lang en|zh|auto. Example: /digest on 09:00 Asia/Shanghai",
        "zh": "用法：/digest · /digest on HH:MM [时区] · /digest off · /digest status · "
              "/digest lang en|zh|auto。例如：/digest on 09:00 Asia/Shanghai",
    },
    "bad_time": {
        "en": "“{value}” is not a time. Use 24-hour HH:MM, e.g. /digest on 09:00 Asia/Shanghai",
        "zh": "「{value}」不是有效时间。请用24小时制 HH:MM，例如：/digest on 09:00 Asia/Shanghai",
    },
    "bad_zone": {
        "en": "Unknown time zone “{value}”. Use an IANA name, e.g. /digest on 09:00 Europe/Berlin",
        "zh": "未知时区「{value}」。请用 IANA 时区名，例如：/digest on 09:00 Asia/Shanghai",
    },
    "bad_lang": {"en": "Use /digest lang en, zh or auto.", "zh": "请用 /digest lang en、zh 或 auto。"},
    "digest_on": {
        "en": "Daily digest on: every day at {time} ({tz}). Next: {next}.",
        "zh": "已开启每日简报：每天 {time}（{tz}）。下一次：{next}。",
    },
    "digest_off": {"en": "Daily digest off for this chat.", "zh": "每日简报已关闭。"},
    "digest_status_on": {
        "en": "Daily digest: on, every day at {time} ({tz}). Next: {next}.",
        "zh": "每日简报：已开启，每天 {time}（{tz}）。下一次：{next}。",
    },
    "digest_status_off": {
        "en": "Daily digest: off. Turn it on with e.g. /digest on 09:00 Asia/Shanghai",
        "zh": "每日简报：未开启。开启方法例如：/digest on 09:00 Asia/Shanghai",
    },
    "digest_last": {"en": "Last digest: {date} ({status}).", "zh": "上一次简报：{date}（{status}）。"},
    "digest_lang": {"en": "Digest language: {value}.", "zh": "简报语言：{value}。"},
    "lang_auto": {"en": "auto (the language most headlines here use)", "zh": "自动（这里大多数标题所用的语言）"},
    # /setstatus
    "setstatus_usage": {
        "en": "Usage: /setstatus <gate> <status text> [| reason], e.g. /setstatus 3 CANN fully open-sourced | announced 2026-08",
        "zh": "用法：/setstatus <门> <状态> [| 理由]，例如：/setstatus 3 CANN已全面开源 | 2026年8月宣布",
    },
    "setstatus_denied": {
        "en": "Sorry, only the bot's admins can change a gate's status. Nothing was changed.",
        "zh": "抱歉，只有管理员可以修改门的状态。没有做任何修改。",
    },
    "setstatus_done": {"en": "Status updated", "zh": "状态已更新"},
    "new_status": {"en": "New status", "zh": "新状态"},
    "reason_label": {"en": "Reason", "zh": "理由"},
    # feeds (bot/feeds.py, bot/poller.py)
    "feed_source": {"en": "Source", "zh": "来源"},
    "follow_usage": {
        "en": "Usage: /follow <feed or page URL> [post|digest], e.g. /follow https://example.com/feed.xml",
        "zh": "用法：/follow <订阅源或网页链接> [post|digest]，例如 /follow https://example.com/feed.xml",
    },
    "follow_bad_url": {"en": "“{url}” is not an http(s) link.", "zh": "「{url}」不是 http(s) 链接。"},
    "follow_already": {"en": "This chat already follows {url}.", "zh": "这里已经订阅了 {url}。"},
    "follow_limit": {
        "en": "This chat follows {n} feeds, the most it can. /unfollow one first.",
        "zh": "这里已订阅 {n} 个源，已达上限。请先 /unfollow 一个。",
    },
    "follow_failed": {"en": "Could not follow {url}: {why}", "zh": "无法订阅 {url}：{why}"},
    "follow_done": {
        "en": "Following “{title}” ({url}). Entries already there: {n}, recorded, not posted.",
        "zh": "已订阅「{title}」（{url}）。已有条目 {n} 条：已记录，不会发出。",
    },
    "feed_new_entries": {"en": "New entries: {mode}", "zh": "新条目：{mode}"},
    "feed_mode_post": {
        "en": "posted here when their verdict is {floor} confidence or better, at most {n} an hour; "
              "the rest go to the daily digest.",
        "zh": "判断置信度达到{floor}及以上的发到这里，每小时最多 {n} 条；其余进入每日简报。",
    },
    "feed_mode_digest": {
        "en": "listed in the daily digest's top items (/digest on 09:00 to get one).",
        "zh": "列入每日简报的要闻（用 /digest on 09:00 开启简报）。",
    },
    "feed_mode_word_post": {"en": "posts", "zh": "即时发送"},
    "feed_mode_word_digest": {"en": "digest only", "zh": "仅简报"},
    "unfollow_usage": {"en": "Usage: /unfollow <URL or number from /feeds>", "zh": "用法：/unfollow <链接或 /feeds 中的编号>"},
    "unfollow_unknown": {
        "en": "This chat follows no feed “{which}”. /feeds lists them with their numbers.",
        "zh": "这里没有订阅「{which}」。/feeds 列出所有订阅及编号。",
    },
    "unfollow_done": {"en": "Unfollowed “{title}”.", "zh": "已取消订阅「{title}」。"},
    "feeds_none": {
        "en": "This chat follows no feeds. Follow one with /follow <URL>.",
        "zh": "这里还没有订阅任何源。用 /follow <链接> 订阅。",
    },
    "feeds_title": {"en": "Feeds followed here ({n}/{max})", "zh": "这里订阅的源（{n}/{max}）"},
    "feeds_new": {"en": "New entries", "zh": "新条目"},
    "feeds_line": {
        "en": "{i}. {title} — {url} · last fetch {last} · entries seen: {n}",
        "zh": "{i}. {title} — {url} · 上次抓取 {last} · 已见 {n} 条",
    },
    "feeds_line_mode": {"en": " · {mode}", "zh": " · {mode}"},
    "feeds_line_error": {
        "en": " · last error: {why} Next try {next}.",
        "zh": " · 上次出错：{why} 下次尝试 {next}。",
    },
    "feeds_hint": {
        "en": "/feeds refresh · /feeds post [per hour] · /feeds digest · /feeds floor low|medium|high · "
              "/feeds <number> post|digest|default · /unfollow <number>",
        "zh": "/feeds refresh · /feeds post [每小时条数] · /feeds digest · /feeds floor low|medium|high · "
              "/feeds <编号> post|digest|default · /unfollow <编号>",
    },
    "feeds_usage": {
        "en": "Usage: /feeds · /feeds refresh · /feeds post [per hour] · /feeds digest · "
              "/feeds floor low|medium|high · /feeds <number> post|digest|default",
        "zh": "用法：/feeds · /feeds refresh · /feeds post [每小时条数] · /feeds digest · "
              "/feeds floor low|medium|high · /feeds <编号> post|digest|default",
    },
    "feeds_bad_rate": {"en": "Use a number of posts per hour from 1 to 60, e.g. /feeds post 6",
                       "zh": "每小时条数请用 1 到 60，例如 /feeds post 6"},
    "feeds_mode_all": {"en": "New entries from this chat's feeds: {mode}", "zh": "订阅源的新条目：{mode}"},
    "feeds_mode_one": {"en": "New entries from “{title}”: {mode}", "zh": "「{title}」的新条目：{mode}"},
    "feeds_unavailable": {
        "en": "Feeds are read by the running bot (gatebot run) and gatebot chat; not here.",
        "zh": "订阅源由运行中的机器人（gatebot run）和 gatebot chat 读取，这里不可用。",
    },
    "feeds_refreshed": {
        "en": "Feeds read: {feeds} · new entries: {new} · posted: {posted} · for the digest: {digest} · "
              "repeats: {repeats} · feeds failing: {errors}",
        "zh": "已读取 {feeds} 个源：新条目 {new} 条，发出 {posted} 条，进入简报 {digest} 条，重复 {repeats} 条，"
              "{errors} 个源出错。",
    },
    "feed_err_refused": {
        "en": "it points to a private or internal address, which gatebot does not fetch.",
        "zh": "它指向内网或私有地址，gatebot 不会访问。",
    },
    "feed_err_scheme": {"en": "only http and https feeds are read.", "zh": "只读取 http 和 https 源。"},
    "feed_err_port": {"en": "it uses a port that is not a web port (80, 443, 8080, 8443).",
                      "zh": "它使用的不是网页端口（80、443、8080、8443）。"},
    "feed_err_bad_url": {"en": "it is not a well-formed web address.", "zh": "它不是格式正确的网址。"},
    "feed_err_redirects": {"en": "it redirects too many times (more than 5).", "zh": "跳转次数过多（超过5次）。"},
    "feed_err_type": {"en": "it is not a feed (not RSS, Atom or a web page).",
                      "zh": "它不是订阅源（不是 RSS、Atom 或网页）。"},
    "feed_err_not_feed": {"en": "it is not a feed (no RSS or Atom found).", "zh": "它不是订阅源（没有 RSS 或 Atom 内容）。"},
    "feed_err_no_feed_link": {"en": "the page links no feed (no <link rel=\"alternate\"> to RSS or Atom).",
                              "zh": "该网页没有链接任何订阅源（没有指向 RSS 或 Atom 的 <link rel=\"alternate\">）。"},
    "feed_err_malformed": {"en": "its XML is broken and no entry could be read.", "zh": "其 XML 已损坏，读不出任何条目。"},
    "feed_err_timeout": {"en": "the site took too long to answer.", "zh": "网站响应超时。"},
    "feed_err_status": {"en": "the site answered with an error (HTTP {status}).", "zh": "网站返回了错误（HTTP {status}）。"},
    "feed_err_gone": {"en": "the feed is gone (HTTP {status}); /unfollow it if it does not come back.",
                      "zh": "该源已不存在（HTTP {status}）；如不再恢复，请 /unfollow。"},
    "feed_err_network": {"en": "the site could not be reached.", "zh": "无法连接到该网站。"},
    "feed_err_failed": {"en": "reading it failed.", "zh": "读取失败。"},
    "feed_note_big": {"en": "larger than 2 MB: only the first 2 MB were read", "zh": "超过 2 MB：只读取了前 2 MB"},
    "feed_note_trimmed": {"en": "more than {n} entries: only the first {n} are read",
                          "zh": "超过 {n} 条：只读取前 {n} 条"},
    "feed_note_malformed": {"en": "malformed XML, entries read: {n}", "zh": "XML 格式有误：读出了 {n} 条"},
    "feed_note_duplicates": {"en": "entries repeating an earlier id with other content (the first kept): {n}",
                             "zh": "{n} 条与其他条目的 id 相同但内容不同：保留第一条"},
    "feed_note_markup": {"en": "titles with HTML markup, shown as plain text: {n}",
                         "zh": "{n} 个标题含 HTML 标记：按纯文本显示"},
    # charts (bot/chart.py); the Chinese wording of chart_* must be in the bundled font (scripts/gen_chart_font.py)
    "chart_title": {"en": "Signals per gate per day · last {days} days", "zh": "各道门每日信号 · 近{days}天"},
    "chart_subtitle": {
        "en": "{start} to {end} ({tz}) · pasted: {pasted} · from feeds: {fed}",
        "zh": "{start} 至 {end}({tz})· 粘贴:{pasted} 条 · 订阅源:{fed} 条",
    },
    "chart_conf_high": {"en": "high confidence", "zh": "高置信度"},
    "chart_conf_medium": {"en": "medium confidence", "zh": "中置信度"},
    "chart_conf_low": {"en": "low confidence", "zh": "低置信度"},
    "chart_status_change": {"en": "status changed", "zh": "状态变更"},
    "chart_signals": {"en": "signals", "zh": "信号"},
    "trend_line": {"en": "{gate}: {n}", "zh": "{gate}：{n} 条"},
    "trend_changes": {"en": "{n} status changes marked with a dashed line.", "zh": "虚线标出了 {n} 次状态变更。"},
    "trend_changes_1": {"en": "1 status change marked with a dashed line.", "zh": "虚线标出了 1 次状态变更。"},
    "trend_subtitle": {
        "en": "{start} to {end} ({tz}) · pasted: {pasted} · from feeds: {fed}",
        "zh": "{start} 至 {end}（{tz}）· 粘贴：{pasted} 条 · 订阅源：{fed} 条",
    },
    "trend_usage": {"en": "Usage: /trend [7d|30d]", "zh": "用法：/trend [7d|30d]"},
    # /digest weekly (bot/weekly.py)
    "weekly_usage": {
        "en": "Usage: /digest weekly <day> HH:MM [time zone] · /digest weekly off. Example: /digest weekly mon 09:00 Asia/Shanghai",
        "zh": "用法：/digest weekly <星期> HH:MM [时区] · /digest weekly off。例如：/digest weekly mon 09:00 Asia/Shanghai",
    },
    "weekly_bad_day": {
        "en": "“{value}” is not a day of the week. Use mon, tue, wed, thu, fri, sat or sun.",
        "zh": "「{value}」不是星期几。请用 mon、tue、wed、thu、fri、sat 或 sun（或 周一 至 周日）。",
    },
    "weekly_on": {
        "en": "Weekly chart on: every {day} at {time} ({tz}). Next: {next}.",
        "zh": "已开启每周图表：每{day} {time}（{tz}）。下一次：{next}。",
    },
    "weekly_off": {"en": "Weekly chart off for this chat.", "zh": "每周图表已关闭。"},
    "weekly_status_on": {"en": "Weekly chart: on, every {day} at {time} ({tz}).", "zh": "每周图表：已开启，每{day} {time}（{tz}）。"},
    "weekly_status_off": {"en": "Weekly chart: off.", "zh": "每周图表：未开启。"},
    "day_0": {"en": "Monday", "zh": "周一"},
    "day_1": {"en": "Tuesday", "zh": "周二"},
    "day_2": {"en": "Wednesday", "zh": "周三"},
    "day_3": {"en": "Thursday", "zh": "周四"},
    "day_4": {"en": "Friday", "zh": "周五"},
    "day_5": {"en": "Saturday", "zh": "周六"},
    "day_6": {"en": "Sunday", "zh": "周日"},
    # group manners and per-chat settings (bot/etiquette.py)
    "compact_head": {"en": "{gate} · {conf} confidence", "zh": "{gate}·置信度{conf}"},
    "compact_body": {"en": "{status} — Risk: {risk}", "zh": "{status}——风险：{risk}"},
    "why_button": {"en": "Why?", "zh": "为什么？"},
    "why_nothing": {"en": "Nothing to explain yet: no verdict in this chat.", "zh": "这里还没有可以解释的判断。"},
    "settings_title": {"en": "Settings for this chat", "zh": "这里的设置"},
    "settings_key_mode": {"en": "mode", "zh": "模式（mode）"},
    "settings_key_floor": {"en": "floor", "zh": "门槛（floor）"},
    "settings_key_format": {"en": "format", "zh": "格式（format）"},
    "settings_key_lang": {"en": "lang", "zh": "语言（lang）"},
    "settings_key_quiet": {"en": "quiet", "zh": "静音（quiet）"},
    "settings_mode_auto": {"en": "auto — answer gate headlines unprompted, stay silent on chatter",
                           "zh": "auto——主动回复触及某道门的标题，闲聊不回复"},
    "settings_mode_mention": {"en": "mention — answer only when mentioned, replied to, or commanded",
                              "zh": "mention——只在被提及、被回复或收到命令时回复"},
    "settings_mode_off": {"en": "off — commands only", "zh": "off——只回应命令"},
    "settings_floor_value": {"en": "{value}{mark} — unprompted replies need {conf} confidence or better",
                             "zh": "{value}{mark}——主动回复需要「{conf}」及以上的置信度"},
    "settings_default": {"en": " (default)", "zh": "（默认）"},
    "settings_format_full": {"en": "full — the whole reply: status, risk warning, evidence, feedback buttons",
                             "zh": "full——完整回复：现状、风险提示、依据、反馈按钮"},
    "settings_format_compact": {"en": "compact — one or two lines; Why? or /why shows the evidence",
                                "zh": "compact——一两行；点「为什么？」或发送 /why 查看依据"},
    "settings_lang_auto": {"en": "auto — each reply in its message's language; commands in yours",
                           "zh": "auto——跟随每条消息的语言；命令按你的语言回复"},
    "settings_lang_en": {"en": "en — every reply in English", "zh": "en——所有回复用英文"},
    "settings_lang_zh": {"en": "zh — every reply in Chinese", "zh": "zh——所有回复用中文"},
    "settings_hint": {
        "en": "Change one: /settings <key> <value>, e.g. /settings mode mention · /settings floor high · "
              "/settings <key> default · /quiet 2h · /quiet off",
        "zh": "修改：/settings <项> <值>，例如 /settings mode mention · /settings floor high · "
              "/settings <项> default 恢复默认 · /quiet 2h · /quiet off",
    },
    "settings_hint_direct": {
        "en": "Change one: /settings format compact · /settings lang zh · /settings <key> default",
        "zh": "修改：/settings format compact · /settings lang zh · /settings <项> default 恢复默认",
    },
    "settings_direct_note": {
        "en": "In a direct chat every message gets an answer: mode, floor and quiet apply to groups and channels.",
        "zh": "私聊中每条消息都会得到回复：mode、floor 和 quiet 只对群组和频道有效。",
    },
    "settings_who": {
        "en": "Who may change them: the chat's administrators and the bot's admins (GATEBOT_ADMINS).",
        "zh": "可以修改的人：群管理员和机器人管理员（GATEBOT_ADMINS）。",
    },
    "settings_who_slack": {
        "en": "Who may change them: workspace admins and the bot's admins (GATEBOT_ADMINS).",
        "zh": "可以修改的人：工作区管理员和机器人管理员（GATEBOT_ADMINS）。",
    },
    "settings_changed": {"en": "{setting} is now {value}.", "zh": "{setting} 已改为 {value}。"},
    "settings_denied": {
        "en": "Sorry, only the chat's admins can change its settings. Nothing was changed. "
              "(Your id, for the bot's GATEBOT_ADMINS: {who})",
        "zh": "抱歉，只有管理员可以修改这里的设置。没有做任何修改。（你的 id，可加入机器人的 GATEBOT_ADMINS：{who}）",
    },
    "settings_unknown_key": {
        "en": "There is no setting “{setting}”. Settings: mode, floor, format, lang (and /quiet).",
        "zh": "没有「{setting}」这项设置。可用的设置：mode、floor、format、lang（以及 /quiet）。",
    },
    "settings_bad_value": {"en": "“{value}” is not a value for {setting}: use {choices}.",
                           "zh": "「{value}」不是 {setting} 的有效值：请用 {choices}。"},
    "settings_usage": {
        "en": "Usage: /settings · /settings <key> <value>, e.g. /settings mode mention",
        "zh": "用法：/settings · /settings <项> <值>，例如 /settings mode mention",
    },
    "settings_group_only": {
        "en": "{setting} applies to groups and channels: in a direct chat every message gets an answer.",
        "zh": "{setting} 只对群组和频道有效：私聊中每条消息都会得到回复。",
    },
    "quiet_none": {"en": "off", "zh": "未静音"},
    "quiet_until": {"en": "until {time}: no unprompted replies (commands and direct questions are still answered)",
                    "zh": "到 {time} 为止：不主动回复（命令和直接提问照常回答）"},
    "quiet_usage": {"en": "Usage: /quiet 2h (also 30m, 1d; at most 7 days) · /quiet off",
                    "zh": "用法：/quiet 2h（也可以 30m、1d；最长 7 天）· /quiet off"},
    "quiet_too_long": {"en": "At most 7 days, e.g. /quiet 1d.", "zh": "最长 7 天，例如 /quiet 1d。"},
    "quiet_on": {
        "en": "Quiet until {until}: no unprompted replies until then; commands and direct questions are still "
              "answered. /quiet off ends it early.",
        "zh": "静音到 {until}：在此之前不主动回复；命令和直接提问照常回答。/quiet off 可提前结束。",
    },
    "quiet_off": {"en": "Quiet is over: unprompted replies are back.", "zh": "静音已结束：恢复主动回复。"},
    "quiet_status": {"en": "Quiet until {until}. /quiet off ends it early.",
                     "zh": "静音到 {until}。/quiet off 可提前结束。"},
    "quiet_status_off": {"en": "Not quiet. /quiet 2h silences unprompted replies for two hours (also 30m, 1d).",
                         "zh": "未静音。/quiet 2h 可暂停主动回复两小时（也可以 30m、1d）。"},
}

HELP_COMMANDS: dict[str, list[str]] = {
    "en": [
        "/gates — the board: the four gates and their status",
        "/gate <1-4|name> — one gate: definition, metrics, status, risk warning",
        "/classify <text> — classify a headline or a link (always answers)",
        "/digest — today's digest for this chat; /digest on 09:00 Asia/Shanghai, /digest off, /digest status",
        "/setstatus <gate> <text> [| reason] — change a gate's status (admins only)",
        "/follow <url> [post|digest] — watch a feed (RSS, Atom, or a page that links one)",
        "/unfollow <url|number> — stop watching a feed",
        "/feeds — the feeds watched here; /feeds refresh, /feeds post, /feeds digest",
        "/trend [7d|30d] — a chart of signals per gate per day; /digest weekly mon 09:00 posts one weekly",
        "/settings — this chat's settings: mode auto|mention|off, floor low|medium|high, format full|compact, "
        "lang auto|en|zh",
        "/quiet 2h — no unprompted replies for a while (30m, 1d; /quiet off ends it)",
        "/why — the evidence behind the latest verdict",
        "/help — this help",
    ],
    "zh": [
        "/gates — 四道门及其现状",
        "/gate <1-4|名称> — 某一道门：含义、验证指标、现状、风险提示",
        "/classify <文本> — 判断一条标题或链接（总会回复）",
        "/digest — 今日摘要；/digest on 09:00 Asia/Shanghai 订阅，/digest off 退订，/digest status 查看",
        "/setstatus <门> <状态> [| 理由] — 修改某道门的状态（仅管理员）",
        "/follow <链接> [post|digest] — 订阅一个源（RSS、Atom，或带订阅链接的网页）",
        "/unfollow <链接|编号> — 取消订阅",
        "/feeds — 这里订阅的源；/feeds refresh 立即读取，/feeds post，/feeds digest",
        "/trend [7d|30d] — 各道门每日信号图；/digest weekly mon 09:00 每周发一次",
        "/settings — 这里的设置：mode auto|mention|off、floor low|medium|high、format full|compact、lang auto|en|zh",
        "/quiet 2h — 暂停主动回复一段时间（30m、1d；/quiet off 结束）",
        "/why — 最近一次判断的依据",
        "/help — 帮助",
    ],
}


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_ZH_MARK = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！", "(": "（", ")": "）"}


def zh_text(text: str) -> str:
    """Chinese wording from the rules, punctuated like the rest of a Chinese reply: ASCII marks next
    to Chinese become full-width ("已打开,且" -> "已打开，且"), "..." around Chinese becomes 「...」,
    and no space is left before or after a full-width bracket. Latin and numbers ("1-2年", "10:30")
    keep theirs."""
    if not _CJK.search(text):
        return text
    text = re.sub(r'"([^"\n]*)"', lambda m: f"「{m.group(1)}」" if _CJK.search(m.group(1)) else m.group(0), text)
    out = []
    for i, ch in enumerate(text):
        if ch in _ZH_MARK:
            prev, nxt = text[i - 1:i], text[i + 1:i + 2]
            if _CJK.match(prev or " ") or _CJK.match(nxt or " "):
                ch = _ZH_MARK[ch]
        out.append(ch)
    text = "".join(out)
    return re.sub(r"\s+（", "（", re.sub(r"）\s+(?=[^\x00-\x7f])", "）", text))


def label(key: str, lang: str, **kwargs: object) -> str:
    text = LABELS[key]["zh" if lang == "zh" else "en"]
    return text.format(**kwargs) if kwargs else text
