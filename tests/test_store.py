"""Store: schema creation, migration, WAL, round trips."""

from __future__ import annotations

import sqlite3

from gatebot.models import Verdict
from gatebot.store import MIGRATIONS, Store


def test_schema_created_in_wal_mode(tmp_path):
    store = Store(tmp_path / "g.db")
    assert store.db.journal_mode == "wal"
    assert {"messages", "gate_status", "gate_status_history", "feedback", "subscriptions",
            "processed_events", "link_cache", "schema_migrations"} <= set(store.db.table_names())
    assert [r["name"] for r in store.db["schema_migrations"].rows] == [name for name, _ in MIGRATIONS]
    store.close()


def test_migrations_run_once_and_upgrade_an_old_database(tmp_path):
    path = tmp_path / "old.db"
    store = Store(path)
    store.close()
    # Simulate a database from before the link cache existed.
    conn = sqlite3.connect(path)
    conn.execute("drop table link_cache")
    conn.execute("delete from schema_migrations where name = '0002_link_cache'")
    conn.commit()
    conn.close()
    store = Store(path)
    assert "link_cache" in store.db.table_names()
    assert store.migrate() == []
    store.close()


def test_message_round_trip(tmp_path, classifier):
    store = Store(tmp_path / "g.db")
    verdict = classifier.classify("ByteDance orders Ascend 950PR chips")
    mid, earlier = store.add_message(platform="slack", chat_id="C1", user_id="U1", text="ByteDance orders Ascend 950PR chips",
                                     verdict=verdict, message_ref="123.456")
    assert earlier is None
    stored = store.get_message(mid)
    assert stored.verdict == verdict and isinstance(stored.verdict, Verdict)
    assert stored.message_ref == "123.456" and stored.gate == 1
    store.set_reply_ref(mid, "789")
    assert store.db["messages"].get(mid)["reply_ref"] == "789"
    assert store.get_message(mid + 100) is None
    store.close()


def test_processed_events_are_idempotent_across_reopen(tmp_path):
    store = Store(tmp_path / "g.db")
    assert store.first_time("slack", "Ev1")
    assert not store.first_time("slack", "Ev1")
    store.close()
    store = Store(tmp_path / "g.db")
    assert not store.first_time("slack", "Ev1")
    assert store.first_time("telegram", "Ev1")
    store.close()


def test_link_cache_rows_from_before_0004_are_converted(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    # Roll back to 0003: link_cache without expiry columns, expiry kept as JSON in `error`.
    conn.execute("drop table link_cache")
    conn.execute("create table link_cache (url text primary key, fetched_at text, ok integer, title text, "
                 "description text, error text, verdict text)")
    conn.execute("insert into link_cache values ('http://a/', '2026-11-21T00:00:00+00:00', 0, '', '', "
                 "'{\"code\": \"timeout\", \"detail\": \"slow\", \"expires\": \"2999-01-01T00:00:00+00:00\"}', '')")
    conn.execute("delete from schema_migrations where name = '0004_link_cache_expiry'")
    conn.commit()
    conn.close()
    store = Store(path)
    row = store.cached_link("http://a/")
    assert row["error"] == "timeout" and row["detail"] == "slow" and row["expires_at"].startswith("2999")
    store.close()
