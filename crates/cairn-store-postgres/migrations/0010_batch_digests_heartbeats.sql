-- Schema version 10: what each metric batch held, so a batch id reused for other
-- points is refused instead of silently dropped (rows written before keep NULL and
-- are taken on trust), and when a running run's process last said it was alive.
ALTER TABLE metric_batches ADD COLUMN digest TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at BIGINT;
CREATE INDEX runs_heartbeat ON runs (heartbeat_at) WHERE status = 'running' AND heartbeat_at IS NOT NULL;
