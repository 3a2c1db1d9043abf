-- Schema version 3: batch ids of metric writes, so a client's retry of a batch whose
-- acknowledgement it lost is answered without writing the points twice.
CREATE TABLE metric_batches (
    run_id TEXT NOT NULL REFERENCES runs (id),
    batch_id TEXT NOT NULL,
    points BIGINT NOT NULL,
    PRIMARY KEY (run_id, batch_id)
);
