-- Schema version 13: a search for names by prefix (`name like 'run-12%'`) reads a range of
-- this index instead of every run. Byte order ("C"), which is what a prefix range needs.
CREATE INDEX runs_name ON runs (name COLLATE "C");
