#!/usr/bin/env python3
"""Writes the tallies' SQL for both stores: SQLite row triggers and PostgreSQL statement
triggers hold the same rules, and a dozen trigger bodies are easier to keep consistent
generated than by hand. A released migration never changes (the script must write it
again byte for byte; `git diff` shows it): a later change is a new migration.

    python3 scripts/tally-migrations.py
      crates/cairn-store-*/migrations/0012_tallies.sql      the tallies and their triggers
      crates/cairn-store-*/migrations/0014_tally_hold.sql   the bulk path may hold the insert triggers
      crates/cairn-store-sql/src/store/batch_{tally,counts}.*.sql   ...and then tallies its batch at once
"""
import pathlib
import sys
DAY = "86400000"
FIN = "BETWEEN -1.7e308 AND 1.7e308"
FAILED = "('failed', 'killed', 'crashed')"
def ident(x):
    return (f"CASE WHEN {x}.vtype IN ('number', 'bool') THEN {x}.vtype || ':' || CAST({x}.num AS TEXT) "
            f"ELSE {x}.vtype || ':' || COALESCE({x}.txt, '') END")
DAYCOLS = "project_id, day, status, owner, runs, no_hypothesis, n, total, squares"
PARCOLS = ("project_id, key, value, owner, vtype, num, txt, runs, finished, failed, n, total, squares, "
           "hi, hi_run, lo, lo_run, gone, removed_hi, removed_lo")

def upserts(pg):
    q = (lambda c: f"param_tally.{c}") if pg else (lambda c: c)
    dq = (lambda c: f"day_tally.{c}") if pg else (lambda c: c)
    day = ("ON CONFLICT (project_id, day, status, owner) DO UPDATE SET "
           + ", ".join(f"{c} = {dq(c)} + excluded.{c}" for c in ["runs", "no_hypothesis", "n", "total", "squares"]))
    better_hi = f"excluded.hi IS NOT NULL AND ({q('hi')} IS NULL OR excluded.hi > {q('hi')} OR (excluded.hi = {q('hi')} AND excluded.hi_run < {q('hi_run')}))"
    better_lo = f"excluded.lo IS NOT NULL AND ({q('lo')} IS NULL OR excluded.lo < {q('lo')} OR (excluded.lo = {q('lo')} AND excluded.lo_run < {q('lo_run')}))"
    par = ("ON CONFLICT (project_id, key, value, owner) DO UPDATE SET "
           + ", ".join(f"{c} = {q(c)} + excluded.{c}" for c in ["runs", "finished", "failed", "n", "total", "squares"])
           + f", gone = CASE WHEN {q('gone')} = 1 OR excluded.gone = 1 OR (excluded.removed_hi IS NOT NULL AND ({q('hi')} IS NULL "
           f"OR excluded.removed_hi >= {q('hi')})) OR (excluded.removed_lo IS NOT NULL AND ({q('lo')} IS NULL OR excluded.removed_lo <= {q('lo')})) THEN 1 ELSE 0 END"
           + f", hi = CASE WHEN {better_hi} THEN excluded.hi ELSE {q('hi')} END"
           + f", hi_run = CASE WHEN {better_hi} THEN excluded.hi_run ELSE {q('hi_run')} END"
           + f", lo = CASE WHEN {better_lo} THEN excluded.lo ELSE {q('lo')} END"
           + f", lo_run = CASE WHEN {better_lo} THEN excluded.lo_run ELSE {q('lo_run')} END")
    return day, par

HEADER = """-- Schema version 12: tallies kept as runs are written, so a project's dashboard and
-- `tried` read a few aggregate rows instead of every run. Triggers keep them exact on
-- every write path: a run created (one, or a bulk thousand), finished, failed, deleted or
-- restored; a param written or rewritten; the primary metric's last value changing; the
-- project's primary metric changing (which counts that project again).
-- day_tally: live runs per project, creation day, status and owner, with the primary
-- metric's finite last values of finished runs (count, sum, sum of squares).
-- param_tally: the same per parameter value (grouped by meaning: `vtype:value`) and owner,
-- with the highest and lowest of those values and their runs (ties: the smaller short id).
-- Rows only accumulate signed changes. Taking away a value that was an extreme sets
-- `gone` (the extremes are then unknown, and readers find them another way);
-- `removed_hi`/`removed_lo` only carry a change's removed values into that test.
-- A row whose runs fall to zero stays, and readers skip it.
"""
def tables(pg):
    I, R, B = ("BIGINT", "DOUBLE PRECISION", "BIGINT") if pg else ("INTEGER", "REAL", "INTEGER")
    return f"""CREATE TABLE day_tally (
    project_id {I} NOT NULL,
    day {I} NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    runs {I} NOT NULL,
    no_hypothesis {I} NOT NULL,
    n {I} NOT NULL,
    total {R} NOT NULL,
    squares {R} NOT NULL,
    PRIMARY KEY (project_id, day, status, owner)
);
CREATE TABLE param_tally (
    project_id {I} NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    owner TEXT NOT NULL,
    vtype TEXT NOT NULL,
    num {R},
    txt TEXT,
    runs {I} NOT NULL,
    finished {I} NOT NULL,
    failed {I} NOT NULL,
    n {I} NOT NULL,
    total {R} NOT NULL,
    squares {R} NOT NULL,
    hi {R},
    hi_run TEXT,
    lo {R},
    lo_run TEXT,
    gone {I} NOT NULL,
    removed_hi {R},
    removed_lo {R},
    PRIMARY KEY (project_id, key, value, owner)
);
-- Failures newest first, and a project's replicate groups, without walking every run.
CREATE INDEX runs_project_status_created ON runs (project_id, status, created_at);
CREATE INDEX runs_project_group ON runs (project_id, group_id) WHERE group_id IS NOT NULL;
"""

def ext_row(s, v, short):
    """The extremes columns of one signed contribution of value v (SQL) by run short."""
    if s == "1":
        return f"{v}, CASE WHEN {v} IS NOT NULL THEN {short} END, {v}, CASE WHEN {v} IS NOT NULL THEN {short} END, 0, NULL, NULL"
    return f"NULL, NULL, NULL, NULL, CASE WHEN {v} IS NOT NULL THEN 1 ELSE 0 END, {v}, {v}"

def fill_select(pg, where, runs_cols, pk):
    """Aggregated rows for a set of runs (recount or the initial fill), extremes by window."""
    vv = f"CASE WHEN r.status = 'finished' AND m.last {FIN} THEN m.last END"
    frm = f"FROM runs r JOIN projects p ON p.id = r.project_id LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = {pk}"
    b = (lambda e: f"CAST({e} AS BIGINT)") if pg else (lambda e: e)
    rc_day = f"count(*), sum(CASE WHEN r.hypothesis IS NULL THEN 1 ELSE 0 END)" if runs_cols else "0, 0"
    day = (f"  INSERT INTO day_tally ({DAYCOLS})\n"
           f"  SELECT r.project_id, r.created_at / {DAY}, r.status, r.owner, {rc_day}, count({vv}), coalesce(sum({vv}), 0), coalesce(sum(({vv}) * ({vv})), 0)\n"
           f"  {frm} WHERE {where} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n")
    part = "PARTITION BY r.project_id, x.key, " + ident('x') + ", r.owner"
    inner = (f"SELECT r.project_id AS project_id, x.key AS key, {ident('x')} AS value, r.owner AS owner, x.vtype AS vtype, x.num AS num, "
             f"x.txt AS txt, r.status AS status, r.short_id AS short, {vv} AS v, "
             f"row_number() OVER ({part} ORDER BY ({vv}) IS NULL, {vv} DESC, r.short_id) AS up, "
             f"row_number() OVER ({part} ORDER BY ({vv}) IS NULL, {vv} ASC, r.short_id) AS down\n"
             f"    {frm} JOIN run_params x ON x.run_id = r.id WHERE {where}")
    rc_par = (f"count(*), sum(CASE WHEN status = 'finished' THEN 1 ELSE 0 END), sum(CASE WHEN status IN {FAILED} THEN 1 ELSE 0 END)"
              if runs_cols else "0, 0, 0")
    par = (f"  INSERT INTO param_tally ({PARCOLS})\n"
           f"  SELECT project_id, key, value, owner, min(vtype), min(num), min(txt), {rc_par}, count(v), coalesce(sum(v), 0), coalesce(sum(v * v), 0), "
           f"max(v), min(CASE WHEN up = 1 AND v IS NOT NULL THEN short END), min(v), min(CASE WHEN down = 1 AND v IS NOT NULL THEN short END), 0, NULL, NULL\n"
           f"  FROM ({inner}) t GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n")
    return day, par

def run_value(R, pk):
    """Run R's primary-metric value as the tallies count it (finished, finite last)."""
    return (f"CASE WHEN {R}.status = 'finished' THEN (SELECT CASE WHEN m.last {FIN} THEN m.last END "
            f"FROM metric_summaries m JOIN projects p ON p.id = {R}.project_id WHERE m.run_id = {R}.id AND m.key = {pk}) END")

def upserted(select, up):
    """An aggregate INSERT … SELECT from fill_select, adding onto the rows already there."""
    return select.replace("ORDER BY 1, 2, 3, 4\n", "ORDER BY 1, 2, 3, 4\n  " + up + ";\n")

def sqlite():
    day_up, par_up = upserts(False)
    pk = "json_extract(p.primary_metric, '$.key')"
    def v(R):
        return run_value(R, pk)
    def day(R, s):
        return (f"  INSERT INTO day_tally ({DAYCOLS})\n"
                f"  SELECT project_id, day, status, owner, {s}, {s} * nh, {s} * (v IS NOT NULL), {s} * coalesce(v, 0), {s} * coalesce(v * v, 0)\n"
                f"  FROM (SELECT {R}.project_id AS project_id, {R}.created_at / {DAY} AS day, {R}.status AS status, {R}.owner AS owner, "
                f"{R}.hypothesis IS NULL AS nh, {v(R)} AS v) WHERE {R}.deleted_at IS NULL\n  {day_up};\n")
    def par(R, X, s, xwhere):
        return (f"  INSERT INTO param_tally ({PARCOLS})\n"
                f"  SELECT project_id, key, value, owner, vtype, num, txt, {s}, {s} * fin, {s} * fail, {s} * (v IS NOT NULL), "
                f"{s} * coalesce(v, 0), {s} * coalesce(v * v, 0), {ext_row(s, 'v', 'short')}\n"
                f"  FROM (SELECT {R}.project_id AS project_id, x.key AS key, {ident('x')} AS value, {R}.owner AS owner, x.vtype AS vtype, "
                f"x.num AS num, x.txt AS txt, {R}.status = 'finished' AS fin, {R}.status IN {FAILED} AS fail, {R}.short_id AS short, {v(R)} AS v\n"
                f"        FROM {X} WHERE {xwhere}) WHERE true\n  {par_up};\n")
    out = [HEADER + tables(False)]
    changed = ("OLD.status IS NOT NEW.status OR OLD.deleted_at IS NOT NEW.deleted_at OR OLD.created_at IS NOT NEW.created_at "
               "OR (OLD.hypothesis IS NULL) IS NOT (NEW.hypothesis IS NULL) OR OLD.owner IS NOT NEW.owner "
               "OR OLD.project_id IS NOT NEW.project_id OR OLD.short_id IS NOT NEW.short_id")
    out.append("CREATE TRIGGER runs_tally_insert AFTER INSERT ON runs BEGIN\n" + day("NEW", "1")
               + par("NEW", "run_params x", "1", "x.run_id = NEW.id AND NEW.deleted_at IS NULL") + "END;\n")
    out.append(f"CREATE TRIGGER runs_tally_update AFTER UPDATE ON runs WHEN {changed} BEGIN\n" + day("OLD", "-1") + day("NEW", "1")
               + par("OLD", "run_params x", "-1", "x.run_id = OLD.id AND OLD.deleted_at IS NULL")
               + par("NEW", "run_params x", "1", "x.run_id = NEW.id AND NEW.deleted_at IS NULL") + "END;\n")
    out.append("CREATE TRIGGER runs_tally_delete AFTER DELETE ON runs BEGIN\n" + day("OLD", "-1")
               + par("OLD", "run_params x", "-1", "x.run_id = OLD.id AND OLD.deleted_at IS NULL") + "END;\n")
    def param_src(P, s):
        return par("r", f"runs r, (SELECT {P}.key AS key, {P}.vtype AS vtype, {P}.num AS num, {P}.txt AS txt) x",
                   s, f"r.id = {P}.run_id AND r.deleted_at IS NULL")
    out.append("CREATE TRIGGER run_params_tally_insert AFTER INSERT ON run_params BEGIN\n" + param_src("NEW", "1") + "END;\n")
    out.append("CREATE TRIGGER run_params_tally_delete AFTER DELETE ON run_params BEGIN\n" + param_src("OLD", "-1") + "END;\n")
    out.append("CREATE TRIGGER run_params_tally_update AFTER UPDATE ON run_params BEGIN\n" + param_src("OLD", "-1")
               + param_src("NEW", "1") + "END;\n")
    def mdelta(M, s):
        val = f"CASE WHEN {M}.last {FIN} THEN {M}.last END"
        cond = f"r.id = {M}.run_id AND r.deleted_at IS NULL AND r.status = 'finished' AND {M}.key = {pk}"
        d = (f"  INSERT INTO day_tally ({DAYCOLS})\n"
             f"  SELECT r.project_id, r.created_at / {DAY}, r.status, r.owner, 0, 0, {s} * ({val} IS NOT NULL), "
             f"{s} * coalesce({val}, 0), {s} * coalesce({val} * {val}, 0)\n"
             f"  FROM runs r JOIN projects p ON p.id = r.project_id WHERE {cond}\n  {day_up};\n")
        q = (f"  INSERT INTO param_tally ({PARCOLS})\n"
             f"  SELECT r.project_id, x.key, {ident('x')}, r.owner, x.vtype, x.num, x.txt, 0, 0, 0, {s} * ({val} IS NOT NULL), "
             f"{s} * coalesce({val}, 0), {s} * coalesce({val} * {val}, 0), {ext_row(s, val, 'r.short_id')}\n"
             f"  FROM runs r JOIN projects p ON p.id = r.project_id JOIN run_params x ON x.run_id = r.id WHERE {cond}\n  {par_up};\n")
        return d + q
    out.append("CREATE TRIGGER metric_summaries_tally_insert AFTER INSERT ON metric_summaries BEGIN\n" + mdelta("NEW", "1") + "END;\n")
    out.append("CREATE TRIGGER metric_summaries_tally_delete AFTER DELETE ON metric_summaries BEGIN\n" + mdelta("OLD", "-1") + "END;\n")
    out.append("CREATE TRIGGER metric_summaries_tally_update AFTER UPDATE ON metric_summaries "
               "WHEN OLD.last IS NOT NEW.last OR OLD.key IS NOT NEW.key OR OLD.run_id IS NOT NEW.run_id BEGIN\n"
               + mdelta("OLD", "-1") + mdelta("NEW", "1") + "END;\n")
    rday, rpar = fill_select(False, "r.project_id = NEW.id AND r.deleted_at IS NULL AND r.status = 'finished'", False, pk)
    out.append("CREATE TRIGGER projects_tally_metric AFTER UPDATE OF primary_metric ON projects "
               "WHEN json_extract(OLD.primary_metric, '$.key') IS NOT json_extract(NEW.primary_metric, '$.key') BEGIN\n"
               "  UPDATE day_tally SET n = 0, total = 0, squares = 0 WHERE project_id = NEW.id;\n"
               "  UPDATE param_tally SET n = 0, total = 0, squares = 0, hi = NULL, hi_run = NULL, lo = NULL, lo_run = NULL, gone = 0 "
               "WHERE project_id = NEW.id;\n"
               + upserted(rday, day_up)
               + upserted(rpar, par_up) + "END;\n")
    fday, fpar = fill_select(False, "r.deleted_at IS NULL", True, pk)
    out.append("-- The runs already stored.\n" + (fday + ";\n" + fpar + ";\n").replace("\n  ", "\n").replace("\n;", ";"))
    return out

def pg():
    day_up, par_up = upserts(True)
    pk = "(p.primary_metric::jsonb ->> 'key')"
    def v(R):
        return run_value(R, pk)
    def runs_rows(src, sign, where):
        return (f"SELECT {src}.id, {src}.project_id, {src}.created_at / {DAY} AS day, {src}.status, {src}.owner, {src}.short_id AS short, "
                f"{sign} AS s, CASE WHEN {src}.hypothesis IS NULL THEN 1 ELSE 0 END AS nh, {src}.status = 'finished' AS fin, "
                f"{src}.status IN {FAILED} AS fail, {v(src)} AS v FROM {where}")
    def ext_agg(s, v, short):
        return (f"max({v}) FILTER (WHERE {s} > 0), (array_agg({short} ORDER BY {v} DESC, {short}) FILTER (WHERE {s} > 0 AND {v} IS NOT NULL))[1], "
                f"min({v}) FILTER (WHERE {s} > 0), (array_agg({short} ORDER BY {v} ASC, {short}) FILTER (WHERE {s} > 0 AND {v} IS NOT NULL))[1], "
                f"CASE WHEN count({v}) FILTER (WHERE {s} < 0) > 0 THEN 1 ELSE 0 END, "
                f"max({v}) FILTER (WHERE {s} < 0), min({v}) FILTER (WHERE {s} < 0)")
    def apply(d):
        return (f"  WITH d AS ({d})\n"
                f"  INSERT INTO day_tally ({DAYCOLS})\n"
                f"  SELECT project_id, day, status, owner, sum(s), sum(s * nh), sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0)\n"
                f"  FROM d GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  {day_up};\n"
                f"  WITH d AS ({d})\n"
                f"  INSERT INTO param_tally ({PARCOLS})\n"
                f"  SELECT d.project_id, x.key, {ident('x')}, d.owner, min(x.vtype), min(x.num), min(x.txt), sum(s), sum(s * fin::int), sum(s * fail::int), "
                f"sum(s * (v IS NOT NULL)::int), coalesce(sum(s * v), 0), coalesce(sum(s * v * v), 0), {ext_agg('s', 'v', 'd.short')}\n"
                f"  FROM d JOIN run_params x ON x.run_id = d.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  {par_up};\n")
    def apply_params(p):
        return (f"  WITH x AS ({p})\n"
                f"  INSERT INTO param_tally ({PARCOLS})\n"
                f"  SELECT r.project_id, x.key, {ident('x')}, r.owner, min(x.vtype), min(x.num), min(x.txt), sum(x.s), "
                f"sum(x.s * (r.status = 'finished')::int), sum(x.s * (r.status IN {FAILED})::int), "
                f"sum(x.s * ((v.v) IS NOT NULL)::int), coalesce(sum(x.s * v.v), 0), coalesce(sum(x.s * v.v * v.v), 0), {ext_agg('x.s', 'v.v', 'r.short_id')}\n"
                f"  FROM x JOIN runs r ON r.id = x.run_id AND r.deleted_at IS NULL CROSS JOIN LATERAL (SELECT {v('r')} AS v) v\n"
                f"  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  {par_up};\n")
    def apply_metric(mm):
        val = f"(CASE WHEN mm.last {FIN} THEN mm.last END)"
        base = (f"FROM mm JOIN runs r ON r.id = mm.run_id AND r.deleted_at IS NULL AND r.status = 'finished' "
                f"JOIN projects p ON p.id = r.project_id AND mm.key = {pk}")
        return (f"  WITH mm AS ({mm})\n"
                f"  INSERT INTO day_tally ({DAYCOLS})\n"
                f"  SELECT r.project_id, r.created_at / {DAY}, r.status, r.owner, 0, 0, sum(mm.s * ({val} IS NOT NULL)::int), "
                f"coalesce(sum(mm.s * {val}), 0), coalesce(sum(mm.s * {val} * {val}), 0)\n"
                f"  {base} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  {day_up};\n"
                f"  WITH mm AS ({mm})\n"
                f"  INSERT INTO param_tally ({PARCOLS})\n"
                f"  SELECT r.project_id, x.key, {ident('x')}, r.owner, min(x.vtype), min(x.num), min(x.txt), 0, 0, 0, "
                f"sum(mm.s * ({val} IS NOT NULL)::int), coalesce(sum(mm.s * {val}), 0), coalesce(sum(mm.s * {val} * {val}), 0), "
                f"{ext_agg('mm.s', val, 'r.short_id')}\n"
                f"  {base} JOIN run_params x ON x.run_id = r.id GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  {par_up};\n")
    out = [HEADER.replace("Triggers keep", "Statement triggers (over transition tables, so a bulk insert updates each tally row\n-- once, in key order, and concurrent writers lock rows in one order) keep") + tables(True)]
    changed = ("(o.status IS DISTINCT FROM n.status OR o.deleted_at IS DISTINCT FROM n.deleted_at OR o.created_at <> n.created_at "
               "OR (o.hypothesis IS NULL) <> (n.hypothesis IS NULL) OR o.owner <> n.owner OR o.project_id <> n.project_id "
               "OR o.short_id <> n.short_id)")
    def fn(name, body):
        return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n{body}  RETURN NULL;\nEND\n$fn$;\n"
    out.append(fn("cairn_tally_runs_insert", apply(runs_rows("n", "1", "new_rows n WHERE n.deleted_at IS NULL"))))
    out.append(fn("cairn_tally_runs_update", apply(
        runs_rows("o", "-1", f"old_rows o JOIN new_rows n ON n.id = o.id WHERE o.deleted_at IS NULL AND {changed}")
        + " UNION ALL "
        + runs_rows("n", "1", f"new_rows n JOIN old_rows o ON o.id = n.id WHERE n.deleted_at IS NULL AND {changed}"))))
    out.append(fn("cairn_tally_runs_delete", apply(runs_rows("o", "-1", "old_rows o WHERE o.deleted_at IS NULL"))))
    P = "SELECT run_id, key, vtype, num, txt, {s} AS s FROM {t}"
    out.append(fn("cairn_tally_params_insert", apply_params(P.format(s=1, t="new_rows"))))
    out.append(fn("cairn_tally_params_delete", apply_params(P.format(s=-1, t="old_rows"))))
    out.append(fn("cairn_tally_params_update", apply_params(P.format(s=-1, t="old_rows") + " UNION ALL " + P.format(s=1, t="new_rows"))))
    M = "SELECT run_id, key, last, {s} AS s FROM {t}"
    out.append(fn("cairn_tally_metrics_insert", apply_metric(M.format(s=1, t="new_rows"))))
    out.append(fn("cairn_tally_metrics_delete", apply_metric(M.format(s=-1, t="old_rows"))))
    out.append(fn("cairn_tally_metrics_update", apply_metric(
        "SELECT o.run_id, o.key, o.last, -1 AS s FROM old_rows o JOIN new_rows n ON n.run_id = o.run_id AND n.key = o.key "
        "WHERE o.last IS DISTINCT FROM n.last UNION ALL "
        "SELECT n.run_id, n.key, n.last, 1 AS s FROM new_rows n JOIN old_rows o ON o.run_id = n.run_id AND o.key = n.key "
        "WHERE o.last IS DISTINCT FROM n.last")))
    for table, short in [("runs", "runs"), ("run_params", "params"), ("metric_summaries", "metrics")]:
        for ev, ref in [("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows")]:
            out.append(f"CREATE TRIGGER {table}_tally_{ev.lower()} AFTER {ev} ON {table} REFERENCING {ref} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION cairn_tally_{short}_{ev.lower()}();\n")
    rday, rpar = fill_select(True, "r.project_id = NEW.id AND r.deleted_at IS NULL AND r.status = 'finished'", False, pk)
    out.append(fn("cairn_tally_primary_metric",
        "  IF (OLD.primary_metric::jsonb ->> 'key') IS NOT DISTINCT FROM (NEW.primary_metric::jsonb ->> 'key') THEN RETURN NULL; END IF;\n"
        "  UPDATE day_tally SET n = 0, total = 0, squares = 0 WHERE project_id = NEW.id;\n"
        "  UPDATE param_tally SET n = 0, total = 0, squares = 0, hi = NULL, hi_run = NULL, lo = NULL, lo_run = NULL, gone = 0 "
        "WHERE project_id = NEW.id;\n"
        + upserted(rday, day_up)
        + upserted(rpar, par_up)))
    out.append("CREATE TRIGGER projects_tally_metric AFTER UPDATE OF primary_metric ON projects FOR EACH ROW EXECUTE FUNCTION cairn_tally_primary_metric();\n")
    fday, fpar = fill_select(True, "r.deleted_at IS NULL", True, pk)
    out.append("-- The runs already stored.\n" + (fday + ";\n" + fpar + ";\n").replace("\n  ", "\n").replace("\n;", ";"))
    return out

INSERT_TRIGGERS = [("runs", "runs"), ("run_params", "params"), ("metric_summaries", "metrics")]
HOLD_HEADER = """-- Schema version 14: a bulk write (a thousand runs from the batch API, an import or a
-- sweep) holds the tallies' insert triggers inside its own transaction and then tallies
-- the whole batch with one aggregate statement per tally (batch_tally.*.sql), instead of
-- a trigger firing per param row.
-- Only that transaction is held: """

def hold_sqlite(pieces):
    out = [HOLD_HEADER + """its row in `tally_hold` is deleted before it commits,
-- and SQLite has one writer at a time.
CREATE TABLE tally_hold (held INTEGER PRIMARY KEY);
"""]
    for table, _ in INSERT_TRIGGERS:
        head = f"CREATE TRIGGER {table}_tally_insert AFTER INSERT ON {table} BEGIN\n"
        [body] = [x for x in pieces if x.startswith(head)]
        out.append(f"DROP TRIGGER {table}_tally_insert;\n"
                   + body.replace(head, f"CREATE TRIGGER {table}_tally_insert AFTER INSERT ON {table} "
                                        "WHEN NOT EXISTS (SELECT 1 FROM tally_hold) BEGIN\n"))
    return "\n".join(out)

def hold_pg(pieces):
    out = [HOLD_HEADER + """it sets `cairn.tally_hold` with SET LOCAL, which no
-- other transaction sees and which ends with it.
"""]
    for _, short in INSERT_TRIGGERS:
        head = f"CREATE FUNCTION cairn_tally_{short}_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n"
        [body] = [x for x in pieces if x.startswith(head)]
        out.append(body.replace(head, head.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
                                + "  IF current_setting('cairn.tally_hold', true) = 'on' THEN RETURN NULL; END IF;\n"))
    return "\n".join(out)

BATCH_WHERE = "r.id IN ({ids}) AND r.deleted_at IS NULL"

def batch(pg):
    """The tallies of a batch of new runs (ids bound where `{ids}` stands), added to the
    rows already there: the initial fill's aggregates, restricted to the batch, upserted.
    Then the same when no run of the batch has its project's primary metric: counts only
    (the extremes' windows are most of the work, and there is nothing to judge)."""
    day_up, par_up = upserts(pg)
    pk = "(p.primary_metric::jsonb ->> 'key')" if pg else "json_extract(p.primary_metric, '$.key')"
    bday, bpar = fill_select(pg, BATCH_WHERE, True, pk)
    head = ("-- Generated by scripts/tally-migrations.py: the tallies of a bulk write's runs, added\n"
            "-- to the rows already there (statements end with ';' and a line break).\n")
    judged = (head + upserted(bday, day_up)
              + upserted(bpar, par_up))
    counts = (head +
              f"  INSERT INTO day_tally ({DAYCOLS})\n"
              f"  SELECT r.project_id, r.created_at / {DAY}, r.status, r.owner, count(*), "
              f"sum(CASE WHEN r.hypothesis IS NULL THEN 1 ELSE 0 END), 0, 0, 0\n"
              f"  FROM runs r WHERE {BATCH_WHERE} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n  {day_up};\n"
              f"  INSERT INTO param_tally ({PARCOLS})\n"
              f"  SELECT r.project_id, x.key, {ident('x')}, r.owner, min(x.vtype), min(x.num), min(x.txt), count(*), "
              f"sum(CASE WHEN r.status = 'finished' THEN 1 ELSE 0 END), sum(CASE WHEN r.status IN {FAILED} THEN 1 ELSE 0 END), "
              f"0, 0, 0, NULL, NULL, NULL, NULL, 0, NULL, NULL\n"
              f"  FROM runs r JOIN run_params x ON x.run_id = r.id WHERE {BATCH_WHERE} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4\n"
              f"  {par_up};\n")
    return judged, counts

root = pathlib.Path(__file__).resolve().parent.parent
lite, post = sqlite(), pg()
(root / "crates/cairn-store-sqlite/migrations/0012_tallies.sql").write_text("\n".join(lite))
(root / "crates/cairn-store-postgres/migrations/0012_tallies.sql").write_text("\n".join(post))
(root / "crates/cairn-store-sqlite/migrations/0014_tally_hold.sql").write_text(hold_sqlite(lite))
(root / "crates/cairn-store-postgres/migrations/0014_tally_hold.sql").write_text(hold_pg(post))
for pg, name in [(False, "sqlite"), (True, "postgres")]:
    judged, counts = batch(pg)
    (root / f"crates/cairn-store-sql/src/store/batch_tally.{name}.sql").write_text(judged)
    (root / f"crates/cairn-store-sql/src/store/batch_counts.{name}.sql").write_text(counts)
