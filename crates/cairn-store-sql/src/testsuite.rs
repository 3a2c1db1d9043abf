//! Checks of the relational store that need SQL of their own (triggers, migrations),
//! written once and run by the SQLite and PostgreSQL crates' tests.

use crate::SqlStore;
use cairn_store::{MetadataStore, RunQuery, RunRecord};

/// The audit log's triggers refuse UPDATE and DELETE, and the entry stays as written.
pub async fn audit_log_refuses_changes_and_removals(store: &SqlStore) {
    let entry = cairn_domain::auth::AuditEntry {
        id: 0,
        at: 1,
        actor: "ana".into(),
        token: None,
        address: None,
        action: "POST /api/v1/runs".into(),
        project: None,
        status: 201,
        details: None,
    };
    store.append_audit(&entry).await.unwrap();
    let update = sqlx::query("UPDATE audit_log SET actor = 'someone else'").execute(store.pool()).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log").execute(store.pool()).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(store.query_audit(&Default::default()).await.unwrap()[0].actor, "ana");
}

/// Leaves `store` as schema 8 left it: a run whose param text is indexed as text, and
/// the version set back to 8, so that reopening it migrates to 9 again. Closes it.
pub async fn index_param_text_as_schema_8_did(store: SqlStore) {
    let mut r = cairn_store::testsuite::sample_run("p", &[]);
    r.config = serde_json::json!({"lr": "1e-3", "opt": "adam"}).as_object().unwrap().clone();
    store.create_project(&cairn_domain::NewProject { name: "p".into(), ..Default::default() }, 0).await.unwrap();
    store.create_run(&RunRecord { run: r }).await.unwrap();
    // Schema 12's tallies and their triggers, as a schema-8 store lacks them.
    let triggers = [
        ("runs", "runs_tally_insert"),
        ("runs", "runs_tally_update"),
        ("runs", "runs_tally_delete"),
        ("run_params", "run_params_tally_insert"),
        ("run_params", "run_params_tally_update"),
        ("run_params", "run_params_tally_delete"),
        ("metric_summaries", "metric_summaries_tally_insert"),
        ("metric_summaries", "metric_summaries_tally_update"),
        ("metric_summaries", "metric_summaries_tally_delete"),
        ("projects", "projects_tally_metric"),
    ];
    let mut drop = String::new();
    for (table, trigger) in triggers {
        drop.push_str(&match store.dialect {
            crate::Dialect::Sqlite => format!("DROP TRIGGER {trigger};"),
            crate::Dialect::Postgres => format!("DROP TRIGGER {trigger} ON {table};"),
        });
    }
    if store.dialect == crate::Dialect::Postgres {
        for f in ["runs", "params", "metrics"]
            .iter()
            .flat_map(|t| ["insert", "update", "delete"].map(|e| format!("{t}_{e}")))
        {
            drop.push_str(&format!("DROP FUNCTION cairn_tally_{f}();"));
        }
        drop.push_str("DROP FUNCTION cairn_tally_primary_metric();");
    } else {
        drop.push_str("DROP TABLE tally_hold;");
    }
    drop.push_str(
        "DROP TABLE day_tally; DROP TABLE param_tally; DROP INDEX runs_project_status_created; DROP INDEX runs_project_group; \
         DROP INDEX runs_name;",
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(store.pool()).await.unwrap();
    sqlx::raw_sql(
        "UPDATE run_params SET vtype = 'text', num = NULL WHERE key = 'lr';
         DROP TABLE run_logs; DROP TABLE settings; DROP TABLE leases; DROP TABLE agents;
         DROP TABLE job_events; DROP TABLE job_spans; DROP TABLE jobs;
         DROP INDEX runs_heartbeat;
         ALTER TABLE runs DROP COLUMN heartbeat_at;
         ALTER TABLE metric_batches DROP COLUMN digest;
         UPDATE cairn_meta SET value = '8' WHERE key = 'schema_version';",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
}

/// After [`index_param_text_as_schema_8_did`] and a reopen: the text reads as what it means.
pub async fn param_text_is_read_after_migrating(store: &SqlStore) {
    let search = |f: &str| RunQuery { filter: cairn_query::parse_filter(f).unwrap(), ..Default::default() };
    assert_eq!(
        store.search_runs(&search("params.lr < 0.01")).await.unwrap().runs.len(),
        1,
        "1e-3 is read as 0.001 once migrated"
    );
    assert_eq!(
        store.search_runs(&search("params.opt = 'adam'")).await.unwrap().runs.len(),
        1,
        "text that means text stays text"
    );
}

/// The tallies kept by triggers give `tried` and the dashboard exactly what a pass over
/// the runs gives, after every kind of write: bulk and single creation, status changes,
/// deletion and restoring, a metric's last value changing, a config rewritten, and the
/// primary metric changing. Both ways of reading a value's runs (the param index and
/// the walks) are compared.
pub async fn tallies_match_the_runs(store: &SqlStore) {
    use cairn_domain::{MetricKey, MetricSeries, ProjectName, RunStatus};
    let p = ProjectName::parse("tally").unwrap();
    let p = &p;
    store.create_project(&cairn_domain::NewProject { name: "tally".into(), ..Default::default() }, 0).await.unwrap();
    let acc = MetricKey::parse("acc").unwrap();
    let series = |v: f64| {
        let mut s = MetricSeries::default();
        s.push(0, v / 2.0, 1);
        s.push(1, v, 2);
        s
    };
    let augs = ["none", "mixup", "cutout"];
    let statuses =
        [RunStatus::Finished, RunStatus::Finished, RunStatus::Failed, RunStatus::Running, RunStatus::Crashed];
    let owners = ["ana", "bo", "cy"];
    let make_bulk = |from: usize, to: usize| {
        let mut bulk = Vec::new();
        for i in from..to {
            let mut run = cairn_store::testsuite::sample_run("tally", &[]);
            let mut config = serde_json::json!({"lr": 0.001 * (i % 7) as f64, "batch": 16 << (i % 3)});
            if i % 4 != 0 {
                config["aug"] = serde_json::json!(augs[i % 3]);
            }
            if i % 9 == 0 {
                config["flag"] = serde_json::json!(i % 2 == 0);
            }
            run.config = config.as_object().cloned().unwrap();
            run.status = statuses[i % 5];
            run.owner = owners[i % 3].into();
            run.created_at = 1_000 + (i as i64 % 13) * 86_400_000 + i as i64;
            run.group_id = (i % 6 == 0).then(|| format!("g{}", i % 12));
            if run.status == RunStatus::Failed {
                run.tags.insert("cairn.failure".into(), format!("reason {i}"));
            }
            let metrics = if i % 8 == 5 { vec![] } else { vec![(acc.clone(), series(0.5 + (i % 11) as f64 / 20.0))] };
            bulk.push(cairn_store::BulkRun { run, metrics });
        }
        bulk
    };
    let bulk = make_bulk(0, 60);
    store.create_runs(&bulk).await.unwrap();
    let ids: Vec<_> = bulk.iter().map(|b| b.run.id).collect();
    let one = store.create_run(&RunRecord { run: cairn_store::testsuite::sample_run("tally", &[]) }).await.unwrap();
    let compare = |what: &'static str| async move {
        let project = store.get_project(p).await.unwrap();
        let pid: i64 =
            sqlx::query_scalar("SELECT id FROM projects WHERE name = 'tally'").fetch_one(store.pool()).await.unwrap();
        let metric = project.primary_metric.as_ref().map(|m| m.key.clone());
        let judge = project.primary_metric.as_ref().map(|m| (m.key.as_str(), m.direction));
        for key in ["aug", "lr", "batch", "flag", "seed", "nothing"] {
            let mut live = store.param_values_live(p, key, metric.as_deref(), 200).await.unwrap();
            live.groups.sort_by(|a, b| a.value.cmp(&b.value));
            for small in [0, u64::MAX] {
                let mut tallied = store.param_values_tallied(pid, key, judge, 200, small).await.unwrap();
                tallied.groups.sort_by(|a, b| a.value.cmp(&b.value));
                assert_eq!(tallied.values_total, live.values_total, "{what}: {key} values");
                assert_eq!(tallied.key_seen, live.key_seen, "{what}: {key} seen");
                assert_eq!(tallied.groups.len(), live.groups.len(), "{what}: {key} groups");
                for (t, l) in tallied.groups.iter().zip(&live.groups) {
                    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                        (a, b) => a == b,
                    };
                    assert!(close(t.mean, l.mean) && close(t.sd, l.sd), "{what}: {key}={:?} {t:?} {l:?}", t.value);
                    // The tallies' side reads only the judged extreme.
                    let judged = |g: &cairn_store::ParamGroup| match judge.map(|j| j.1) {
                        Some(cairn_domain::Direction::Decrease) => (g.min.clone(), None),
                        _ => (None, g.max.clone()),
                    };
                    let strip = |g: &cairn_store::ParamGroup| cairn_store::ParamGroup {
                        mean: None,
                        sd: None,
                        min: judged(g).0,
                        max: judged(g).1,
                        ..g.clone()
                    };
                    assert_eq!(strip(t), strip(l), "{what}: {key}={:?} (small {small})", t.value);
                }
            }
        }
        let summary = store.project_summary(p, 0, None).await.unwrap();
        let live = store.count_runs(&RunQuery { project: Some(p.clone()), ..Default::default() }).await.unwrap();
        assert_eq!(summary.runs, live, "{what}: runs");
        assert_eq!(summary.per_day.iter().map(|d| d.1).sum::<u64>(), live, "{what}: per day");
        for (status, n) in &summary.by_status {
            let q = RunQuery {
                project: Some(p.clone()),
                filter: cairn_query::parse_filter(&format!("status = \"{status}\"")).unwrap(),
                ..Default::default()
            };
            assert_eq!(*n, store.count_runs(&q).await.unwrap(), "{what}: {status}");
        }
    };
    compare("created, no primary metric").await;
    let primary = cairn_domain::PrimaryMetric { key: "acc".into(), direction: cairn_domain::Direction::Increase };
    let patch = cairn_domain::ProjectPatch { primary_metric: Some(primary), ..Default::default() };
    store.update_project(p, &patch, 5).await.unwrap();
    compare("primary metric set").await;
    // A bulk write tallies its batch at once, onto rows that already hold values.
    store.create_runs(&make_bulk(60, 90)).await.unwrap();
    compare("bulk with a primary metric").await;
    let finish = cairn_store::RunUpdate { status: Some(RunStatus::Finished), ..Default::default() };
    store.update_run(ids[3], &finish, 10).await.unwrap();
    store.update_run(ids[8], &finish, 10).await.unwrap();
    store.update_run(one.id, &finish, 10).await.unwrap();
    let fail = cairn_store::RunUpdate { status: Some(RunStatus::Failed), ..Default::default() };
    store.update_run(ids[0], &fail, 10).await.unwrap();
    compare("statuses changed").await;
    store.delete_run(ids[1], 20).await.unwrap();
    store.delete_run(ids[6], 20).await.unwrap();
    store.restore_run(ids[6], 21).await.unwrap();
    compare("deleted and restored").await;
    store
        .log_metrics(
            ids[10],
            &[(acc.clone(), {
                let mut s = MetricSeries::default();
                s.push(5, 0.123, 9);
                s
            })],
            None,
        )
        .await
        .unwrap();
    store.log_metrics(ids[13], &[(acc.clone(), series(0.77))], None).await.unwrap();
    compare("metrics changed").await;
    let mut config = serde_json::Map::new();
    config.insert("aug".into(), serde_json::json!("mixup"));
    let rewrite = cairn_store::RunUpdate { config: Some(config), ..Default::default() };
    store.update_run(ids[2], &rewrite, 30).await.unwrap();
    compare("config rewritten").await;
    let primary = cairn_domain::PrimaryMetric { key: "loss".into(), direction: cairn_domain::Direction::Decrease };
    let patch = cairn_domain::ProjectPatch { primary_metric: Some(primary), ..Default::default() };
    store.update_project(p, &patch, 40).await.unwrap();
    compare("another primary metric").await;

    // A large project's progress line (sampled): oldest first, and it holds the best
    // run either way, so a best-so-far line ends exactly there.
    let pid: i64 =
        sqlx::query_scalar("SELECT id FROM projects WHERE name = 'tally'").fetch_one(store.pool()).await.unwrap();
    let line = store.sampled_progress(pid, "acc").await.unwrap();
    assert!(line.windows(2).all(|w| w[0].3 <= w[1].3), "oldest first");
    let all = store.project_summary(p, 0, Some("acc")).await.unwrap().progress;
    let top = |l: &[(cairn_domain::RunId, cairn_domain::ShortId, String, i64, f64)]| {
        l.iter().map(|x| x.4).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    assert_eq!(top(&line), top(&all), "the extremes are in the sample");
}

/// Group statistics computed in the store agree with grouping the runs by hand: by a
/// param (values grouped by meaning: `0.001` and `"1e-3"` are one), a tag, an
/// attribute; of a metric's last value, its maximum, a time; with and without a filter.
pub async fn group_stats_match_the_runs(store: &SqlStore) {
    use cairn_domain::{MetricKey, MetricSeries, ProjectName, RunStatus};
    use cairn_query::Field;
    let p = ProjectName::parse("grp").unwrap();
    store.create_project(&cairn_domain::NewProject { name: "grp".into(), ..Default::default() }, 0).await.unwrap();
    let acc = MetricKey::parse("acc").unwrap();
    let mut bulk = Vec::new();
    for i in 0..40usize {
        let mut run = cairn_store::testsuite::sample_run("grp", &[]);
        let lr = match i % 4 {
            0 => serde_json::json!(0.001),
            1 => serde_json::json!("1e-3"),
            2 => serde_json::json!(0.01),
            _ => serde_json::json!(32),
        };
        let mut config = serde_json::json!({"lr": lr, "flag": i % 3 == 0});
        if i % 5 != 0 {
            config["aug"] = serde_json::json!(["none", "mixup"][i % 2]);
        }
        run.config = config.as_object().cloned().unwrap();
        run.status = [RunStatus::Finished, RunStatus::Failed, RunStatus::Finished][i % 3];
        run.created_at = 1_000 + i as i64 * 7;
        if i % 6 != 0 {
            run.tags.insert("team".into(), ["vision", "speech"][i % 2].into());
        }
        let metrics = if i % 7 == 3 {
            vec![]
        } else {
            let mut s = MetricSeries::default();
            s.push(0, 0.3 + i as f64 / 100.0, 1);
            s.push(1, 0.9 + (i % 5) as f64 / 1000.0, 2);
            vec![(acc.clone(), s)]
        };
        bulk.push(cairn_store::BulkRun { run, metrics });
    }
    store.create_runs(&bulk).await.unwrap();
    let runs = &bulk;
    let key_of = |b: &cairn_store::BulkRun, by: &Field| -> serde_json::Value {
        match by {
            Field::Param(k) => match b.run.config.get(k) {
                Some(serde_json::Value::String(s)) if s == "1e-3" => serde_json::json!(0.001),
                Some(v) => v.clone(),
                None => serde_json::Value::Null,
            },
            Field::Tag(k) => b.run.tags.get(k).map_or(serde_json::Value::Null, |v| serde_json::json!(v)),
            Field::Attr(cairn_query::Attr::Status) => serde_json::json!(b.run.status.as_str()),
            _ => unreachable!(),
        }
    };
    let value_of = |b: &cairn_store::BulkRun, of: &Field| -> Option<f64> {
        let s = b.metrics.first().map(|m| &m.1);
        match of {
            Field::Metric { agg: cairn_query::MetricAgg::Last, .. } => s.map(|s| *s.values.last().unwrap()),
            Field::Metric { agg: cairn_query::MetricAgg::Max, .. } => {
                s.map(|s| s.values.iter().copied().fold(f64::MIN, f64::max))
            }
            Field::Attr(cairn_query::Attr::Created) => Some(b.run.created_at as f64),
            _ => unreachable!(),
        }
    };
    let field = |t: &str| cairn_query::parse_order(t).unwrap().remove(0).field;
    for (by, of, filter) in [
        ("params.lr", "metrics.acc", None),
        ("params.aug", "max(metrics.acc)", None),
        ("tags.team", "metrics.acc", Some("status = \"finished\"")),
        ("status", "created", None),
        ("params.flag", "metrics.acc", Some("params.lr > 0.005")),
    ] {
        let (by, of) = (field(by), field(of));
        let parsed = filter.map(|f| cairn_query::parse_filter(f).unwrap().unwrap());
        let got = store.group_stats(&p, parsed.as_ref(), &by, &of).await.unwrap();
        let chosen: Vec<&cairn_store::BulkRun> = runs
            .iter()
            .filter(|b| match filter {
                Some(f) if f.starts_with("status") => b.run.status == RunStatus::Finished,
                Some(_) => key_of(b, &Field::Param("lr".into())).as_f64().unwrap() > 0.005,
                None => true,
            })
            .collect();
        assert_eq!(got.total, chosen.len() as u64, "{by:?}");
        let mut want: Vec<(serde_json::Value, Vec<Option<f64>>)> = Vec::new();
        for b in &chosen {
            let k = key_of(b, &by);
            match want.iter_mut().find(|(x, _)| *x == k) {
                Some((_, vs)) => vs.push(value_of(b, &of)),
                None => want.push((k, vec![value_of(b, &of)])),
            }
        }
        assert_eq!(got.groups.len(), want.len(), "{by:?}: {got:?}");
        assert_eq!(got.group_count, want.len() as u64);
        for (k, vs) in &want {
            let g = got.groups.iter().find(|g| g.value == *k).unwrap_or_else(|| panic!("{by:?} {k} in {got:?}"));
            let xs: Vec<f64> = vs.iter().flatten().copied().collect();
            assert_eq!((g.count, g.n), (vs.len() as u64, xs.len() as u64), "{by:?} {k}");
            let d = plain_describe(&xs);
            let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                (a, b) => a == b,
            };
            assert!(close(g.mean, d.0) && close(g.sd, d.1), "{by:?} {k}: {g:?} vs {d:?}");
            assert!(close(g.min, d.2) && close(g.max, d.3), "{by:?} {k}: {g:?} vs {d:?}");
        }
        assert!(got.groups.windows(2).all(|w| w[0].count >= w[1].count), "largest first");
    }
}

/// Mean, sample sd (two or more values), min and max, computed the plain way.
fn plain_describe(xs: &[f64]) -> (Option<f64>, Option<f64>, Option<f64>, Option<f64>) {
    if xs.is_empty() {
        return (None, None, None, None);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = (xs.len() > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (Some(mean), sd, Some(min), Some(max))
}

/// Counts past a bound are estimated from a sample of the runs, and samples are spread
/// over the whole result: every k-th in order while it is small, else the matches among
/// stretches of the store.
pub async fn estimates_and_samples_spread_over_the_result(store: &SqlStore) {
    use cairn_store::SampleMethod;
    for (name, n) in [("big", 3_000usize), ("other", 1_000)] {
        store.create_project(&cairn_domain::NewProject { name: name.into(), ..Default::default() }, 0).await.unwrap();
        let mut bulk = Vec::new();
        for i in 0..n {
            let mut run = cairn_store::testsuite::sample_run(name, &[]);
            run.config =
                serde_json::json!({"aug": (["a", "b", "c", "d"][i % 4]), "i": i}).as_object().cloned().unwrap();
            run.created_at = 1_000 + i as i64;
            bulk.push(cairn_store::BulkRun { run, metrics: vec![] });
            if bulk.len() == 500 {
                store.create_runs(&bulk).await.unwrap();
                bulk.clear();
            }
        }
        store.create_runs(&bulk).await.unwrap();
    }
    let query = |f: &str| RunQuery {
        project: Some(cairn_domain::ProjectName::parse("big").unwrap()),
        filter: cairn_query::parse_filter(f).unwrap(),
        limit: 100,
        ..Default::default()
    };
    let q = query("params.aug = 'a'");
    // Within the bound: counted.
    let c = store.estimate_runs(&q, 1_000).await.unwrap();
    assert_eq!((c.n, c.estimated), (750, false));
    // Past it: estimated (this store is small enough that the sample reads all of it).
    let c = store.estimate_runs(&q, 100).await.unwrap();
    assert!(c.estimated);
    assert_eq!(c.n, 750, "a sample that reads every run estimates exactly");
    // Bounded below by what was counted, whatever the sample says.
    let c = store.estimate_runs(&query("params.i < 150"), 100).await.unwrap();
    assert!(c.n >= 101, "{c:?}");
    // A small result: all of it, or every k-th in the asked order.
    let all = store.sample_runs(&q, 1_000, 1_000).await.unwrap();
    assert_eq!((all.runs.len(), all.method, all.total.n), (750, SampleMethod::All, 750));
    let kth = store.sample_runs(&q, 50, 1_000).await.unwrap();
    assert_eq!(kth.method, SampleMethod::EveryKth(15));
    let every: Vec<_> = all.runs.iter().step_by(15).map(|r| r.id).collect();
    assert_eq!(kth.runs.iter().map(|r| r.id).collect::<Vec<_>>(), every);
    // A large one: the matches among stretches spread over the store.
    let spread = store.sample_runs(&q, 50, 100).await.unwrap();
    assert!(matches!(spread.method, SampleMethod::Scattered { .. }), "{:?}", spread.method);
    assert!(spread.total.estimated);
    assert!((10..=50).contains(&spread.runs.len()), "{} runs sampled", spread.runs.len());
    for r in &spread.runs {
        assert_eq!(r.project.as_str(), "big");
        assert_eq!(r.config.get("aug"), Some(&serde_json::json!("a")));
    }
    let at: Vec<i64> = spread.runs.iter().map(|r| r.created_at).collect();
    let (lo, hi) = (at.iter().min().unwrap(), at.iter().max().unwrap());
    assert!(hi - lo > 1_500, "the sample covers {lo}..{hi}, not the whole result");
}
