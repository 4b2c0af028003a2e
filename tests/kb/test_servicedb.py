"""Staff votes and API keys live in service.sqlite3, apart from the store an ingest locks."""

import hashlib
import sqlite3
import time

import pytest

from kb import KnowledgeBase, Settings
from kb.feedback import _SCHEMA as FEEDBACK_SCHEMA
from kb.keys import _SCHEMA as KEYS_SCHEMA


def test_votes_and_keys_do_not_wait_for_an_ingest_that_holds_the_store(fake_kb, sample_copy):
    fake_kb.ingest([sample_copy])
    passage = fake_kb.search("online child protection", k=1, mode="lexical", min_score=0)[0].passage.id
    ingest = sqlite3.connect(fake_kb.home / "kb.sqlite3", isolation_level=None)
    ingest.execute("BEGIN IMMEDIATE")  # the write lock an ingest holds until it commits
    ingest.execute("INSERT OR REPLACE INTO meta VALUES ('probe', 'x')")
    try:
        started = time.monotonic()
        fake_kb.record_feedback("online child protection", passage, True)
        token = fake_kb.keys.create("reporting")
        assert time.monotonic() - started < 5  # before: the busy timeout (30 s), then "database is locked"
        assert fake_kb.feedback.count() == 1 and fake_kb.keys.check(token) == "reporting"
        assert fake_kb.search("online child protection", k=1, mode="lexical", min_score=0)  # and searching goes on
    finally:
        ingest.execute("ROLLBACK")
        ingest.close()


def test_an_older_homes_votes_and_keys_are_copied_over_once(tmp_path):
    home = tmp_path / "a home ?#%"  # characters a file: URI must escape
    home.mkdir()
    old = sqlite3.connect(home / "kb.sqlite3")  # as homes kept them before: in the store's file
    old.executescript(FEEDBACK_SCHEMA + KEYS_SCHEMA)
    old.execute("INSERT INTO feedback VALUES (1, 'water in schools', 'p1', 'd1', 1, '2026-01-01T00:00:00+00:00')")
    token = "kb_old-token-from-before"
    old.execute("INSERT INTO api_keys VALUES ('reporting', ?, '2026-01-01T00:00:00+00:00', NULL)",
                (hashlib.sha256(token.encode()).hexdigest(),))
    old.commit()
    old.close()
    settings = Settings.load(env={}, home=home, model="hash")
    kb = KnowledgeBase(settings)
    assert kb.feedback.judgments() == {"water in schools": {"p1": 1}}
    assert kb.keys.check(token) == "reporting"
    kb.keys.revoke("reporting")
    again = KnowledgeBase(settings)  # a second open copies nothing back
    assert again.keys.check(token) is None and again.feedback.count() == 1


def test_a_writing_session_takes_the_write_lock_first(tmp_path):
    """A read that turns into a write fails ("database is locked", after the busy timeout)
    when another process committed in between: two processes opening one new home did. A
    writing session takes the write lock at its start instead."""
    from kb.feedback import FeedbackLog
    from kb.servicedb import session

    FeedbackLog(tmp_path)
    insert = "INSERT INTO feedback (query, passage, document, helpful, at) VALUES ('q', 'p', NULL, 1, 'now')"
    before = FeedbackLog(tmp_path).count()
    with session(tmp_path, write=True) as conn:
        conn.execute("SELECT COUNT(*) FROM feedback").fetchone()
        other = sqlite3.connect(tmp_path / "service.sqlite3", timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # the lock is ours from the start
            other.execute(insert)
        other.close()
        conn.execute(insert)
    assert FeedbackLog(tmp_path).count() == before + 1
