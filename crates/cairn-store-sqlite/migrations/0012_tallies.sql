-- Schema version 12: tallies kept as runs are written, so a project's dashboard and
-- `tried` read a few aggregate rows instead of every run. Triggers keep them exact on
-- every write path (a run created, finished, deleted or restored; a param written; the
-- primary metric's last value changing; the project's primary metric changing).
-- day_tally: live runs per project, creation day, status and owner, with the primary
-- metric's finite last values of finished runs (count, sum, sum of squares).
-- param_tally: the same per parameter value (grouped by meaning: `vtype:value`) and owner.
-- Rows are only ever added to; a row whose runs fall to zero stays until the server's
-- housekeeping removes it, and readers skip it.
CREATE TABLE day_tally (
    project_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    runs INTEGER NOT NULL,
    no_hypothesis INTEGER NOT NULL,
    n INTEGER NOT NULL,
    total REAL NOT NULL,
    squares REAL NOT NULL,
    PRIMARY KEY (project_id, day, status, owner)
);
CREATE TABLE param_tally (
    project_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    owner TEXT NOT NULL,
    vtype TEXT NOT NULL,
    num REAL,
    txt TEXT,
    runs INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    n INTEGER NOT NULL,
    total REAL NOT NULL,
    squares REAL NOT NULL,
    PRIMARY KEY (project_id, key, value, owner)
);
-- Failures newest first, and a project's replicate groups, without walking every run.
CREATE INDEX runs_project_status_created ON runs (project_id, status, created_at);
CREATE INDEX runs_project_group ON runs (project_id, group_id) WHERE group_id IS NOT NULL;

CREATE TRIGGER runs_tally_insert AFTER INSERT ON runs BEGIN
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, 1, 1 * nh, 1 * (v IS NOT NULL), 1 * coalesce(v, 0), 1 * coalesce(v * v, 0)
  FROM (SELECT NEW.project_id AS project_id, NEW.created_at / 86400000 AS day, NEW.status AS status, NEW.owner AS owner, NEW.hypothesis IS NULL AS nh, CASE WHEN NEW.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = NEW.project_id WHERE m.run_id = NEW.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v) WHERE NEW.deleted_at IS NULL
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, 1, 1 * fin, 1 * fail, 1 * (v IS NOT NULL), 1 * coalesce(v, 0), 1 * coalesce(v * v, 0)
  FROM (SELECT NEW.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, NEW.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, NEW.status = 'finished' AS fin, NEW.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN NEW.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = NEW.project_id WHERE m.run_id = NEW.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM run_params x WHERE x.run_id = NEW.id AND NEW.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER runs_tally_update AFTER UPDATE ON runs WHEN OLD.status IS NOT NEW.status OR OLD.deleted_at IS NOT NEW.deleted_at OR OLD.created_at IS NOT NEW.created_at OR (OLD.hypothesis IS NULL) IS NOT (NEW.hypothesis IS NULL) OR OLD.owner IS NOT NEW.owner OR OLD.project_id IS NOT NEW.project_id BEGIN
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, -1, -1 * nh, -1 * (v IS NOT NULL), -1 * coalesce(v, 0), -1 * coalesce(v * v, 0)
  FROM (SELECT OLD.project_id AS project_id, OLD.created_at / 86400000 AS day, OLD.status AS status, OLD.owner AS owner, OLD.hypothesis IS NULL AS nh, CASE WHEN OLD.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = OLD.project_id WHERE m.run_id = OLD.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v) WHERE OLD.deleted_at IS NULL
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, 1, 1 * nh, 1 * (v IS NOT NULL), 1 * coalesce(v, 0), 1 * coalesce(v * v, 0)
  FROM (SELECT NEW.project_id AS project_id, NEW.created_at / 86400000 AS day, NEW.status AS status, NEW.owner AS owner, NEW.hypothesis IS NULL AS nh, CASE WHEN NEW.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = NEW.project_id WHERE m.run_id = NEW.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v) WHERE NEW.deleted_at IS NULL
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, -1, -1 * fin, -1 * fail, -1 * (v IS NOT NULL), -1 * coalesce(v, 0), -1 * coalesce(v * v, 0)
  FROM (SELECT OLD.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, OLD.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, OLD.status = 'finished' AS fin, OLD.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN OLD.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = OLD.project_id WHERE m.run_id = OLD.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM run_params x WHERE x.run_id = OLD.id AND OLD.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, 1, 1 * fin, 1 * fail, 1 * (v IS NOT NULL), 1 * coalesce(v, 0), 1 * coalesce(v * v, 0)
  FROM (SELECT NEW.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, NEW.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, NEW.status = 'finished' AS fin, NEW.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN NEW.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = NEW.project_id WHERE m.run_id = NEW.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM run_params x WHERE x.run_id = NEW.id AND NEW.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER runs_tally_delete AFTER DELETE ON runs BEGIN
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT project_id, day, status, owner, -1, -1 * nh, -1 * (v IS NOT NULL), -1 * coalesce(v, 0), -1 * coalesce(v * v, 0)
  FROM (SELECT OLD.project_id AS project_id, OLD.created_at / 86400000 AS day, OLD.status AS status, OLD.owner AS owner, OLD.hypothesis IS NULL AS nh, CASE WHEN OLD.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = OLD.project_id WHERE m.run_id = OLD.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v) WHERE OLD.deleted_at IS NULL
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, -1, -1 * fin, -1 * fail, -1 * (v IS NOT NULL), -1 * coalesce(v, 0), -1 * coalesce(v * v, 0)
  FROM (SELECT OLD.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, OLD.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, OLD.status = 'finished' AS fin, OLD.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN OLD.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = OLD.project_id WHERE m.run_id = OLD.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM run_params x WHERE x.run_id = OLD.id AND OLD.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER run_params_tally_insert AFTER INSERT ON run_params BEGIN
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, 1, 1 * fin, 1 * fail, 1 * (v IS NOT NULL), 1 * coalesce(v, 0), 1 * coalesce(v * v, 0)
  FROM (SELECT r.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, r.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, r.status = 'finished' AS fin, r.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM runs r, (SELECT NEW.key AS key, NEW.vtype AS vtype, NEW.num AS num, NEW.txt AS txt) x WHERE r.id = NEW.run_id AND r.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER run_params_tally_delete AFTER DELETE ON run_params BEGIN
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, -1, -1 * fin, -1 * fail, -1 * (v IS NOT NULL), -1 * coalesce(v, 0), -1 * coalesce(v * v, 0)
  FROM (SELECT r.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, r.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, r.status = 'finished' AS fin, r.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM runs r, (SELECT OLD.key AS key, OLD.vtype AS vtype, OLD.num AS num, OLD.txt AS txt) x WHERE r.id = OLD.run_id AND r.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER run_params_tally_update AFTER UPDATE ON run_params BEGIN
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, -1, -1 * fin, -1 * fail, -1 * (v IS NOT NULL), -1 * coalesce(v, 0), -1 * coalesce(v * v, 0)
  FROM (SELECT r.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, r.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, r.status = 'finished' AS fin, r.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM runs r, (SELECT OLD.key AS key, OLD.vtype AS vtype, OLD.num AS num, OLD.txt AS txt) x WHERE r.id = OLD.run_id AND r.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT project_id, key, value, owner, vtype, num, txt, 1, 1 * fin, 1 * fail, 1 * (v IS NOT NULL), 1 * coalesce(v, 0), 1 * coalesce(v * v, 0)
  FROM (SELECT r.project_id AS project_id, x.key AS key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, r.owner AS owner, x.vtype AS vtype, x.num AS num, x.txt AS txt, r.status = 'finished' AS fin, r.status IN ('failed', 'killed', 'crashed') AS fail, CASE WHEN r.status = 'finished' THEN (SELECT CASE WHEN m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END FROM metric_summaries m JOIN projects p ON p.id = r.project_id WHERE m.run_id = r.id AND m.key = json_extract(p.primary_metric, '$.key')) END AS v
        FROM runs r, (SELECT NEW.key AS key, NEW.vtype AS vtype, NEW.num AS num, NEW.txt AS txt) x WHERE r.id = NEW.run_id AND r.deleted_at IS NULL) WHERE true
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER metric_summaries_tally_insert AFTER INSERT ON metric_summaries BEGIN
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, 1 * (CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END IS NOT NULL), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END * CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id = NEW.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND NEW.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, x.vtype, x.num, x.txt, 0, 0, 0, 1 * (CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END IS NOT NULL), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END * CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id JOIN run_params x ON x.run_id = r.id WHERE r.id = NEW.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND NEW.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER metric_summaries_tally_delete AFTER DELETE ON metric_summaries BEGIN
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, -1 * (CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END IS NOT NULL), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END * CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id = OLD.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND OLD.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, x.vtype, x.num, x.txt, 0, 0, 0, -1 * (CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END IS NOT NULL), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END * CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id JOIN run_params x ON x.run_id = r.id WHERE r.id = OLD.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND OLD.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER metric_summaries_tally_update AFTER UPDATE ON metric_summaries WHEN OLD.last IS NOT NEW.last OR OLD.key IS NOT NEW.key OR OLD.run_id IS NOT NEW.run_id BEGIN
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, -1 * (CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END IS NOT NULL), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END * CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id = OLD.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND OLD.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, x.vtype, x.num, x.txt, 0, 0, 0, -1 * (CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END IS NOT NULL), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0), -1 * coalesce(CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END * CASE WHEN OLD.last BETWEEN -1.7e308 AND 1.7e308 THEN OLD.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id JOIN run_params x ON x.run_id = r.id WHERE r.id = OLD.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND OLD.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, 1 * (CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END IS NOT NULL), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END * CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id = NEW.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND NEW.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, x.vtype, x.num, x.txt, 0, 0, 0, 1 * (CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END IS NOT NULL), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0), 1 * coalesce(CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END * CASE WHEN NEW.last BETWEEN -1.7e308 AND 1.7e308 THEN NEW.last END, 0)
  FROM runs r JOIN projects p ON p.id = r.project_id JOIN run_params x ON x.run_id = r.id WHERE r.id = NEW.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND NEW.key = json_extract(p.primary_metric, '$.key')
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

CREATE TRIGGER projects_tally_metric AFTER UPDATE OF primary_metric ON projects WHEN json_extract(OLD.primary_metric, '$.key') IS NOT json_extract(NEW.primary_metric, '$.key') BEGIN
  UPDATE day_tally SET n = 0, total = 0, squares = 0 WHERE project_id = NEW.id;
  UPDATE param_tally SET n = 0, total = 0, squares = 0 WHERE project_id = NEW.id;
  INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
  SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, 0, 0, count(m.last), coalesce(sum(m.last), 0), coalesce(sum(m.last * m.last), 0)
  FROM runs r JOIN metric_summaries m ON m.run_id = r.id AND m.key = json_extract(NEW.primary_metric, '$.key')
  WHERE r.project_id = NEW.id AND r.deleted_at IS NULL AND r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308
  GROUP BY 1, 2, 3, 4
  ON CONFLICT (project_id, day, status, owner) DO UPDATE SET runs = runs + excluded.runs, no_hypothesis = no_hypothesis + excluded.no_hypothesis, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
  INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
  SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), 0, 0, 0, count(m.last), coalesce(sum(m.last), 0), coalesce(sum(m.last * m.last), 0)
  FROM runs r JOIN metric_summaries m ON m.run_id = r.id AND m.key = json_extract(NEW.primary_metric, '$.key')
  JOIN run_params x ON x.run_id = r.id
  WHERE r.project_id = NEW.id AND r.deleted_at IS NULL AND r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308
  GROUP BY 1, 2, 3, 4
  ON CONFLICT (project_id, key, value, owner) DO UPDATE SET runs = runs + excluded.runs, finished = finished + excluded.finished, failed = failed + excluded.failed, n = n + excluded.n, total = total + excluded.total, squares = squares + excluded.squares;
END;

-- The runs already stored.
INSERT INTO day_tally (project_id, day, status, owner, runs, no_hypothesis, n, total, squares)
SELECT r.project_id, r.created_at / 86400000, r.status, r.owner, count(*), sum(r.hypothesis IS NULL), count(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), coalesce(sum(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), 0), coalesce(sum((CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END) * (CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END)), 0)
FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = json_extract(p.primary_metric, '$.key') WHERE r.deleted_at IS NULL GROUP BY 1, 2, 3, 4;
INSERT INTO param_tally (project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares)
SELECT r.project_id, x.key, CASE WHEN x.vtype IN ('number', 'bool') THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END, r.owner, min(x.vtype), min(x.num), min(x.txt), count(*), sum(r.status = 'finished'), sum(r.status IN ('failed', 'killed', 'crashed')), count(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), coalesce(sum(CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END), 0), coalesce(sum((CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END) * (CASE WHEN r.status = 'finished' AND m.last BETWEEN -1.7e308 AND 1.7e308 THEN m.last END)), 0)
FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = json_extract(p.primary_metric, '$.key') JOIN run_params x ON x.run_id = r.id WHERE r.deleted_at IS NULL GROUP BY 1, 2, 3, 4;

