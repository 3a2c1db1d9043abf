-- Schema version 9: one rule for text. Param text is kept as written and indexed by what
-- it means (`1e-3` as the number 0.001, `True` as a boolean). The rows already indexed
-- as text are read again by the migration's Rust step (cairn_store_sql::Step::ReadParamText);
-- nothing changes in the tables themselves.
SELECT 1;
