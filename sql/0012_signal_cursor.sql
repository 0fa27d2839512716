-- Each signal carries the id of the transaction that wrote it, so that a reader can follow signals without gaps.
--
-- Signal ids are not in commit order: writer A takes id 10, writer B takes id 11 and commits first, and a reader
-- that saw 11 and resumes with `id > 11` never sees 10. shared/signal_cursor.py reads instead by (xact, id), and
-- only rows whose transaction is older than its snapshot's xmin: every such transaction has ended (committed and
-- visible, or rolled back), and every transaction still to commit has an id at or above xmin. So a row the reader
-- has not seen yet always sorts after the cursor it holds. A long write transaction anywhere on the server holds
-- xmin back and with it delivery (never order); the reader says so and checks again shortly.
--
-- The value is pg_current_xact_id() (xid8: 64 bits with the epoch, it never wraps) stored as bigint, because
-- xid8 has no BRIN operator class in PostgreSQL 15 or 16 (only btree and hash), and a BRIN index is what the
-- insert can afford: rows are appended roughly in transaction order, so each block range holds a narrow band of
-- ids and a reader's `xact >= cursor` reads the last few ranges. autosummarize keeps that tail short (a range is
-- summarised as soon as it fills, instead of at the next vacuum, which on an insert-only table may be millions
-- of rows away; the reader scans unsummarised ranges whole).
--
-- Cost, in isolation (PostgreSQL 15; the receiver's batch statement into copies of signals, batch by batch
-- alternated, commit flush off so that the CPU shows): the column and its default ≈ 0.1-0.3 µs per row, the BRIN
-- index ≈ 0.2 µs more, against ≈ 14-16 µs per row in all; a btree on (xact, id) instead would cost ≈ 0.8 µs.
--
-- Rows stored before this migration keep NULL: "before any cursor", never delivered by one. A logical restore
-- into another cluster (pg_dump, not pg_upgrade, which keeps the counter) starts transaction ids afresh, below
-- the restored values: after one, run `UPDATE signals SET xact = NULL` before the receivers start, and hand every
-- reader a cursor from now (signals_after refuses a cursor ahead of the server's counter).
--
-- The column is added without a default (a volatile default would rewrite the whole table) and given it after;
-- both are catalogue changes, instant on any size. The index build reads the whole table while inserts wait (and,
-- in this migration's transaction, reads too): on a large table run the first two statements below by hand,
-- then build the index without blocking anything,
--     CREATE INDEX CONCURRENTLY IF NOT EXISTS signals_xact ON signals USING brin (xact) WITH (autosummarize = on);
-- and this migration then finds them in place.
--
-- Upgrade order: `alarmhub migrate` first; receivers of any version keep working (they name their columns and
-- the default fills this one), then start the parts that follow signals by cursor (they need the column).

ALTER TABLE signals ADD COLUMN IF NOT EXISTS xact bigint;
ALTER TABLE signals ALTER COLUMN xact SET DEFAULT (pg_current_xact_id()::text::bigint);
COMMENT ON COLUMN signals.xact IS
    'pg_current_xact_id() of the writing transaction; NULL before migration 0012. Read by shared/signal_cursor.py.';
CREATE INDEX IF NOT EXISTS signals_xact ON signals USING brin (xact) WITH (autosummarize = on);
