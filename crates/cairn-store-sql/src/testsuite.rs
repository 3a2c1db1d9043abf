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
    let mut bulk = Vec::new();
    for i in 0..60usize {
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
