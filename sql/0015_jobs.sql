-- Background jobs (shared/jobs.py). Leadership of a singleton job is a PostgreSQL session advisory lock held on
-- its leader's own connection (pg_locks shows it); these tables are the record admins and tests read.

-- One row per singleton job: who leads it now, or led it last (a stale heartbeat_at says the holder is gone).
CREATE TABLE job_leaders (
    job          text PRIMARY KEY,
    holder       text NOT NULL,                      -- host:pid of the process holding the lock
    since        timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    last_tick_at timestamptz                         -- the window of the last tick that finished
);

-- One row per job and tick window, claimed before the tick runs: one run per window, whoever holds the lock.
-- A tick whose holder died is marked abandoned by the next leader, which runs it again (attempts + 1).
CREATE TABLE job_runs (
    job         text NOT NULL,
    tick_at     timestamptz NOT NULL,                -- the start of the window
    holder      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'abandoned')),
    attempts    integer NOT NULL DEFAULT 1,
    error       text NOT NULL DEFAULT '',
    PRIMARY KEY (job, tick_at)
);
