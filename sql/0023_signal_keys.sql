-- Monthly partitions for signals, step 1 of 3: the idempotency key moves to a table of its own.
--
-- signals becomes partitioned by month of received_at (0025). A unique index on a partitioned table must hold the
-- partition key, and a retransmission arrives with a later received_at than the signal it repeats: such an index
-- could never refuse it. So the key that makes a retransmission a duplicate (0004: the transmission and the event
-- in it) leaves signals for this small unpartitioned table, which the receiver's batch statement fills in the
-- statement that stores the signals (receiver/batch_writer.py): a row whose key is here already is not stored.
--
-- Only timed messages have a key, as before: a message without a timestamp (panel_time NULL) never met the old
-- index either (0019's untimed_transmissions decides for those). zone, partition and user_number are kept as the
-- old index read them: their first 64 characters, '' when the event has none.
--
-- The text columns compare bytewise (COLLATE "C"): the key only needs equality, and a collation-aware comparison
-- costs every insert into the primary key.
--
-- A key is kept for receiver.retransmission_horizon (default 7 days) after it was received, then the receivers'
-- housekeeping deletes it (through signal_keys_received): a retransmission arrives within seconds or minutes of
-- the original (a panel retries until it is acknowledged), so the table holds about a week of timed signals
-- instead of an index over all of them. signal_id names the signal the key stored (its id in signals).
--
-- The key table starts with the keys of the last day's signals, copied here without blocking the receivers; 0025
-- copies those stored since, under its lock. A retransmission of an older signal is stored again: a panel
-- retransmits within seconds or minutes, until it is acknowledged.
--
-- The last statement adds to signals the CHECK constraint that will let 0025 attach today's table as the
-- partition of everything before the first monthly one without reading it: received_at before the start of the
-- first month (UTC) that begins after both the newest row and a month from now — so 0025 has at least a month to
-- run before receivers of the previous version would store a signal past it (and be refused). NOT VALID: only new
-- rows are checked; 0024 then checks the rows already there without blocking inserts. Finding the newest row reads
-- the whole table (there is no btree on received_at), which blocks nothing; the constraint itself takes an
-- exclusive lock for a moment, once every query already running on signals has ended.
--
-- Upgrading (the whole change, 0023-0025): run `alarmhub migrate`, then restart the receivers on this version.
-- Receivers of the previous version keep storing and acknowledging while it runs; after 0025 they still store
-- every signal but no longer recognise a retransmission of a timed message, and one that loses its database
-- connection then stores nothing (and acknowledges nothing: panels retransmit) until it runs this version. A
-- receiver of this version refuses to start its writer before 0025 (it names the migration to run).

CREATE TABLE signal_keys (
    account     text        COLLATE "C" NOT NULL,
    receiver    text        COLLATE "C" NOT NULL,
    line        text        COLLATE "C" NOT NULL,
    sequence    text        COLLATE "C" NOT NULL,
    panel_time  timestamptz NOT NULL,
    event_index smallint    NOT NULL,
    code        text        COLLATE "C" NOT NULL,
    qualifier   text        COLLATE "C" NOT NULL,
    zone        text        COLLATE "C" NOT NULL,  -- left(coalesce(signals.zone, ''), 64)
    partition   text        COLLATE "C" NOT NULL,  -- likewise
    user_number text        COLLATE "C" NOT NULL,  -- likewise
    signal_id   bigint      NOT NULL,  -- the signal stored with this key
    received_at timestamptz NOT NULL,  -- that signal's received_at: the horizon counts from it
    CONSTRAINT signal_keys_pkey PRIMARY KEY
        (account, receiver, line, sequence, panel_time, event_index, code, qualifier, zone, partition, user_number)
);
CREATE INDEX signal_keys_received ON signal_keys (received_at);
COMMENT ON TABLE signal_keys IS
    'The idempotency key of each timed signal of the last receiver.retransmission_horizon; see '
    'sql/0023_signal_keys.sql.';

INSERT INTO signal_keys (account, receiver, line, sequence, panel_time, event_index, code, qualifier, zone,
                         partition, user_number, signal_id, received_at)
SELECT account, receiver, line, sequence, panel_time, event_index, code, qualifier,
       left(coalesce(zone, ''), 64), left(coalesce(partition, ''), 64), left(coalesce(user_number, ''), 64),
       id, received_at
  FROM signals
 WHERE panel_time IS NOT NULL AND received_at > now() - interval '1 day'
    ON CONFLICT DO NOTHING;

-- The constraint takes an exclusive lock for a moment; should a long query (an export) hold signals, give up after
-- 10 s rather than make every receiver wait behind it (run `alarmhub migrate` again).
SET LOCAL lock_timeout = '10s';
DO $$
DECLARE
    newest timestamptz := (SELECT greatest(max(received_at), now() + interval '1 month') FROM signals);
    bound  timestamptz := (date_trunc('month', newest, 'UTC') AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('ALTER TABLE signals ADD CONSTRAINT signals_before_partitions CHECK (received_at < %L) NOT VALID',
                   bound);
END
$$;
