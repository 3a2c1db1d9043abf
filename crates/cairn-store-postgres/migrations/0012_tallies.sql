-- Schema version 12: tallies kept as runs are written, so a project's dashboard and
-- `tried` read a few aggregate rows instead of every run. Statement triggers (with
-- transition tables, so a bulk insert of a thousand runs updates each tally row once,
-- in key order) keep them exact on every write path. See the SQLite migration for the
-- meaning of each table.
CREATE TABLE day_tally (
    project_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    runs BIGINT NOT NULL,
    no_hypothesis BIGINT NOT NULL,
    n BIGINT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    squares DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, day, status, owner)
);
CREATE TABLE param_tally (
    project_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    owner TEXT NOT NULL,
    vtype TEXT NOT NULL,
    num DOUBLE PRECISION,
    txt TEXT,
    runs BIGINT NOT NULL,
    finished BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    n BIGINT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    squares DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, key, value, owner)
);
CREATE INDEX runs_project_status_created ON runs (project_id, status, created_at);
CREATE INDEX runs_project_group ON runs (project_id, group_id) WHERE group_id IS NOT NULL;

CREATE FUNCTION cairn_tally_runs_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH d AS (SELECT n.id, n.project_id, n.created_at / 86400000 AS day, n.status, n.owner, 1 AS s, CASE WHEN n.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, n.status = 'finished' AS fin, n.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN n.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = n.project_id WHERE m.run_id = n.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM new_rows n WHERE n.deleted_at IS NULL)
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, sum(s), sum(s * nh), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)
  FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  WITH d AS (SELECT n.id, n.project_id, n.created_at / 86400000 AS day, n.status, n.owner, 1 AS s, CASE WHEN n.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, n.status = 'finished' AS fin, n.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN n.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = n.project_id WHERE m.run_id = n.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM new_rows n WHERE n.deleted_at IS NULL)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT d.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, d.owner, min(x.vtype), min(x.num), min(x.txt), sum(s), sum(s * fin::int), sum(s * fail::int), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)
  FROM d JOIN run_params x ON x.run_id = d.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_runs_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH d AS (SELECT o.id, o.project_id, o.created_at / 86400000 AS day, o.status, o.owner, -1 AS s, CASE WHEN o.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, o.status = 'finished' AS fin, o.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN o.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = o.project_id WHERE m.run_id = o.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.deleted_at IS NULL AND (o.status IS DISTINCT FROM n.status OR o.deleted_at IS DISTINCT FROM n.deleted_at OR o.created_at <> n.created_at OR (o.hypothesis IS NULL) <> (n.hypothesis IS NULL) OR o.owner <> n.owner OR o.project_id <> n.project_id) UNION ALL SELECT n.id, n.project_id, n.created_at / 86400000 AS day, n.status, n.owner, 1 AS s, CASE WHEN n.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, n.status = 'finished' AS fin, n.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN n.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = n.project_id WHERE m.run_id = n.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.deleted_at IS NULL AND (o.status IS DISTINCT FROM n.status OR o.deleted_at IS DISTINCT FROM n.deleted_at OR o.created_at <> n.created_at OR (o.hypothesis IS NULL) <> (n.hypothesis IS NULL) OR o.owner <> n.owner OR o.project_id <> n.project_id))
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, sum(s), sum(s * nh), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)
  FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  WITH d AS (SELECT o.id, o.project_id, o.created_at / 86400000 AS day, o.status, o.owner, -1 AS s, CASE WHEN o.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, o.status = 'finished' AS fin, o.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN o.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = o.project_id WHERE m.run_id = o.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.deleted_at IS NULL AND (o.status IS DISTINCT FROM n.status OR o.deleted_at IS DISTINCT FROM n.deleted_at OR o.created_at <> n.created_at OR (o.hypothesis IS NULL) <> (n.hypothesis IS NULL) OR o.owner <> n.owner OR o.project_id <> n.project_id) UNION ALL SELECT n.id, n.project_id, n.created_at / 86400000 AS day, n.status, n.owner, 1 AS s, CASE WHEN n.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, n.status = 'finished' AS fin, n.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN n.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = n.project_id WHERE m.run_id = n.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.deleted_at IS NULL AND (o.status IS DISTINCT FROM n.status OR o.deleted_at IS DISTINCT FROM n.deleted_at OR o.created_at <> n.created_at OR (o.hypothesis IS NULL) <> (n.hypothesis IS NULL) OR o.owner <> n.owner OR o.project_id <> n.project_id))
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT d.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, d.owner, min(x.vtype), min(x.num), min(x.txt), sum(s), sum(s * fin::int), sum(s * fail::int), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)
  FROM d JOIN run_params x ON x.run_id = d.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_runs_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH d AS (SELECT o.id, o.project_id, o.created_at / 86400000 AS day, o.status, o.owner, -1 AS s, CASE WHEN o.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, o.status = 'finished' AS fin, o.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN o.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = o.project_id WHERE m.run_id = o.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM old_rows o WHERE o.deleted_at IS NULL)
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, sum(s), sum(s * nh), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)
  FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  WITH d AS (SELECT o.id, o.project_id, o.created_at / 86400000 AS day, o.status, o.owner, -1 AS s, CASE WHEN o.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, o.status = 'finished' AS fin, o.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN o.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = o.project_id WHERE m.run_id = o.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v FROM old_rows o WHERE o.deleted_at IS NULL)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT d.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, d.owner, min(x.vtype), min(x.num), min(x.txt), sum(s), sum(s * fin::int), sum(s * fail::int), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)
  FROM d JOIN run_params x ON x.run_id = d.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_params_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH x AS (SELECT run_id, key, vtype, num, txt, 1 AS s FROM new_rows)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), sum(x.s), sum(x.s * (r.status = 'finished')::int), sum(x.s * (r.status IN ('failed', 'killed', 'crashed'))::int), sum(x.s * ((v.v) IS NOT NULL)::int), coalesce(sum(x.s * v.v), 0), coalesce(sum(x.s * v.v * v.v), 0)
  FROM x JOIN runs r ON r.id = x.run_id AND r.deleted_at IS NULL CROSS JOIN LATERAL (SELECT CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v) v
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_params_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH x AS (SELECT run_id, key, vtype, num, txt, -1 AS s FROM old_rows)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), sum(x.s), sum(x.s * (r.status = 'finished')::int), sum(x.s * (r.status IN ('failed', 'killed', 'crashed'))::int), sum(x.s * ((v.v) IS NOT NULL)::int), coalesce(sum(x.s * v.v), 0), coalesce(sum(x.s * v.v * v.v), 0)
  FROM x JOIN runs r ON r.id = x.run_id AND r.deleted_at IS NULL CROSS JOIN LATERAL (SELECT CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v) v
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_params_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH x AS (SELECT run_id, key, vtype, num, txt, -1 AS s FROM old_rows UNION ALL SELECT run_id, key, vtype, num, txt, 1 AS s FROM new_rows)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), sum(x.s), sum(x.s * (r.status = 'finished')::int), sum(x.s * (r.status IN ('failed', 'killed', 'crashed'))::int), sum(x.s * ((v.v) IS NOT NULL)::int), coalesce(sum(x.s * v.v), 0), coalesce(sum(x.s * v.v * v.v), 0)
  FROM x JOIN runs r ON r.id = x.run_id AND r.deleted_at IS NULL CROSS JOIN LATERAL (SELECT CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key')) END AS v) v
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_metrics_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH mm AS (SELECT run_id, key, last, 1 AS s FROM new_rows)
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, sum(mm.s * (CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END IS NOT NULL)::int), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0)
  FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' JOIN projects p ON p.id = r.project_id AND mm.key = (p.primary_metric::jsonb ->> 'key') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  WITH mm AS (SELECT run_id, key, last, 1 AS s FROM new_rows)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), 0, 0, 0, sum(mm.s * (CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END IS NOT NULL)::int), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0)
  FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' JOIN projects p ON p.id = r.project_id AND mm.key = (p.primary_metric::jsonb ->> 'key') JOIN run_params x ON x.run_id = r.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_metrics_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH mm AS (SELECT run_id, key, last, -1 AS s FROM old_rows)
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, sum(mm.s * (CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END IS NOT NULL)::int), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0)
  FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' JOIN projects p ON p.id = r.project_id AND mm.key = (p.primary_metric::jsonb ->> 'key') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  WITH mm AS (SELECT run_id, key, last, -1 AS s FROM old_rows)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), 0, 0, 0, sum(mm.s * (CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END IS NOT NULL)::int), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0)
  FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' JOIN projects p ON p.id = r.project_id AND mm.key = (p.primary_metric::jsonb ->> 'key') JOIN run_params x ON x.run_id = r.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION cairn_tally_metrics_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  WITH mm AS (SELECT o.run_id, o.key, o.last, -1 AS s FROM old_rows o JOIN new_rows n ON n.run_id = o.run_id AND n.key = o.key WHERE o.last IS DISTINCT FROM n.last UNION ALL SELECT n.run_id, n.key, n.last, 1 AS s FROM new_rows n JOIN old_rows o ON o.run_id = n.run_id AND o.key = n.key WHERE o.last IS DISTINCT FROM n.last)
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, sum(mm.s * (CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END IS NOT NULL)::int), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0)
  FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' JOIN projects p ON p.id = r.project_id AND mm.key = (p.primary_metric::jsonb ->> 'key') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  WITH mm AS (SELECT o.run_id, o.key, o.last, -1 AS s FROM old_rows o JOIN new_rows n ON n.run_id = o.run_id AND n.key = o.key WHERE o.last IS DISTINCT FROM n.last UNION ALL SELECT n.run_id, n.key, n.last, 1 AS s FROM new_rows n JOIN old_rows o ON o.run_id = n.run_id AND o.key = n.key WHERE o.last IS DISTINCT FROM n.last)
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), 0, 0, 0, sum(mm.s * (CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END IS NOT NULL)::int), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0), coalesce(sum(mm.s * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END * CASE WHEN mm.last BETWEEN -1.7e308 AND 1.7e308 THEN mm.last END), 0)
  FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' JOIN projects p ON p.id = r.project_id AND mm.key = (p.primary_metric::jsonb ->> 'key') JOIN run_params x ON x.run_id = r.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER runs_tally_insert AFTER INSERT ON runs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_runs_insert();

CREATE TRIGGER runs_tally_update AFTER UPDATE ON runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_runs_update();

CREATE TRIGGER runs_tally_delete AFTER DELETE ON runs REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_runs_delete();

CREATE TRIGGER run_params_tally_insert AFTER INSERT ON run_params REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_params_insert();

CREATE TRIGGER run_params_tally_update AFTER UPDATE ON run_params REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_params_update();

CREATE TRIGGER run_params_tally_delete AFTER DELETE ON run_params REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_params_delete();

CREATE TRIGGER metric_summaries_tally_insert AFTER INSERT ON metric_summaries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_metrics_insert();

CREATE TRIGGER metric_summaries_tally_update AFTER UPDATE ON metric_summaries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_metrics_update();

CREATE TRIGGER metric_summaries_tally_delete AFTER DELETE ON metric_summaries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_metrics_delete();

CREATE FUNCTION cairn_tally_primary_metric() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF (OLD.primary_metric::jsonb ->> 'key') IS NOT DISTINCT FROM (NEW.primary_metric::jsonb ->> 'key') THEN RETURN NULL; END IF;
  UPDATE day_tally SET n = 0, total = 0, squares = 0 WHERE project_id = NEW.id;
  UPDATE param_tally SET n = 0, total = 0, squares = 0 WHERE project_id = NEW.id;
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, count(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), coalesce(sum(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), 0), coalesce(sum((CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END) * (CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END)), 0)
  FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key') WHERE r.project_id = NEW.id AND r.deleted_at IS NULL AND r.status = 'finished' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), 0, 0, 0, count(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), coalesce(sum(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), 0), coalesce(sum((CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END) * (CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END)), 0)
  FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key') JOIN run_params x ON x.run_id = r.id WHERE r.project_id = NEW.id AND r.deleted_at IS NULL AND r.status = 'finished' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER projects_tally_metric AFTER UPDATE OF primary_metric ON projects FOR EACH ROW EXECUTE FUNCTION cairn_tally_primary_metric();

-- The runs already stored.
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, count(*), sum(CASE WHEN r.hypothesis IS NULL THEN 1 ELSE 0 END), count(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), coalesce(sum(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), 0), coalesce(sum((CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END) * (CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END)), 0)
FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key') WHERE r.deleted_at IS NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = day_tally.runs + excluded.runs, no_hypothesis = day_tally.no_hypothesis + excluded.no_hypothesis, n = day_tally.n + excluded.n, total = day_tally.total + excluded.total, squares = day_tally.squares + excluded.squares;
INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), count(*), sum((r.status = 'finished')::int), sum((r.status IN ('failed', 'killed', 'crashed'))::int), count(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), coalesce(sum(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), 0), coalesce(sum((CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END) * (CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END)), 0)
FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = (p.primary_metric::jsonb ->> 'key') JOIN run_params x ON x.run_id = r.id WHERE r.deleted_at IS NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = param_tally.runs + excluded.runs, finished = param_tally.finished + excluded.finished, failed = param_tally.failed + excluded.failed, n = param_tally.n + excluded.n, total = param_tally.total + excluded.total, squares = param_tally.squares + excluded.squares;

