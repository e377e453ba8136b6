"""Backups of the live database and retention of chatter (docs/operations.md)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import drive
import pytest
from cli_run import gatebot_here
from gatebot.maintenance import MaintenanceError, backup, parse_age, purge
from gatebot.scheduler import Scheduler
from gatebot.service import Message, Service
from gatebot.store import Store, iso, text_key

ROOT = Path(__file__).resolve().parent.parent
HEADLINES = ["ByteDance orders $5.6B of Ascend 950PR chips", "昇腾CANN全面开源", "lunch at noon?",
             "DeepSeek model trained on a 10,000-card Ascend cluster goes into production"]


def gatebot(*args: str, env: dict | None = None, cwd: Path | None = None):
    """`gatebot` as its own process: a second connection to the database, as in production."""
    return subprocess.run([sys.executable, "-m", "gatebot.cli", *args], capture_output=True,
                          env={**os.environ, **(env or {})}, cwd=cwd or ROOT, timeout=60)


def gatebot_cmd(*args: str, env: dict | None = None):
    """The whole command, in this process (cli_run.py)."""
    return gatebot_here(*args, env={**os.environ, **(env or {})}, cwd=ROOT)


class Writer(threading.Thread):
    """The bot at work: its own Service and database connection, answering a direct chat non-stop."""

    def __init__(self, rules, classifier, path: Path):
        super().__init__(daemon=True)
        self.rules, self.classifier, self.path = rules, classifier, path
        self.committed: list[tuple[int, float]] = []  # (message id, when handle_message returned)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        store = Store(self.path)
        # Its commits stay in the WAL file (no checkpoint into the main file): a backup that copied
        # only gatebot.db would lose them, one that reads through SQLite must not.
        store.db.execute("PRAGMA wal_autocheckpoint = 0")
        service = Service(self.rules, store, self.classifier)
        try:
            n = 0
            while not self.stop.is_set():
                reply = drive.say(service, Message("test", f"chat-{n % 7}", "u", f"{HEADLINES[n % 4]} #{n}",
                                                       is_direct=True))
                self.committed.append((reply.message_id, time.monotonic()))
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            store.close()


def _preload(path: Path, n: int) -> None:
    """n rows of history, so the backup has real work to do while the writer keeps going."""
    store = Store(path)
    now = iso(datetime.now(timezone.utc))
    rows = [("test", "history", "u", f"old headline {i}", 20, text_key(f"old headline {i}"), now, "en", 0, "low",
             "{}") for i in range(n)]
    with store.db.conn:
        store.db.conn.executemany(
            "insert into messages (platform, chat_id, user_id, text, text_len, text_key, created_at, lang, gate, "
            "confidence, verdict) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    store.close()


@pytest.mark.slow
def test_backup_taken_while_the_bot_writes_restores_every_committed_row(tmp_path, rules, classifier):
    live = tmp_path / "live" / "gatebot.db"
    live.parent.mkdir()
    _preload(live, 20_000)
    writer = Writer(rules, classifier, live)
    writer.start()
    try:
        while len(writer.committed) < 300 and writer.is_alive():
            time.sleep(0.01)
        before = {mid for mid, _ in writer.committed}  # every id handle_message returned has been committed
        started = time.monotonic()
        out = gatebot("backup", str(tmp_path / "backup.db"), env={"GATEBOT_DB": str(live)})
        finished = time.monotonic()
        time.sleep(0.05)  # the bot goes on after the backup too
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None, writer.error
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().startswith(f"backup: {live} -> {tmp_path / 'backup.db'} (")
    # The bot kept writing while the backup ran: no lock stopped it.
    assert any(started < t < finished for _, t in writer.committed)

    # Restore the way docs/operations.md says: the backup file becomes the database, no WAL beside it.
    restored = tmp_path / "restored" / "gatebot.db"
    restored.parent.mkdir()
    shutil.copy(tmp_path / "backup.db", restored)
    store = Store(restored)
    try:
        ids = [row[0] for row in store.db.execute("select id from messages order by id")]
        assert before <= set(ids), sorted(before - set(ids))[:5]
        assert ids == list(range(1, len(ids) + 1))  # one consistent snapshot: a prefix, no holes
        live_db = sqlite3.connect(live)
        last = max(before)
        assert store.db.execute("select text from messages where id = ?", [last]).fetchone() == \
            live_db.execute("select text from messages where id = ?", [last]).fetchone()
        assert live_db.execute("select count(*) from messages").fetchone()[0] > len(ids)  # later rows are not in it
        live_db.close()
        assert store.db.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


@pytest.mark.slow  # starts the gatebot command as a process
def test_backup_refuses_what_it_cannot_do_well(tmp_path):
    Store(tmp_path / "g.db").close()
    (tmp_path / "taken.db").write_bytes(b"x")
    with pytest.raises(MaintenanceError, match="exists"):
        backup(tmp_path / "g.db", tmp_path / "taken.db")
    with pytest.raises(MaintenanceError, match="no database"):
        backup(tmp_path / "missing.db", tmp_path / "b.db")
    with pytest.raises(MaintenanceError, match="not a directory"):
        backup(tmp_path / "g.db", tmp_path / "nowhere" / "b.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.db", "taken.db"]  # nothing half-written left
    out = gatebot_cmd("backup", str(tmp_path / "taken.db"), env={"GATEBOT_DB": str(tmp_path / "g.db")})
    assert out.returncode == 2 and out.stderr.decode().strip() == f"gatebot: {tmp_path / 'taken.db'} exists; " \
        "back up to a new file name"


def test_parse_age():
    assert parse_age("180d") == parse_age("180") == parse_age("180 days") == timedelta(days=180)
    for bad in ("0d", "-5d", "6 months", "", "1y"):
        with pytest.raises(MaintenanceError):
            parse_age(bad)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


NOW = datetime.now(timezone.utc).replace(microsecond=0)  # the CLI runs on the real clock


def _history(path: Path, rules, classifier) -> tuple[Store, Service, Clock, dict[str, int]]:
    """Old and new messages of each kind, written through the service at their own times."""
    clock = Clock(NOW - timedelta(days=200))
    store = Store(path, clock=clock)
    service = Service(rules, store, classifier, clock=clock)

    def say(text: str) -> int:
        reply = drive.say(service, Message("test", "c1", "u1", text, is_direct=True))
        return reply.message_id

    ids = {"old_chatter": say("lunch at noon?"), "old_gate": say("昇腾CANN全面开源"),
           "old_voted_chatter": say("anyone seen the new phone?")}
    drive.press(service, "test", "c1", "u2", ids["old_voted_chatter"], "3")  # a correction: feeds the digest
    ids["old_disputed_chatter"] = say("国产算力闲聊")
    store.record_judges(ids["old_disputed_chatter"], "rules", {"rules": {"gate": 0}, "llm": {"gate": 2}})
    ids["old_agreed_chatter"] = say("see you at lunch")
    store.record_judges(ids["old_agreed_chatter"], "rules", {"rules": {"gate": 0}, "llm": {"gate": 0}})
    store.cache_judgement("k-old", "model", text_key("see you at lunch"), {"gate": 0})
    store.first_time("test", "update-old")
    store.cache_link("https://example.com/a", ok=True, title="t", description="", error="", detail="", verdict="",
                     ttl=timedelta(days=1))
    clock.now = NOW - timedelta(days=10)
    ids["new_chatter"] = say("see you tomorrow")
    store.first_time("test", "update-new")
    store.cache_judgement("k-new", "model", text_key("see you tomorrow"), {"gate": 0})
    clock.now = NOW
    return store, service, clock, ids


def test_purge_removes_old_chatter_and_keeps_what_digests_and_feedback_read(tmp_path, rules, classifier):
    store, service, clock, ids = _history(tmp_path / "g.db", rules, classifier)
    try:
        dry = purge(store, timedelta(days=180), dry_run=True)
        assert (dry.messages, dry.events, dry.links, dry.judgements, dry.kept_messages) == (2, 1, 1, 1, 3)
        assert store.count_messages() == 6
        result = purge(store, timedelta(days=180), batch=1)  # batch=1: every loop turn is exercised
        assert (result.messages, result.events, result.links, result.judgements, result.kept_messages) == \
            (2, 1, 1, 1, 3)
        assert result.cutoff == iso(NOW - timedelta(days=180))
        remaining = {row[0] for row in store.db.execute("select id from messages")}
        assert remaining == {ids["old_gate"], ids["old_voted_chatter"], ids["old_disputed_chatter"],
                             ids["new_chatter"]}
        assert store.tally(ids["old_voted_chatter"]) == {"3": 1}
        assert [row[0] for row in store.disagreements()] == [ids["old_disputed_chatter"]]  # still to review
        assert [row[0] for row in store.db.execute("select key from judgements")] == ["k-new"]
        assert not store.first_time("test", "update-new") and store.first_time("test", "update-old")
        assert purge(store, timedelta(days=180)).messages == 0  # nothing left to do
    finally:
        store.close()


@pytest.mark.slow  # the whole gatebot command three times
def test_purge_command(tmp_path, rules, classifier):
    store, *_ = _history(tmp_path / "g.db", rules, classifier)
    store.close()
    env = {"GATEBOT_DB": str(tmp_path / "g.db"), "GATEBOT_RETENTION_DAYS": "0"}
    out = gatebot_cmd("purge", "--older-than", "180d", "--dry-run", env=env)
    assert out.returncode == 0, out.stderr.decode()
    assert "would remove 2 chatter message(s), 1 event id(s), 1 expired link(s), 1 cached model answer(s)" \
        in out.stdout.decode()
    assert "kept 3 older message(s) with a gate, feedback or a judges' disagreement" in out.stdout.decode()
    out = gatebot_cmd("purge", env=env)
    assert out.returncode == 2 and "GATEBOT_RETENTION_DAYS" in out.stderr.decode()
    out = gatebot_cmd("purge", env={**env, "GATEBOT_RETENTION_DAYS": "180"})
    assert out.returncode == 0 and "removed 2 chatter message(s)" in out.stdout.decode()
    assert sqlite3.connect(tmp_path / "g.db").execute("select count(*) from messages").fetchone()[0] == 4


def test_scheduler_applies_retention_once_a_day(tmp_path, rules, classifier):
    store, service, clock, ids = _history(tmp_path / "g.db", rules, classifier)
    try:
        scheduler = Scheduler(service, {}, clock=clock)
        asyncio.run(scheduler.tick())
        assert store.count_messages() == 6  # retention is off by default
        service.retention_days = 180
        asyncio.run(scheduler.tick())
        assert store.count_messages() == 4
        clock.now = NOW - timedelta(days=190)
        drive.say(service, Message("test", "c1", "u1", "more chatter", is_direct=True))
        clock.now = NOW + timedelta(hours=1)
        assert not asyncio.run(scheduler.apply_retention(clock.now))  # ran an hour ago
        assert store.count_messages() == 5
        clock.now = NOW + timedelta(days=1, minutes=1)
        asyncio.run(scheduler.tick())
        assert store.count_messages() == 4
    finally:
        store.close()
