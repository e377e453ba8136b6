"""Store: schema creation, migration, WAL, round trips."""

from __future__ import annotations

import sqlite3

from bot.models import Verdict
from bot.store import MIGRATIONS, Store


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
