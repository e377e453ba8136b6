"""The schema: each migration runs once, in order, recorded in schema_migrations."""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlite_utils


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.table("messages").create(
        {
            "id": int,
            "platform": str,
            "chat_id": str,
            "user_id": str,
            "text": str,
            "text_len": int,
            "text_key": str,
            "created_at": str,
            "lang": str,
            "gate": int,
            "confidence": str,
            "verdict": str,  # JSON of the Verdict
            "message_ref": str,  # the platform's id of the pasted message
            "reply_ref": str,  # the platform's id of the bot's reply, once sent
        },
        pk="id",
        not_null={"platform", "chat_id", "text", "created_at", "gate"},
    )
    db.table("messages").create_index(["platform", "chat_id", "text_key"])
    db.table("messages").create_index(["platform", "chat_id", "created_at"])
    db.table("gate_status").create(
        {"gate": int, "status_en": str, "status_zh": str, "since": str, "changed_by": str, "reason": str},
        pk="gate",
    )
    db.table("gate_status_history").create(
        {
            "id": int,
            "gate": int,
            "status_en": str,
            "status_zh": str,
            "since": str,
            "changed_by": str,
            "reason": str,
        },
        pk="id",
    )
    db.table("gate_status_history").create_index(["gate", "since"])
    db.table("feedback").create(
        {
            "message_id": int,  # messages.id of the verdict voted on
            "user_id": str,
            "platform": str,
            "chat_id": str,
            "choice": str,  # "right", or "0".."4"
            "created_at": str,
        },
        pk=("message_id", "user_id"),
        foreign_keys=[("message_id", "messages", "id")],
    )
    db.table("subscriptions").create(
        {
            "platform": str,
            "chat_id": str,
            "enabled": int,
            "time": str,  # HH:MM local
            "tz": str,  # IANA zone
            "lang": str,  # override; empty = the chat's usual language
            "created_at": str,
            "updated_at": str,
        },
        pk=("platform", "chat_id"),
    )
    db.table("processed_events").create(
        {"platform": str, "event_id": str, "seen_at": str}, pk=("platform", "event_id")
    )


def _m2_link_cache(db: sqlite_utils.Database) -> None:
    db.table("link_cache").create(
        {"url": str, "fetched_at": str, "ok": int, "title": str, "description": str, "error": str, "verdict": str},
        pk="url",
    )


def _m3_digests(db: sqlite_utils.Database) -> None:
    # One row per chat per local day: claimed (pending) before the send, then sent/failed/gave_up.
    db.table("digests_sent").create(
        {
            "platform": str,
            "chat_id": str,
            "local_date": str,  # YYYY-MM-DD in the subscription's zone
            "status": str,  # pending | sent | failed | gave_up | interrupted
            "attempts": int,
            "next_attempt_at": str,  # when a failed send may be retried
            "window_start": str,
            "window_end": str,
            "claimed_at": str,
            "run_id": str,  # the scheduler run that claimed it
            "sent_at": str,
            "message_ref": str,
            "error": str,
        },
        pk=("platform", "chat_id", "local_date"),
    )
    db.table("digests_sent").create_index(["local_date"])
    db.table("digests_sent").create_index(["platform", "chat_id", "status", "window_end"])
    db.table("feedback").create_index(["platform", "chat_id", "created_at"])
    db.table("subscriptions").create_index(["enabled"])


def _m4_link_cache_expiry(db: sqlite_utils.Database) -> None:
    # Expiry and error detail get columns of their own; rows written before kept them as JSON in `error`.
    table = db.table("link_cache")
    table.add_column("expires_at", str)
    table.add_column("detail", str)
    for row in list(table.rows):
        try:
            meta = json.loads(row["error"] or "{}")
        except ValueError:
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        table.update(row["url"], {"error": meta.get("code", ""), "detail": meta.get("detail", ""),
                                  "expires_at": meta.get("expires", "")})


def _m5_judgements(db: sqlite_utils.Database) -> None:
    # A language model's answers, one per (model, instructions, normalised text): the same headline
    # pasted in ten chats costs one call. On messages, which judge decided and, when a model was
    # asked, both judges' answers (`verdicts` JSON), so disagreements can be reviewed.
    db.table("judgements").create(
        {"key": str, "model": str, "text_key": str, "answer": str, "created_at": str}, pk="key")
    db.table("messages").add_column("judge", str)
    db.table("messages").add_column("verdicts", str)


def _m6_feeds(db: sqlite_utils.Database) -> None:
    # Followed feeds (per chat), the entries seen in them, per-chat feed settings, weekly charts.
    db.table("feeds").create(
        {
            "id": int,
            "platform": str,
            "chat_id": str,
            "url": str,  # as followed (normalised)
            "feed_url": str,  # the feed itself (differs when discovered from a page)
            "title": str,
            "mode": str,  # "" = the chat's setting, "post" or "digest"
            "created_by": str,
            "created_at": str,
            "etag": str,
            "last_modified": str,
            "last_fetch_at": str,
            "last_ok_at": str,
            "error_code": str,  # the last poll's failure, "" after a good one
            "error_detail": str,
            "errors": int,  # consecutive failures (backoff)
            "note": str,  # what the last good poll had to say about the feed (malformed, too long, ...)
            "next_poll_at": str,
            "items_seen": int,
            "primed": int,  # the first fetch (recorded silently) is done
        },
        pk="id",
        not_null={"platform", "chat_id", "feed_url"},
    )
    db.table("feeds").create_index(["platform", "chat_id", "feed_url"], unique=True)
    db.table("feeds").create_index(["next_poll_at"])
    db.table("feed_items").create(
        {
            "feed_id": int,
            "entry_key": str,  # the entry's id, else its link, else its title
            "platform": str,
            "chat_id": str,
            "title_key": str,
            "link": str,
            "seen_at": str,
            "message_id": int,  # messages.id once classified ("" for entries recorded on the first fetch)
            "post": str,  # "" | pending | sent | failed | capped | below | digest
            "posted_at": str,
        },
        pk=("feed_id", "entry_key"),
    )
    db.table("feed_items").create_index(["platform", "chat_id", "title_key"])
    db.table("feed_items").create_index(["platform", "chat_id", "link"])
    db.table("feed_items").create_index(["platform", "chat_id", "posted_at"])
    db.table("feed_chats").create(
        {"platform": str, "chat_id": str, "mode": str, "per_hour": int, "floor": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    db.table("weekly").create(
        {"platform": str, "chat_id": str, "enabled": int, "day": int, "time": str, "tz": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    db.table("weekly_sent").create(
        {"platform": str, "chat_id": str, "local_date": str, "status": str, "run_id": str, "claimed_at": str,
         "sent_at": str, "error": str},
        pk=("platform", "chat_id", "local_date"),
    )
    # Feed entries are stored as messages too (digest, momentum, charts): where they came from.
    db.table("messages").add_column("source", str)
    db.table("messages").add_column("link", str)
    # "Seen before" (min(created_at) by text_key) walked the chat's whole history through the
    # created_at index; with created_at in this one it is a single index probe.
    db.table("messages").create_index(["platform", "chat_id", "text_key", "created_at"])


def _m7_inbox(db: sqlite_utils.Database) -> None:
    # Every update or event, written before the platform is told it arrived; done once answered.
    db.table("inbox").create(
        {
            "platform": str,
            "key": str,  # Telegram: update_id; Slack: "sig:<signature>" (HTTP) or "env:<envelope id>"
            "kind": str,
            "payload": str,  # JSON, enough to handle it again after a restart
            "received_at": str,
            "status": str,  # pending | done | failed | expired
            "finished_at": str,
            "error": str,
        },
        pk=("platform", "key"),
    )
    db.table("inbox").create_index(["status", "received_at"])
    db.table("processed_events").add_column("owner", str)  # the inbox item that claimed the key


def _m8_chat_settings(db: sqlite_utils.Database) -> None:
    # How the bot behaves in each chat (bot/chatsettings.py): only values someone chose, "" = default.
    db.table("chat_settings").create(
        {"platform": str, "chat_id": str, "mode": str, "floor": str, "format": str, "lang": str,
         "quiet_until": str, "updated_by": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    # The digest ranks a headline by how many chats had it: an index over the headlines with a gate
    # (chatter, most messages, never ranks). It is paid for by dropping (platform, chat_id, text_key),
    # which (platform, chat_id, text_key, created_at) already covers: a 1,000,000-message store stays
    # the size it was.
    db.execute("create index idx_messages_gated_text_key on messages (text_key, created_at) where gate > 0")
    db.execute("drop index if exists idx_messages_platform_chat_id_text_key")


def _m9_evidence(db: sqlite_utils.Database) -> None:
    # The evidence ledger (bot/storage/evidence.py): one row per gated verdict, in_* = counted in the
    # chat / platform / every-chat scope (its story was new there).
    db.execute(
        "create table evidence (id integer primary key, message_id integer, platform text not null, "
        "chat_id text not null, at text not null, gate integer not null, reading text not null, "
        "metric text not null, figure text, confidence text not null, weight real not null, "
        "source_kind text not null, source text not null, link text, text text not null, "
        "in_chat integer not null, in_platform integer not null, in_all integer not null)")
    # A chat's items, sources and partial days: a chat has few rows, its index finds them.
    db.execute("create index idx_evidence_chat on evidence (platform, chat_id, gate, at)")
    # Every chat's: covering, so a month of a gate (~20,000 rows at 1,000,000) is read from the index
    # alone: distinct sources (every row), and the counted stories' items and edge-day balances.
    db.execute("create index idx_evidence_gate on evidence (gate, at, reading, source)")
    db.execute("create index idx_evidence_all on evidence (gate, at, weight, reading, metric, source_kind, in_all) "
               "where in_all = 1")
    # Story keys (link or near-duplicate text) seen per scope: a story counts once per scope.
    db.execute("create table evidence_keys (scope text not null, key text not null, evidence_id integer, "
               "primary key (scope, key)) without rowid")
    # Counted stories per scope, day, gate, metric and reading, kept up to date on insert.
    db.execute("create table evidence_daily (scope text not null, day text not null, gate integer not null, "
               "metric text not null, reading text not null, stories integer not null, weight real not null, "
               "primary key (scope, day, gate, metric, reading)) without rowid")


def _m10_proposals(db: sqlite_utils.Database) -> None:
    # Status proposals (bot/proposals.py): each one made, the chats that receive them, one claimed
    # post per proposal and chat, and each gate's step on the ladder (rules/ladder.yaml).
    db.table("proposals").create(
        {
            "id": int,
            "gate": int,
            "direction": str,  # up | down
            "from_step": int,
            "to_step": int,
            "created_at": str,
            "window_start": str,
            "window_end": str,
            "signals": int,  # distinct stories on the proposal's side
            "weight": float,  # their confidence-weighted sum
            "sources": int,  # distinct sources among them
            "net": float,  # the lean it was made on (a dismissed direction must outgrow it)
            "evidence": str,  # JSON: both sides, for the record
            "status": str,  # pending | accepted | dismissed
            "decided_by": str,
            "decided_at": str,
        },
        pk="id",
        not_null={"gate", "direction", "status"},
    )
    db.table("proposals").create_index(["gate", "created_at"])
    db.table("proposal_chats").create(
        {"platform": str, "chat_id": str, "enabled": int, "updated_by": str, "updated_at": str},
        pk=("platform", "chat_id"),
    )
    db.table("proposal_posts").create(
        {"proposal_id": int, "platform": str, "chat_id": str, "status": str, "attempts": int, "run_id": str,
         "claimed_at": str, "sent_at": str, "message_ref": str, "error": str},
        pk=("proposal_id", "platform", "chat_id"),
    )
    db.table("gate_steps").create(
        {"gate": int, "step": int, "since": str, "changed_by": str, "proposal_id": int, "signals": int},
        pk="gate",
    )


def _m11_installations(db: sqlite_utils.Database) -> None:
    # Add to Slack (bot/storage/installations.py): each workspace's grant, keyed by enterprise and
    # team ("" where there is none); the one-time install states; which workspace each chat is in.
    db.table("installations").create(
        {"enterprise_id": str, "team_id": str, "bot_token": str, "bot_user_id": str, "bot_id": str,
         "scopes": str, "team_name": str, "enterprise_name": str, "app_id": str, "installer_id": str,
         "is_enterprise_install": int, "installed_at": str},
        pk=("enterprise_id", "team_id"),
    )
    db.table("oauth_states").create({"state": str, "expires_at": str}, pk="state")
    db.table("installation_chats").create(
        {"chat_id": str, "enterprise_id": str, "team_id": str, "seen_at": str}, pk="chat_id")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_initial", _m1_initial),
    ("0002_link_cache", _m2_link_cache),
    ("0003_digests", _m3_digests),
    ("0004_link_cache_expiry", _m4_link_cache_expiry),
    ("0005_judgements", _m5_judgements),
    ("0006_feeds", _m6_feeds),
    ("0007_inbox", _m7_inbox),
    ("0008_chat_settings", _m8_chat_settings),
    ("0009_evidence", _m9_evidence),
    ("0010_proposals", _m10_proposals),
    ("0011_installations", _m11_installations),
]
