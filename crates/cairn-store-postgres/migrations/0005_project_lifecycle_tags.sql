-- Schema version 5: projects can be deleted and restored (MLflow experiments can), carry
-- tags (JSON object) and record when they last changed.
ALTER TABLE projects ADD COLUMN deleted_at BIGINT;
ALTER TABLE projects ADD COLUMN tags TEXT;
ALTER TABLE projects ADD COLUMN updated_at BIGINT;
