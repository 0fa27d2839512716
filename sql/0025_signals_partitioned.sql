-- Monthly partitions for signals, step 3 of 3: signals becomes a table partitioned by month of received_at (UTC).
--
-- Why: a central station keeps years of signals and reads mostly the newest. Partitioned by month, each month's
-- rows and indexes are a table of their own: the newest month's indexes stay small and cached, a history page
-- reads the newest partitions first and stops (the partitions are ordered, so an ORDER BY received_at DESC LIMIT
-- scans them newest first), vacuum works on one month, and an old month is detached whole for archiving and
-- dropped (`alarmhub admin signal-partitions`), where deleting its rows would have rewritten half the table.
--
-- How, online: the table as it is becomes the partition of everything before the first month (renamed
-- signals_before_YYYY_MM, its rows not copied: the CHECK constraint 0023 added and 0024 validated proves they fit,
-- so ATTACH reads nothing). A new partitioned signals takes its place, with the same columns, defaults, checks
-- and indexes; its indexes are matched to the old table's, which are attached, not rebuilt. The month partitions
-- follow, from the bound on, a few months ahead; the worker's job (shared/signal_partitions.py) keeps creating
-- them ahead. The exclusive lock is held for the renames and catalogue changes only, and for copying the keys of
-- the signals stored since 0023 into signal_keys: once granted, receivers wait milliseconds to a second (their
-- batch is held, not refused); while it is awaited (up to lock_timeout), their batches queue behind it.
-- lock_timeout: should a long query (an export) hold signals, the migration gives up after 10 s rather than make
-- every receiver wait behind it; run `alarmhub migrate` again.
--
-- ids: the identity column becomes a plain bigint whose default is the sequence signals_id_seq, continued from
-- where the identity's sequence stood (a partitioned table cannot have an identity column before PostgreSQL 17).
-- Each partition has its own primary key on id; the sequence keeps ids unique across them.
--
-- No default partition: a signal whose month has no partition is refused by the database (and not acknowledged:
-- the panel retransmits) rather than stored where a later partition could not be attached without moving it.
-- The worker creates worker.partitions_ahead months ahead (3 by default) every worker.partitions_interval.
--
-- Upgrading: see 0023.

SET LOCAL lock_timeout = '10s';
LOCK TABLE signals IN ACCESS EXCLUSIVE MODE;

-- The keys of timed signals stored since 0023 copied the last day's: from five minutes before the newest key
-- copied (a batch commits within the writer's 30 s timeout), and at least the last hour (received_at is each
-- receiver's clock, which may run ahead of the one whose key is newest).
INSERT INTO signal_keys (account, receiver, line, sequence, panel_time, event_index, code, qualifier, zone,
                         partition, user_number, signal_id, received_at)
SELECT account, receiver, line, sequence, panel_time, event_index, code, qualifier,
       left(coalesce(zone, ''), 64), left(coalesce(partition, ''), 64), left(coalesce(user_number, ''), 64),
       id, received_at
  FROM signals
 WHERE panel_time IS NOT NULL
   AND received_at > least(coalesce((SELECT max(received_at) FROM signal_keys), now() - interval '1 day')
                           - interval '5 minutes',
                           now() - interval '1 hour')
    ON CONFLICT DO NOTHING;

DO $$
DECLARE
    bound  timestamptz := (regexp_match(pg_get_constraintdef((SELECT oid FROM pg_constraint
                                                              WHERE conname = 'signals_before_partitions'
                                                                AND conrelid = 'signals'::regclass)),
                                        '''([^'']*)'''))[1]::timestamptz;
    legacy text := 'signals_before_' || to_char(bound AT TIME ZONE 'UTC', 'YYYY_MM');
    next_id bigint;
BEGIN
    SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO next_id FROM signals_id_seq;

    EXECUTE format('ALTER TABLE signals RENAME TO %I', legacy);
    EXECUTE format('ALTER INDEX signals_pkey RENAME TO %I', legacy || '_pkey');
    EXECUTE format('ALTER INDEX signals_customer_received RENAME TO %I', legacy || '_customer_received');
    EXECUTE format('ALTER INDEX signals_received RENAME TO %I', legacy || '_received');
    EXECUTE format('ALTER INDEX signals_xact RENAME TO %I', legacy || '_xact');
    DROP INDEX signals_idempotency;  -- signal_keys holds the key now
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id DROP IDENTITY', legacy);  -- drops signals_id_seq with it

    EXECUTE format('CREATE SEQUENCE signals_id_seq START WITH %s', next_id);
    CREATE TABLE signals (
        id           bigint NOT NULL DEFAULT nextval('signals_id_seq'),
        account      text NOT NULL,
        panel_id     bigint,
        site_id      bigint,
        customer_id  bigint,
        transport    text NOT NULL CONSTRAINT signals_transport_check
                     CHECK (transport IN ('tcp', 'udp', 'mqtt', 'supervision')),
        remote_addr  text NOT NULL DEFAULT '',
        receiver     text NOT NULL DEFAULT '',
        line         text NOT NULL DEFAULT '',
        sequence     text NOT NULL,
        panel_time   timestamptz,
        received_at  timestamptz NOT NULL DEFAULT now(),
        event_index  smallint NOT NULL DEFAULT 0,
        format       text NOT NULL CONSTRAINT signals_format_check CHECK (format IN ('ADM-CID', 'SIA-DCS')),
        code         text NOT NULL,
        qualifier    text NOT NULL CONSTRAINT signals_qualifier_check
                     CHECK (qualifier IN ('event', 'restore', 'status')),
        zone         text,
        partition    text,
        user_number  text,
        category     text NOT NULL CONSTRAINT signals_category_check CHECK (category IN
                         ('alarm', 'trouble', 'power', 'supervisory', 'open_close', 'bypass', 'test', 'other')),
        alarm_type   text,
        priority     smallint NOT NULL,
        description  text NOT NULL,
        extended     text[] NOT NULL DEFAULT '{}',
        raw_frame    bytea NOT NULL,
        xact         bigint DEFAULT (pg_current_xact_id()::text::bigint),
        xdata        jsonb
    ) PARTITION BY RANGE (received_at);
    ALTER SEQUENCE signals_id_seq OWNED BY signals.id;
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT nextval(''signals_id_seq'')', legacy);

    -- The same indexes as before, bar the key: on the partitioned table, each partition has its own.
    CREATE INDEX signals_customer_received ON signals (customer_id, received_at DESC, id DESC);
    CREATE INDEX signals_received ON signals USING brin (received_at) WITH (autosummarize = on);
    CREATE INDEX signals_xact ON signals USING brin (xact) WITH (autosummarize = on);

    EXECUTE format('ALTER TABLE signals ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', legacy, bound);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT signals_before_partitions', legacy);
END
$$;

-- The partitions of signals and the times each holds: from_at NULL for the first (everything before to_at);
-- detach_pending when a DETACH PARTITION … CONCURRENTLY was interrupted (… FINALIZE completes it).
CREATE VIEW signal_partitions AS
SELECT c.relname::text AS name,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\)'))[1]::timestamptz AS from_at,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']*)''\)'))[1]::timestamptz AS to_at,
       greatest(c.reltuples, 0)::bigint AS estimated_rows,
       i.inhdetachpending AS detach_pending
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'signals'::regclass;
COMMENT ON VIEW signal_partitions IS 'The partitions of signals and their ranges of received_at; see sql/0025.';

-- The partition for the month (UTC) holding `month`, created and attached unless one already holds any of that
-- month; its name, or NULL when there was one. Created as a table of its own, then attached: ATTACH PARTITION
-- takes SHARE UPDATE EXCLUSIVE on signals, which lets receivers store and portals read meanwhile (CREATE TABLE
-- … PARTITION OF would lock them out). The parent's indexes are created on the empty table as it is attached.
CREATE FUNCTION signals_create_partition(month timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    starts timestamptz := date_trunc('month', month, 'UTC');
    ends   timestamptz := (date_trunc('month', month, 'UTC') AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC';
    name   text := 'signals_' || to_char(starts AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF EXISTS (SELECT FROM signal_partitions p
                WHERE coalesce(p.from_at, '-infinity') < ends AND p.to_at > starts) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE signals INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE '
                   'INCLUDING COMPRESSION)', name);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (id)', name, name || '_pkey');
    EXECUTE format('ALTER TABLE signals ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, starts, ends);
    RETURN name;
END
$$;
COMMENT ON FUNCTION signals_create_partition(timestamptz) IS
    'Create and attach the partition of signals for the UTC month holding the argument; NULL when one exists.';


-- The first month partitions: the bound's month and three more (the worker keeps worker.partitions_ahead ahead).
SELECT signals_create_partition(((p.to_at AT TIME ZONE 'UTC') + make_interval(months => m, days => 1)) AT TIME ZONE 'UTC')
  FROM signal_partitions p, generate_series(0, 3) AS m
 WHERE p.from_at IS NULL
 ORDER BY m;

COMMENT ON TABLE signals IS 'Every decoded event a panel sent; partitioned by month of received_at (sql/0025).';
COMMENT ON COLUMN signals.xact IS
    'pg_current_xact_id() of the writing transaction; NULL before migration 0012. Read by shared/signal_cursor.py.';
COMMENT ON COLUMN signals.xdata IS
    'Typed DC-09 x-data (longitude, latitude, altitude, mac, verification, occurred_at, texts, unreadable) and the '
    'SIA ti/da/pi modifiers (time, date, peripheral); see sql/0020_signal_xdata.sql. NULL when none.';
