"""The platform-neutral reply: what to say, in which language, as a list of blocks.

The service builds a Reply; each adapter turns its blocks into its own markup (plain text for the
terminal, HTML for Telegram, Block Kit for Slack) and escapes user text for that platform. All
wording lives here and in rules/, so adapters hold no domain text.
"""

from __future__ import annotations

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
    """A feedback button: `value` is "right" or "0".."4"."""

    value: str
    label: str


class Reply(BaseModel):
    # "unknown": an unknown command; in a group it may be meant for another bot, so adapters may stay silent.
    kind: Literal["verdict", "no_gate", "board", "gate", "help", "error", "unknown", "vote", "status"]
    lang: Lang
    blocks: list[Block]
    verdict: Verdict | None = None
    message_id: int | None = None  # store id of the classified message, for feedback
    choices: list[Choice] = []  # feedback buttons to show under the reply
    ephemeral: bool = False  # only the asker needs to see it (Slack slash commands)

    @model_validator(mode="after")
    def _asker_only(self) -> Reply:
        # Usage errors, unknown commands and help concern the asker, not the whole channel.
        if self.kind in ("error", "unknown", "help"):
            self.ephemeral = True
        return self

    def plain(self) -> str:
        """Plain-text rendering: the terminal's, and the notification fallback elsewhere."""
        return render_plain(self.blocks)


def render_plain(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if block.kind == "heading":
            lines.append(block.text)
        elif block.kind == "field":
            lines.append(f"{block.label}: {block.text}")
        elif block.kind == "list":
            if block.label:
                lines.append(f"{block.label}:")
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
    "since_checklist": {"en": "checklist, 2026", "zh": "清单,2026年"},
    "previous": {"en": "Previous", "zh": "此前"},
    "risk": {"en": "Risk warning", "zh": "风险提示"},
    "why": {"en": "Why", "zh": "依据"},
    "evidence_item": {"en": "“{match}” → {cue} (+{weight})", "zh": "「{match}」→ {cue}(+{weight})"},
    "context_item": {"en": "Context: {items}", "zh": "语境:{items}"},
    "also": {"en": "Also touches", "zh": "也涉及"},
    "confidence": {"en": "Confidence", "zh": "置信度"},
    "conf_high": {"en": "high", "zh": "高"},
    "conf_medium": {"en": "medium", "zh": "中"},
    "conf_low": {"en": "low", "zh": "低"},
    "seen_before": {"en": "Seen before in this chat on {date}.", "zh": "本群已于 {date} 出现过这条。"},
    "read": {"en": "Read", "zh": "原文"},
    "cut": {
        "en": "(Only the first {n:,} characters were read.)",
        "zh": "(只读取了前 {n:,} 个字符。)",
    },
    "no_gate": {"en": "No gate.", "zh": "未触及任何一道门。"},
    "no_gate_empty": {
        "en": "Nothing to classify: send a headline or a sentence of news.",
        "zh": "没有可判断的内容:请发送一条新闻标题或一句新闻。",
    },
    "no_gate_no_compute": {
        "en": "This doesn't read as news about AI compute (no chips, compute, clusters or AI-model context found).",
        "zh": "这条看起来不是关于AI算力的新闻(没有发现芯片、算力、集群或大模型等语境)。",
    },
    "no_gate_off_domain": {
        "en": "The words that could point to a gate are used in another sense here ({items}).",
        "zh": "可能指向某道门的词在这里是别的意思({items})。",
    },
    "no_gate_not_china": {
        "en": "This is about AI compute, but not China's domestic compute, which is what the gates track.",
        "zh": "这条与AI算力有关,但不是国产算力,而四道门跟踪的是国产算力。",
    },
    "no_gate_no_cue": {
        "en": "It is about AI compute, but says nothing about procurement, deployment, software or replication.",
        "zh": "这条与AI算力有关,但没有涉及采购、部署、软件生态或规模复制。",
    },
    "no_gate_weak": {
        "en": "The signal is too weak to name a gate (closest: gate {n}, {items}).",
        "zh": "信号太弱,无法判断是哪道门(最接近:第{n}道门,{items})。",
    },
    "no_gate_hint": {
        "en": "Try a headline such as “ByteDance orders $5.6B of Ascend 950PR chips”, or /gates for the board.",
        "zh": "可以试试这样的标题:“昇腾CANN全面开源”,或发送 /gates 查看四道门。",
    },
    "board": {"en": "The four gates of domestic AI compute", "zh": "国产算力兑现的四道门"},
    "board_line": {"en": "{n} · {name}: {status}", "zh": "{name}:{status}"},
    "source": {"en": "Source: {title} — {author}", "zh": "来源:{title} — {author}"},
    "definition": {"en": "What it means", "zh": "含义"},
    "metrics": {"en": "Verification metrics", "zh": "验证指标"},
    "unknown_gate": {
        "en": "Unknown gate “{name}”. Use 1-4 or a name: procurement, deployment, ecosystem, replication.",
        "zh": "没有“{name}”这道门。请用1-4或名称:采购、部署、生态、复制。",
    },
    "gate_usage": {"en": "Usage: /gate <1-4 or name>, e.g. /gate 3", "zh": "用法:/gate <1-4或名称>,例如 /gate 3"},
    "classify_usage": {
        "en": "Usage: /classify <headline>, e.g. /classify ByteDance orders Ascend 950PR chips",
        "zh": "用法:/classify <标题>,例如 /classify 昇腾CANN全面开源",
    },
    "unknown_command": {"en": "Unknown command /{name}. Try /help.", "zh": "未知命令 /{name}。试试 /help。"},
    "help_title": {"en": "gatebot: which gate is this?", "zh": "gatebot:这是哪道门?"},
    "help_body": {
        "en": "Paste a headline about China's AI compute and I'll say which of the four gates it touches "
              "(procurement, deployment, software ecosystem, scaled replication), the gate's status, "
              "its risk warning, and why.",
        "zh": "贴一条关于国产AI算力的新闻标题,我会告诉你它触及四道门中的哪一道(政策采购、真实部署、"
              "软件生态、规模复制),这道门的现状、风险提示,以及判断依据。",
    },
    "help_commands": {"en": "Commands", "zh": "命令"},
    "vote_right": {"en": "Right", "zh": "判断正确"},
    "vote_gate": {"en": "Gate {n}", "zh": "第{n}道门"},
    "vote_none": {"en": "None", "zh": "都不是"},
    "tally": {"en": "Feedback", "zh": "反馈"},
    "vote_thanks": {"en": "Thanks, your vote is counted.", "zh": "谢谢,已记下你的反馈。"},
    "vote_stale": {
        "en": "That verdict can't be found any more; nothing was recorded.",
        "zh": "找不到这条判断了,没有记录反馈。",
    },
    "vote_bad": {"en": "That button is not valid; nothing was recorded.", "zh": "按钮无效,没有记录反馈。"},
    # a language model as the judge (bot/judge.py)
    "llm_reason": {"en": "Reason ({model})", "zh": "理由({model})"},
    "no_rule_evidence": {"en": "The rules found no cue for this gate.", "zh": "规则没有找到这道门的线索。"},
    "rules_said": {"en": "The rules said", "zh": "规则判断"},
    "judged_by_model": {"en": "Judged by {model}.", "zh": "由 {model} 判断。"},
    "judged_by_rules": {"en": "Judged by the rules.", "zh": "由规则判断。"},
    "judged_by_rules_fallback": {
        "en": "Judged by the rules (the model did not answer).",
        "zh": "由规则判断(模型未能作答)。",
    },
    # pasted links (bot/links.py)
    "link_unreadable": {"en": "Could not read {url}: {why}", "zh": "无法读取 {url}:{why}"},
    "link_err_refused": {
        "en": "it points to a private or internal address, which gatebot does not fetch.",
        "zh": "它指向内网或私有地址,gatebot 不会访问。",
    },
    "link_err_scheme": {"en": "only http and https links are read.", "zh": "只读取 http 和 https 链接。"},
    "link_err_redirects": {"en": "it redirects too many times (more than 5).", "zh": "跳转次数过多(超过5次)。"},
    "link_err_not_html": {"en": "it is not a web page (not HTML).", "zh": "它不是网页(不是HTML)。"},
    "link_err_timeout": {"en": "the site took too long to answer.", "zh": "网站响应超时。"},
    "link_err_status": {"en": "the site answered with an error.", "zh": "网站返回了错误。"},
    "link_err_network": {"en": "the site could not be reached.", "zh": "无法连接到该网站。"},
    "link_err_no_headline": {"en": "the page has no title.", "zh": "网页没有标题。"},
    "link_err_failed": {"en": "reading it failed.", "zh": "读取失败。"},
    "link_more": {"en": "(Only the first {n} links were read.)", "zh": "(只读取了前 {n} 个链接。)"},
    # digests and the living board
    "digest_title": {"en": "Daily digest · {start} → {end}", "zh": "每日简报 · {start} → {end}"},
    "signals": {"en": "Signals per gate", "zh": "各道门的信号"},
    "signal_line": {
        "en": "{gate}: {n} ({delta} vs 7-day average {avg}/day)",
        "zh": "{gate}:{n} 条(较近7日日均 {avg} 条 {delta})",
    },
    "signal_line_new": {"en": "{gate}: {n} (no signals in the 7 days before)",
                        "zh": "{gate}:{n} 条(此前7日没有信号)"},
    "top_items": {"en": "Top items · {gate}", "zh": "要闻 · {gate}"},
    "times": {"en": " (×{n})", "zh": "(×{n})"},
    "status_changes": {"en": "Status changes", "zh": "状态变化"},
    "status_change_item": {"en": "{gate}: {status}", "zh": "{gate}:{status}"},
    "reason": {"en": " — reason: {reason}", "zh": " — 理由:{reason}"},
    "corrections": {"en": "Feedback corrections", "zh": "反馈纠正"},
    "correction_item": {
        "en": "“{text}”: the bot said {said}, readers said {choice} ({n})",
        "zh": "「{text}」:机器人判断为{said},读者认为是{choice}({n})",
    },
    "gate_short": {"en": "gate {n}", "zh": "第{n}道门"},
    "no_gate_short": {"en": "no gate", "zh": "都不是"},
    "board_now": {"en": "The board now", "zh": "当前四道门"},
    "quiet": {"en": "No new signals since {start}.", "zh": "自 {start} 以来没有新的信号。"},
    "momentum_board": {"en": " · 7 days here: {n}", "zh": " · 本群近7日:{n} 条"},
    "momentum": {"en": "This chat, last 7 days", "zh": "本群近7日"},
    "momentum_value": {"en": "{n} signal(s) for this gate", "zh": "这道门 {n} 条信号"},
    # /digest
    "digest_usage": {
        "en": "Usage: /digest · /digest on HH:MM [time zone] · /digest off · /digest status · "
              "/digest lang en|zh|auto. Example: /digest on 09:00 Asia/Shanghai",
        "zh": "用法:/digest · /digest on HH:MM [时区] · /digest off · /digest status · "
              "/digest lang en|zh|auto。例如:/digest on 09:00 Asia/Shanghai",
    },
    "bad_time": {
        "en": "“{value}” is not a time. Use 24-hour HH:MM, e.g. /digest on 09:00 Asia/Shanghai",
        "zh": "“{value}”不是有效时间。请用24小时制 HH:MM,例如:/digest on 09:00 Asia/Shanghai",
    },
    "bad_zone": {
        "en": "Unknown time zone “{value}”. Use an IANA name, e.g. /digest on 09:00 Europe/Berlin",
        "zh": "未知时区“{value}”。请用 IANA 时区名,例如:/digest on 09:00 Asia/Shanghai",
    },
    "bad_lang": {"en": "Use /digest lang en, zh or auto.", "zh": "请用 /digest lang en、zh 或 auto。"},
    "digest_on": {
        "en": "Daily digest on: every day at {time} ({tz}). Next: {next}.",
        "zh": "已开启每日简报:每天 {time}({tz})。下一次:{next}。",
    },
    "digest_off": {"en": "Daily digest off for this chat.", "zh": "已关闭本群的每日简报。"},
    "digest_status_on": {
        "en": "Daily digest: on, every day at {time} ({tz}). Next: {next}.",
        "zh": "每日简报:已开启,每天 {time}({tz})。下一次:{next}。",
    },
    "digest_status_off": {
        "en": "Daily digest: off. Turn it on with e.g. /digest on 09:00 Asia/Shanghai",
        "zh": "每日简报:未开启。开启方法例如:/digest on 09:00 Asia/Shanghai",
    },
    "digest_last": {"en": "Last digest: {date} ({status}).", "zh": "上一次简报:{date}({status})。"},
    "digest_lang": {"en": "Digest language: {value}.", "zh": "简报语言:{value}。"},
    "lang_auto": {"en": "auto (the language most headlines here use)", "zh": "自动(本群大多数标题所用语言)"},
    # /setstatus
    "setstatus_usage": {
        "en": "Usage: /setstatus <gate> <status text> [| reason], e.g. /setstatus 3 CANN fully open-sourced | announced 2026-08",
        "zh": "用法:/setstatus <门> <状态> [| 理由],例如:/setstatus 3 CANN已全面开源 | 2026年8月宣布",
    },
    "setstatus_denied": {
        "en": "Sorry, only the bot's admins can change a gate's status. Nothing was changed.",
        "zh": "抱歉,只有管理员可以修改门的状态。没有做任何修改。",
    },
    "setstatus_done": {"en": "Status updated", "zh": "状态已更新"},
    "new_status": {"en": "New status", "zh": "新状态"},
    "reason_label": {"en": "Reason", "zh": "理由"},
}

HELP_COMMANDS: dict[str, list[str]] = {
    "en": [
        "/gates — the board: the four gates and their status",
        "/gate <1-4|name> — one gate: definition, metrics, status, risk warning",
        "/classify <text> — classify a headline or a link (always answers)",
        "/digest — today's digest for this chat; /digest on 09:00 Asia/Shanghai, /digest off, /digest status",
        "/setstatus <gate> <text> [| reason] — change a gate's status (admins only)",
        "/help — this help",
    ],
    "zh": [
        "/gates — 四道门及其现状",
        "/gate <1-4|名称> — 某一道门:含义、验证指标、现状、风险提示",
        "/classify <文本> — 判断一条标题或链接(总会回复)",
        "/digest — 本群今日摘要;/digest on 09:00 Asia/Shanghai 订阅,/digest off 退订,/digest status 查看",
        "/setstatus <门> <状态> [| 理由] — 修改某道门的状态(仅管理员)",
        "/help — 帮助",
    ],
}


def label(key: str, lang: str, **kwargs: object) -> str:
    text = LABELS[key]["zh" if lang == "zh" else "en"]
    return text.format(**kwargs) if kwargs else text
