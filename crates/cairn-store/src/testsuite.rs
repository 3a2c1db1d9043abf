//! The behaviour every [`MetadataStore`] must show, written once and run by each
//! backend's tests through [`behaviour_suite!`](crate::behaviour_suite). Each check
//! gets a fresh, empty store.

use crate::{MetadataStore, Refusal, RunQuery, RunRecord, RunUpdate, StepRange, StoreError};
use cairn_domain::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Generates one `#[tokio::test]` per check. `$fresh` is an async fn returning
/// `(guard, Arc<dyn MetadataStore>)`; the guard lives as long as the test.
#[macro_export]
macro_rules! behaviour_suite {
    ($fresh:path) => {
        $crate::behaviour_suite!(@tests $fresh;
            projects, run_round_trip, run_refs_and_missing_runs, lineage, updates,
            soft_delete, metrics_round_trip, metrics_small_appends_and_chunks,
            metrics_ranges_and_order, metrics_overview, metrics_batches_written_once, metrics_batch_id_reused_for_other_points,
            metrics_history_reads_are_bounded, silent_runs_marked_crashed, search_filters, search_order_and_pages,
            search_errors, artifacts, artifact_deletion, dashboard_aggregates, registry_models, registry_versions, logged_models,
            concurrent_writers_lose_nothing, users_and_tokens, teams_and_project_roles, private_projects_hidden_from_search, lists_search_in_the_store,
            audit_log_is_append_only, param_text_searches_as_what_it_means, jobs_change_by_compare_and_set,
            racing_claims_start_a_job_once, agents_leases_settings_and_logs, bulk_runs_are_written_together,
            analyses_aggregate_in_the_store, selective_searches_start_from_an_index,
            param_equalities_find_every_way_a_value_was_written);
    };
    (@tests $fresh:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, store) = $fresh().await;
                $crate::testsuite::$name(store).await;
            }
        )*
    };
}

static COUNTER: AtomicU64 = AtomicU64::new(1);
const T0: Millis = 1_700_000_000_000;

fn next() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

async fn ensure_project(store: &dyn MetadataStore, name: &str) {
    let p = NewProject { name: name.into(), ..Default::default() };
    match store.create_project(&p, T0).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
        Err(e) => panic!("create project: {e}"),
    }
}

/// A complete run record with every field filled, for round-trip checks.
pub fn sample_run(project: &str, parents: &[RunId]) -> Run {
    let n = next();
    let mut tags = BTreeMap::new();
    tags.insert("aug".to_owned(), "mixup".to_owned());
    let config = serde_json::json!({
        "lr": 0.001 * n as f64, "epochs": 3, "use_aug": true,
        "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "note": null
    });
    Run {
        id: RunId(uuid::Uuid::now_v7()),
        short_id: ShortId::from_random(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n << 7)),
        project: ProjectName::parse(project).unwrap(),
        name: format!("run {n}"),
        description: "line one\nline two".into(),
        hypothesis: Some("mixup helps".into()),
        expected: Some(ExpectedOutcome { metric: "acc".into(), direction: Direction::Increase, size: Some(0.01) }),
        verdict: None,
        owner: "ana".into(),
        tags,
        status: RunStatus::Running,
        created_at: T0 + n as i64,
        started_at: Some(T0 + n as i64),
        ended_at: None,
        exit_code: None,
        config: config.as_object().unwrap().clone(),
        command: vec!["python".into(), "train.py".into(), "--lr=0.1".into()],
        code: Some(CodeInfo { versioned: true, commit: Some("abc123".into()), dirty: true, ..Default::default() }),
        data: Some(DataInfo {
            datasets: vec![Dataset {
                path: "data/".into(),
                hash: "h".into(),
                files: 2,
                bytes: 10,
                manifest_artifact: None,
            }],
        }),
        environment: Some(serde_json::json!({"os": "linux", "gpus": []})),
        seeds: vec![7],
        parents: parents.to_vec(),
        children: vec![],
        group_id: Some("g1".into()),
        fingerprint: Some(format!("fp{}", n % 3)),
        metrics: vec![],
        deleted_at: None,
        updated_at: T0 + n as i64,
        changes: Some(cairn_domain::RunChanges {
            against: "0".repeat(32),
            against_short_id: "abcdefgh".into(),
            basis: cairn_domain::ChangeBasis::Nearest,
            params: vec![cairn_domain::compare::ParamChange {
                key: "lr".into(),
                before: Some(serde_json::json!(0.1)),
                after: None,
            }],
            code: None,
            data: vec![],
            environment: vec![],
            command: None,
        }),
        config_sources: [("lr".to_owned(), "flags".to_owned())].into(),
    }
}

pub async fn make_run(store: &dyn MetadataStore, project: &str, parents: &[RunId]) -> Run {
    ensure_project(store, project).await;
    store.create_run(&RunRecord { run: sample_run(project, parents) }).await.expect("create run")
}

fn series(points: &[(i64, f64)]) -> MetricSeries {
    let mut s = MetricSeries::default();
    for &(step, v) in points {
        s.push(step, v, T0 + step);
    }
    s
}

fn key(k: &str) -> MetricKey {
    MetricKey::parse(k).unwrap()
}

pub async fn projects(store: Arc<dyn MetadataStore>) {
    let p = store
        .create_project(
            &NewProject {
                name: "vision".into(),
                description: "defects".into(),
                require_hypothesis: None,
                primary_metric: None,
                tags: Default::default(),
                visibility: None,
            },
            T0,
        )
        .await
        .unwrap();
    assert!(p.require_hypothesis, "projects require a hypothesis by default");
    assert_eq!((p.description.as_str(), p.run_count), ("defects", 0));
    let again = store.create_project(&NewProject { name: "vision".into(), ..Default::default() }, T0).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists(_))), "{again:?}");
    let name = ProjectName::parse("vision").unwrap();
    let patched = store
        .update_project(&name, &ProjectPatch { require_hypothesis: Some(false), ..Default::default() }, T0 + 1)
        .await
        .unwrap();
    assert!(!patched.require_hypothesis);
    assert_eq!(patched.description, "defects");
    assert_eq!(patched.primary_metric, None);
    let metric = cairn_domain::PrimaryMetric { key: "val/acc".into(), direction: Direction::Increase };
    let patched = store
        .update_project(&name, &ProjectPatch { primary_metric: Some(metric.clone()), ..Default::default() }, T0 + 2)
        .await
        .unwrap();
    assert_eq!(patched.primary_metric, Some(metric), "the primary metric round-trips");
    assert!(!patched.require_hypothesis, "other settings are kept");
    assert_eq!(patched.updated_at, Some(T0 + 2));
    // Tags merge; a project is renamed, deleted and restored under the same id.
    let tagged = ProjectPatch { tags: [("team".to_owned(), "cv".to_owned())].into(), ..Default::default() };
    store.update_project(&name, &tagged, T0 + 3).await.unwrap();
    let more = ProjectPatch { tags: [("owner".to_owned(), "ana".to_owned())].into(), ..Default::default() };
    let p2 = store.update_project(&name, &more, T0 + 4).await.unwrap();
    assert_eq!(p2.tags.len(), 2);
    assert_eq!(store.get_project_by_id(p2.id).await.unwrap().name.as_str(), "vision");
    let renamed = ProjectPatch { name: Some("vision-2".into()), deleted: Some(true), ..Default::default() };
    let p3 = store.update_project(&name, &renamed, T0 + 5).await.unwrap();
    assert_eq!((p3.id, p3.name.as_str(), p3.deleted_at), (p2.id, "vision-2", Some(T0 + 5)));
    let restore = ProjectPatch { name: Some("vision".into()), deleted: Some(false), ..Default::default() };
    let p4 = store.update_project(&p3.name, &restore, T0 + 6).await.unwrap();
    assert_eq!((p4.name.as_str(), p4.deleted_at), ("vision", None));
    assert!(matches!(store.get_project_by_id(-5).await, Err(StoreError::NotFound { what: "project", .. })));
    make_run(&*store, "vision", &[]).await;
    make_run(&*store, "audio", &[]).await;
    let all = store.list_projects().await.unwrap();
    let names: Vec<_> = all.iter().map(|p| (p.name.as_str(), p.run_count)).collect();
    assert_eq!(names, vec![("audio", 1), ("vision", 1)]);
    // Deleting a project deletes its runs; restoring it restores every run it holds (as
    // MLflow), one deleted before it included; another project's runs are untouched.
    let vision = ProjectName::parse("vision").unwrap();
    let a = make_run(&*store, "vision", &[]).await;
    store.delete_run(a.id, T0 + 7).await.unwrap();
    let delete = ProjectPatch { deleted: Some(true), ..Default::default() };
    let gone = store.update_project(&vision, &delete, T0 + 8).await.unwrap();
    assert_eq!(gone.run_count, 0);
    let runs_of = |project: &str| {
        let query = RunQuery {
            project: Some(ProjectName::parse(project).unwrap()),
            include_deleted: true,
            ..Default::default()
        };
        let store = store.clone();
        async move { store.search_runs(&query).await.unwrap().runs.into_iter().map(|r| r.deleted_at).collect::<Vec<_>>() }
    };
    let deleted = runs_of("vision").await;
    assert_eq!(deleted.len(), 2);
    assert!(deleted.contains(&Some(T0 + 7)) && deleted.contains(&Some(T0 + 8)), "{deleted:?}");
    assert_eq!(runs_of("audio").await, vec![None]);
    store.update_project(&vision, &delete, T0 + 9).await.unwrap();
    assert!(runs_of("vision").await.contains(&Some(T0 + 8)), "deleting again changes nothing");
    let restore = ProjectPatch { deleted: Some(false), ..Default::default() };
    assert_eq!(store.update_project(&vision, &restore, T0 + 10).await.unwrap().run_count, 2);
    assert_eq!(runs_of("vision").await, vec![None, None]);
    let missing = store.get_project(&ProjectName::parse("nope").unwrap()).await;
    assert!(matches!(missing, Err(StoreError::NotFound { what: "project", .. })));
}

pub async fn run_round_trip(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "p").await;
    let run = sample_run("p", &[]);
    let stored = store.create_run(&RunRecord { run: run.clone() }).await.unwrap();
    assert_eq!(stored, run, "every field survives the store");
    let by_short = store.get_run(&RunRef::Short(run.short_id.clone())).await.unwrap();
    assert_eq!(by_short.id, run.id);
    // Config keeps integer vs float, nesting and lists.
    assert_eq!(stored.config["epochs"], serde_json::json!(3));
    assert_eq!(stored.config["optimizer"]["betas"], serde_json::json!([0.9, 0.999]));
}

pub async fn run_refs_and_missing_runs(store: Arc<dyn MetadataStore>) {
    let a = make_run(&*store, "p", &[]).await;
    let dup = RunRecord { run: Run { id: RunId(uuid::Uuid::now_v7()), ..sample_run("p", &[]) } };
    let mut clash = dup.clone();
    clash.run.short_id = a.short_id.clone();
    assert!(matches!(store.create_run(&clash).await, Err(StoreError::AlreadyExists(_))), "short ids are unique");
    let ghost = RunId(uuid::Uuid::now_v7());
    let orphan = RunRecord { run: sample_run("p", &[ghost]) };
    assert!(matches!(store.create_run(&orphan).await, Err(StoreError::NotFound { .. })), "unknown parent refused");
    assert!(store.get_run(&RunRef::Id(ghost)).await.is_err());
    let nowhere = RunRecord { run: sample_run("no-such-project", &[]) };
    assert!(matches!(store.create_run(&nowhere).await, Err(StoreError::NotFound { what: "project", .. })));
    // The failed inserts left nothing behind.
    let page = store.search_runs(&RunQuery::default()).await.unwrap();
    assert_eq!(page.runs.len(), 1);
}

pub async fn lineage(store: Arc<dyn MetadataStore>) {
    let a = make_run(&*store, "p", &[]).await;
    let b = make_run(&*store, "p", &[]).await;
    let c = make_run(&*store, "p", &[a.id, b.id]).await;
    let d = make_run(&*store, "p", &[c.id]).await;
    assert_eq!(c.parents, vec![a.id, b.id]);
    let a = store.get_run(&RunRef::Id(a.id)).await.unwrap();
    assert_eq!(a.children, vec![c.id], "children are derived");
    let (parents, children) = store.lineage(c.id).await.unwrap();
    assert_eq!(parents.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a.id, b.id]);
    assert_eq!(children.iter().map(|r| r.id).collect::<Vec<_>>(), vec![d.id]);
}

pub async fn updates(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let mut set_tags = BTreeMap::new();
    set_tags.insert("aug".to_owned(), "cutmix".to_owned());
    set_tags.insert("stage".to_owned(), "2".to_owned());
    let mut config = run.config.clone();
    config.insert("lr".into(), serde_json::json!(0.5));
    let verdict = Verdict { outcome: VerdictOutcome::Refuted, at: T0 + 99, note: Some("no gain".into()) };
    let u = RunUpdate {
        name: Some("renamed".into()),
        status: Some(RunStatus::Finished),
        ended_at: Some(T0 + 50),
        exit_code: Some(0),
        set_tags,
        remove_tags: vec![],
        config: Some(config),
        verdict: Some(verdict.clone()),
        ..Default::default()
    };
    let after = store.update_run(run.id, &u, T0 + 100).await.unwrap();
    assert_eq!((after.name.as_str(), after.status, after.exit_code), ("renamed", RunStatus::Finished, Some(0)));
    assert_eq!(after.tags.get("aug").map(String::as_str), Some("cutmix"));
    assert_eq!(after.tags.len(), 2);
    assert_eq!(after.verdict, Some(verdict));
    assert_eq!(after.updated_at, T0 + 100);
    assert_eq!(after.id, run.id, "renames keep the id");
    assert_eq!(after.short_id, run.short_id, "renames keep the short id");
    let u = RunUpdate { remove_tags: vec!["stage".into()], ..Default::default() };
    let after = store.update_run(run.id, &u, T0 + 101).await.unwrap();
    assert_eq!(after.tags.len(), 1);
    // The search index follows config changes.
    let found = search(&*store, "params.lr = 0.5").await;
    assert_eq!(found, vec![run.id]);
}

async fn search(store: &dyn MetadataStore, filter: &str) -> Vec<RunId> {
    let q = RunQuery { filter: cairn_query::parse_filter(filter).unwrap(), ..Default::default() };
    store.search_runs(&q).await.unwrap().runs.into_iter().map(|r| r.id).collect()
}

pub async fn soft_delete(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let other = make_run(&*store, "p", &[]).await;
    store.delete_run(run.id, T0 + 5).await.unwrap();
    store.delete_run(run.id, T0 + 6).await.unwrap();
    let kept = store.get_run(&RunRef::Id(run.id)).await.unwrap();
    assert_eq!(kept.deleted_at, Some(T0 + 5), "deleted runs stay readable");
    assert_eq!(search(&*store, "").await, vec![other.id]);
    let q = RunQuery { include_deleted: true, ..Default::default() };
    assert_eq!(store.search_runs(&q).await.unwrap().runs.len(), 2);
    let err = store.log_metrics(run.id, &[(key("loss"), series(&[(0, 1.0)]))], None).await.unwrap_err();
    assert!(matches!(err, StoreError::RunDeleted(_)), "{err:?}");
    let err = store.update_run(run.id, &RunUpdate::default(), T0).await.unwrap_err();
    assert!(matches!(err, StoreError::RunDeleted(_)), "{err:?}");
    let p = store.get_project(&ProjectName::parse("p").unwrap()).await.unwrap();
    assert_eq!(p.run_count, 1);
    let ghost = RunId(uuid::Uuid::now_v7());
    assert!(matches!(store.delete_run(ghost, T0).await, Err(StoreError::NotFound { .. })));
    // Restoring brings it back, counted again; restoring twice is harmless.
    store.restore_run(run.id, T0 + 7).await.unwrap();
    store.restore_run(run.id, T0 + 8).await.unwrap();
    assert_eq!(store.get_run(&RunRef::Id(run.id)).await.unwrap().deleted_at, None);
    assert_eq!(store.get_project(&ProjectName::parse("p").unwrap()).await.unwrap().run_count, 2);
    store.log_metrics(run.id, &[(key("loss"), series(&[(0, 1.0)]))], None).await.unwrap();
    assert!(matches!(store.restore_run(ghost, T0).await, Err(StoreError::NotFound { .. })));
}

pub async fn metrics_round_trip(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let loss = series(&[(0, 2.0), (1, f64::NAN), (2, f64::INFINITY), (3, f64::NEG_INFINITY), (4, 0.5)]);
    let acc = series(&[(0, 0.1), (1, 0.2)]);
    let n =
        store.log_metrics(run.id, &[(key("loss"), loss.clone()), (key("val/acc"), acc.clone())], None).await.unwrap();
    assert_eq!(n, 7);
    let back = store.metric_history(run.id, "loss", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!(back.steps, loss.steps);
    assert_eq!(back.timestamps, loss.timestamps);
    for (a, b) in back.values.iter().zip(&loss.values) {
        assert_eq!(a.to_bits(), b.to_bits(), "NaN and infinities are kept exactly");
    }
    let sums = store.metric_summaries(run.id).await.unwrap();
    assert_eq!(sums.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), vec!["loss", "val/acc"]);
    let l = &sums[0];
    assert_eq!((l.count, l.last, l.last_step), (5, 0.5, 4));
    assert_eq!((l.min, l.max), (Some(f64::NEG_INFINITY), Some(f64::INFINITY)));
    // A NaN as the latest value is reported as NaN.
    store.log_metrics(run.id, &[(key("val/acc"), series(&[(2, f64::NAN)]))], None).await.unwrap();
    let r = store.get_run(&RunRef::Id(run.id)).await.unwrap();
    let acc = r.metrics.iter().find(|m| m.key == "val/acc").unwrap();
    assert!(acc.last.is_nan());
    assert_eq!(acc.max, Some(0.2));
    assert!(store.metric_history(run.id, "nope", StepRange::default(), u64::MAX).await.unwrap().is_empty());
}

pub async fn metrics_small_appends_and_chunks(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    // Many small batches (an SDK flushing often), then one big batch across chunk sizes.
    for i in 0..300i64 {
        let pts: Vec<(i64, f64)> = (0..7).map(|j| (i * 7 + j, (i * 7 + j) as f64)).collect();
        store.log_metrics(run.id, &[(key("x"), series(&pts))], None).await.unwrap();
    }
    let big: Vec<(i64, f64)> = (2100..2100 + 40_000).map(|s| (s, s as f64)).collect();
    store.log_metrics(run.id, &[(key("x"), series(&big))], None).await.unwrap();
    let back = store.metric_history(run.id, "x", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!(back.len(), 42_100);
    assert!(back.steps.iter().enumerate().all(|(i, &s)| s == i as i64));
    assert!(back.values.iter().enumerate().all(|(i, &v)| v == i as f64));
    let s = &store.metric_summaries(run.id).await.unwrap()[0];
    assert_eq!((s.count, s.last, s.min, s.max), (42_100, 42_099.0, Some(0.0), Some(42_099.0)));
}

pub async fn metrics_ranges_and_order(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    store.log_metrics(run.id, &[(key("m"), series(&[(10, 1.0), (20, 2.0), (30, 3.0)]))], None).await.unwrap();
    // Logged late, at an earlier step, and a repeated step.
    store.log_metrics(run.id, &[(key("m"), series(&[(15, 1.5), (20, 2.5)]))], None).await.unwrap();
    let all = store.metric_history(run.id, "m", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!(all.steps, vec![10, 15, 20, 20, 30]);
    assert_eq!(all.values, vec![1.0, 1.5, 2.0, 2.5, 3.0], "ties keep logging order");
    let mid = store.metric_history(run.id, "m", StepRange { min: Some(12), max: Some(20) }, u64::MAX).await.unwrap();
    assert_eq!(mid.steps, vec![15, 20, 20]);
    let s = &store.metric_summaries(run.id).await.unwrap()[0];
    assert_eq!((s.last, s.last_step), (3.0, 30), "last is the value at the highest step");
    let bad = MetricSeries { steps: vec![1, 2], values: vec![1.0], timestamps: vec![0, 0] };
    assert!(matches!(store.log_metrics(run.id, &[(key("m"), bad)], None).await, Err(StoreError::Invalid(_))));
}

pub async fn metrics_overview(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let n = 100_000i64;
    let pts: Vec<(i64, f64)> =
        (0..n).map(|i| (i, if i == 77_777 { -5e3 } else { ((i as f64) / 500.0).sin() })).collect();
    for part in pts.chunks(30_000) {
        store.log_metrics(run.id, &[(key("s"), series(part))], None).await.unwrap();
    }
    let all = store.metric_history(run.id, "s", StepRange::default(), u64::MAX).await.unwrap();
    let (ov, total) = store.metric_overview(run.id, "s", StepRange::default(), 500).await.unwrap();
    assert_eq!(total, n as u64);
    assert!(ov.len() >= 500 && ov.len() < all.len() / 4, "a reduced envelope: {} points", ov.len());
    assert!(ov.steps.is_sorted());
    assert!(ov.values.contains(&-5e3), "the spike is kept");
    assert_eq!(ov.values.first(), all.values.first());
    for (i, s) in ov.steps.iter().enumerate() {
        assert_eq!(ov.values[i].to_bits(), all.values[*s as usize].to_bits(), "a subset of the real points");
    }
    // A range keeps exact counts at its edges.
    let range = StepRange { min: Some(1_000), max: Some(60_999) };
    let (ov, total) = store.metric_overview(run.id, "s", range, 100).await.unwrap();
    assert_eq!(total, 60_000);
    assert!(ov.steps.iter().all(|s| (1_000..=60_999).contains(s)));
    // Short answers are whole.
    let (whole, total) =
        store.metric_overview(run.id, "s", StepRange { min: Some(0), max: Some(99) }, 500).await.unwrap();
    assert_eq!((whole.len(), total), (100, 100));
}

pub async fn metrics_batches_written_once(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let batch = [(key("loss"), series(&[(0, 1.0), (1, 0.5)]))];
    assert_eq!(store.log_metrics(run.id, &batch, Some("b-1")).await.unwrap(), 2);
    // The retry of a batch whose answer was lost: same answer, nothing written twice.
    assert_eq!(store.log_metrics(run.id, &batch, Some("b-1")).await.unwrap(), 2);
    // Concurrent retries too.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch = [(key("loss"), series(&[(2, 0.25)]))];
            store.log_metrics(run.id, &batch, Some("b-2")).await.unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(store.log_metrics(run.id, &[(key("loss"), series(&[(3, 0.1)]))], Some("b-3")).await.unwrap(), 1);
    let h = store.metric_history(run.id, "loss", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!(h.steps, vec![0, 1, 2, 3]);
    // Batch ids belong to their run.
    let other = make_run(&*store, "p", &[]).await;
    assert_eq!(store.log_metrics(other.id, &batch, Some("b-1")).await.unwrap(), 2);
    assert_eq!(store.metric_summaries(other.id).await.unwrap()[0].count, 2);
}

pub async fn metrics_batch_id_reused_for_other_points(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let batch = [(key("loss"), series(&[(0, 1.0), (1, 0.5)]))];
    assert_eq!(store.log_metrics(run.id, &batch, Some("b-1")).await.unwrap(), 2);
    // Different values, steps or keys under the same id: refused, nothing stored.
    for other in [
        [(key("loss"), series(&[(0, 1.0), (1, 0.25)]))],
        [(key("loss"), series(&[(0, 1.0), (2, 0.5)]))],
        [(key("acc"), series(&[(0, 1.0), (1, 0.5)]))],
    ] {
        let err = store.log_metrics(run.id, &other, Some("b-1")).await.unwrap_err();
        assert!(matches!(err, StoreError::BatchConflict(ref id) if id == "b-1"), "{err:?}");
    }
    // The same points with other timestamps (a client that let the server stamp
    // them) are the same batch.
    let mut restamped = series(&[(0, 1.0), (1, 0.5)]);
    restamped.timestamps = vec![T0 + 99, T0 + 100];
    assert_eq!(store.log_metrics(run.id, &[(key("loss"), restamped)], Some("b-1")).await.unwrap(), 2);
    let h = store.metric_history(run.id, "loss", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!((h.steps, h.values), (vec![0, 1], vec![1.0, 0.5]));
    assert!(store.metric_history(run.id, "acc", StepRange::default(), u64::MAX).await.unwrap().is_empty());
}

pub async fn metrics_history_reads_are_bounded(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let pts: Vec<(i64, f64)> = (0..5_000).map(|i| (i, i as f64)).collect();
    store.log_metrics(run.id, &[(key("m"), series(&pts))], None).await.unwrap();
    let err = store.metric_history(run.id, "m", StepRange::default(), 4_999).await.unwrap_err();
    assert!(matches!(err, StoreError::TooManyPoints { limit: 4_999 }), "{err:?}");
    assert!(err.to_string().contains("max_points") && err.to_string().contains("min_step"), "{err}");
    assert_eq!(store.metric_history(run.id, "m", StepRange::default(), 5_000).await.unwrap().len(), 5_000);
    // A page inside the limit is answered.
    let page =
        store.metric_history(run.id, "m", StepRange { min: Some(1_000), max: Some(1_999) }, 1_000).await.unwrap();
    assert_eq!((page.len(), page.steps[0], page.steps[999]), (1_000, 1_000, 1_999));
}

pub async fn silent_runs_marked_crashed(store: Arc<dyn MetadataStore>) {
    let quiet = make_run(&*store, "p", &[]).await;
    let alive = make_run(&*store, "p", &[]).await;
    let never = make_run(&*store, "p", &[]).await; // e.g. an MLflow client: no heartbeats
    let status = |r: Run| r.status;
    assert_eq!(status(quiet.clone()), RunStatus::Running);
    assert!(store.heartbeat(quiet.id, T0).await.unwrap());
    assert!(store.heartbeat(alive.id, T0 + 50_000).await.unwrap());
    let marked = store.mark_crashed(T0 + 10_000, T0 + 60_000).await.unwrap();
    assert_eq!(marked, vec![quiet.id]);
    let get = |id| {
        let store = store.clone();
        async move { store.get_run(&RunRef::Id(id)).await.unwrap() }
    };
    let q = get(quiet.id).await;
    assert_eq!((q.status, q.ended_at), (RunStatus::Crashed, Some(T0)), "ends at its last sign of life");
    assert_eq!(get(alive.id).await.status, RunStatus::Running);
    assert_eq!(get(never.id).await.status, RunStatus::Running);
    // Marked once only.
    assert!(store.mark_crashed(T0 + 10_000, T0 + 61_000).await.unwrap().is_empty());
    // It was only cut off: its next heartbeat makes it running again.
    assert!(store.heartbeat(quiet.id, T0 + 70_000).await.unwrap());
    let q = get(quiet.id).await;
    assert_eq!((q.status, q.ended_at), (RunStatus::Running, None));
    // A finished run takes no heartbeat and is never marked.
    let upd = RunUpdate { status: Some(RunStatus::Finished), ended_at: Some(T0 + 80_000), ..Default::default() };
    store.update_run(alive.id, &upd, T0 + 80_000).await.unwrap();
    assert!(!store.heartbeat(alive.id, T0 + 90_000).await.unwrap());
    assert!(store.mark_crashed(T0 + 1_000_000, T0 + 1_000_000).await.unwrap().iter().all(|id| *id != alive.id));
}

pub async fn search_filters(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "p").await;
    let mut ids = Vec::new();
    for (i, (lr, aug, opt)) in
        [(0.001, "mixup", "adam"), (0.01, "cutmix", "sgd"), (0.1, "mixup", "Adam")].into_iter().enumerate()
    {
        let mut r = sample_run("p", &[]);
        r.config =
            serde_json::json!({"lr": lr, "optimizer": {"name": opt}, "use_aug": i != 1}).as_object().unwrap().clone();
        r.tags.insert("aug".into(), aug.into());
        r.owner = if i == 2 { "bo".into() } else { "ana".into() };
        let r = store.create_run(&RunRecord { run: r }).await.unwrap();
        store
            .log_metrics(r.id, &[(key("val_acc"), series(&[(0, 0.5), (1, 0.8 + 0.05 * i as f64)]))], None)
            .await
            .unwrap();
        ids.push(r.id);
    }
    store
        .update_run(
            ids[1],
            &RunUpdate { set_tags: [("note".to_owned(), "x".to_owned())].into(), ..Default::default() },
            T0,
        )
        .await
        .unwrap();
    let sorted = |mut v: Vec<RunId>| {
        v.sort();
        v
    };
    let check = |filter: &'static str, expect: Vec<usize>| {
        let store = store.clone();
        let ids = ids.clone();
        async move {
            let got = sorted(search(&*store, filter).await);
            let want = sorted(expect.iter().map(|&i| ids[i]).collect());
            assert_eq!(got, want, "filter: {filter}");
        }
    };
    check("params.lr < 0.05", vec![0, 1]).await;
    check("params.lr < 0.05 and metrics.val_acc > 0.82", vec![1]).await;
    check("params.lr < 0.05 and metrics.val_acc > 0.82 and tags.aug = \"cutmix\"", vec![1]).await;
    check("tags.aug = 'mixup' or owner = 'bo'", vec![0, 2]).await;
    check("not tags.aug = 'mixup'", vec![1]).await;
    check("params.optimizer.name = 'adam'", vec![0]).await;
    check("params.optimizer.name like 'A%'", vec![2]).await;
    check("params.optimizer.name ilike 'a%'", vec![0, 2]).await;
    check("params.use_aug = true", vec![0, 2]).await;
    check("params.lr in (0.001, 0.1)", vec![0, 2]).await;
    check("params.lr not in (0.001, 0.1)", vec![1]).await;
    check("tags.note is null", vec![0, 2]).await;
    check("tags.note is not null", vec![1]).await;
    check("params.missing = 1", vec![]).await;
    check("params.missing != 1", vec![]).await;
    check("min(metrics.val_acc) = 0.5", vec![0, 1, 2]).await;
    check("max(metrics.val_acc) >= 0.85", vec![1, 2]).await;
    check("count(metrics.val_acc) = 2", vec![0, 1, 2]).await;
    check("status = 'running' and project = 'p'", vec![0, 1, 2]).await;
    check("owner != 'ana'", vec![2]).await;
    check("name like '%'", vec![0, 1, 2]).await;
    check("tags.aug = \"mix'up\"", vec![]).await;
}

/// An equality to text finds every leaf written as that text, whatever its kind (a
/// string, a number, a boolean, a list), and only top-level leaves for a top-level key;
/// also after a run's config is rewritten. (SQL stores check a top-level string's
/// `"key":"value"` in the run's config before its param rows: this holds them to it.)
pub async fn param_equalities_find_every_way_a_value_was_written(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "p").await;
    let mut ids = Vec::new();
    for config in [
        serde_json::json!({"opt": "adam", "note": "naïve café", "bs": 64}),
        serde_json::json!({"opt": {"name": "adam"}, "o": "adam"}),
        serde_json::json!({"opt": "adam", "bs": "64", "flag": true}),
        serde_json::json!({"opt": "Adam", "tag": "[1]", "flag": "true", "list": [1]}),
        serde_json::json!({"opt": "sgd"}),
    ] {
        let mut r = sample_run("p", &[]);
        r.config = config.as_object().unwrap().clone();
        ids.push(store.create_run(&RunRecord { run: r }).await.unwrap().id);
    }
    let config = serde_json::json!({"opt": "adam", "bs": 64.0}).as_object().unwrap().clone();
    store.update_run(ids[4], &RunUpdate { config: Some(config), ..Default::default() }, T0).await.unwrap();
    for (filter, want) in [
        (r#"params.opt = "adam""#, vec![0, 2, 4]),
        (r#"params.opt = "adam" and params.bs = "64""#, vec![0, 2]),
        (r#"params.opt = "adam" and params.bs = 64"#, vec![0, 2, 4]),
        (r#"params.note = "naïve café" and params.opt = "adam""#, vec![0]),
        (r#"params.flag = "true""#, vec![2, 3]),
        (r#"params.opt.name = "adam" and params.o = "adam""#, vec![1]),
        (r#"params.tag = "[1]" and params.opt = "Adam""#, vec![3]),
        (r#"params.list = "[1]""#, vec![3]),
        (r#"params.opt = "sgd""#, vec![]),
    ] {
        let mut got = search(&*store, filter).await;
        got.sort();
        let mut want: Vec<RunId> = want.iter().map(|&i| ids[i]).collect();
        want.sort();
        assert_eq!(got, want, "filter: {filter}");
    }
}

/// Params given as text (`--lr 1e-3`, MLflow's strings) come back exactly as written and
/// are searched and sorted by what they mean.
pub async fn param_text_searches_as_what_it_means(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "p").await;
    let mut ids = Vec::new();
    for config in [
        serde_json::json!({"lr": "1e-3", "version": "1.10", "amp": "True", "opt": "adam"}),
        serde_json::json!({"lr": 0.01, "version": 1.1, "amp": false, "opt": "sgd"}),
        serde_json::json!({"lr": "0.050", "version": "2", "amp": "true", "opt": "1e-3 schedule"}),
    ] {
        let mut r = sample_run("p", &[]);
        r.config = config.as_object().unwrap().clone();
        ids.push(store.create_run(&RunRecord { run: r }).await.unwrap().id);
    }
    let got = store.get_run(&RunRef::Id(ids[0])).await.unwrap();
    assert_eq!(got.config["lr"], "1e-3", "kept as written");
    assert_eq!(got.config["version"], "1.10");
    let check = |filter: &'static str, expect: Vec<usize>| {
        let store = store.clone();
        let ids = ids.clone();
        async move {
            let mut got = search(&*store, filter).await;
            got.sort();
            let mut want: Vec<RunId> = expect.iter().map(|&i| ids[i]).collect();
            want.sort();
            assert_eq!(got, want, "filter: {filter}");
        }
    };
    check("params.lr < 0.02", vec![0, 1]).await;
    check("params.lr = 0.001", vec![0]).await;
    check("params.lr = '1e-3'", vec![0]).await;
    check("params.lr > 0.04", vec![2]).await;
    check("params.version = '1.10'", vec![0]).await;
    check("params.version = 1.1", vec![0, 1]).await;
    check("params.amp = true", vec![0, 2]).await;
    check("params.amp = 'True'", vec![0]).await;
    check("params.lr like '1e%'", vec![0]).await;
    check("params.opt like '1e%'", vec![2]).await;
    check("params.opt = 'adam'", vec![0]).await;
    let q = RunQuery {
        project: Some(ProjectName::parse("p").unwrap()),
        order: cairn_query::parse_order("params.lr").unwrap(),
        ..Default::default()
    };
    let order: Vec<RunId> = store.search_runs(&q).await.unwrap().runs.iter().map(|r| r.id).collect();
    assert_eq!(order, vec![ids[0], ids[1], ids[2]], "sorted by the numbers the text means");
}

pub async fn search_order_and_pages(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "p").await;
    ensure_project(&*store, "q").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut r = sample_run(if i == 6 { "q" } else { "p" }, &[]);
        let lr = [0.3, 0.1, 0.2, 0.05, 0.4, 0.15, 0.0][i];
        r.config = serde_json::json!({ "lr": lr }).as_object().unwrap().clone();
        let r = store.create_run(&RunRecord { run: r }).await.unwrap();
        if i != 3 {
            store.log_metrics(r.id, &[(key("acc"), series(&[(0, i as f64)]))], None).await.unwrap();
        }
        ids.push(r.id);
    }
    let project = Some(ProjectName::parse("p").unwrap());
    let order = cairn_query::parse_order("metrics.acc desc").unwrap();
    let mut q = RunQuery { project: project.clone(), order, limit: 2, ..Default::default() };
    let mut seen = Vec::new();
    loop {
        let page = store.search_runs(&q).await.unwrap();
        seen.extend(page.runs.iter().map(|r| r.id));
        match page.next_offset {
            Some(o) => q.offset = o,
            None => break,
        }
    }
    // acc desc: 5, 4, 2, 1, 0, and run 3 (no metric) last.
    assert_eq!(seen, vec![ids[5], ids[4], ids[2], ids[1], ids[0], ids[3]]);
    // One run a page walks the same order, into and across the runs without the metric.
    let order = cairn_query::parse_order("metrics.acc desc").unwrap();
    let mut q = RunQuery { project: project.clone(), order, limit: 1, ..Default::default() };
    let mut one_by_one = Vec::new();
    loop {
        let page = store.search_runs(&q).await.unwrap();
        one_by_one.extend(page.runs.iter().map(|r| r.id));
        match page.next_offset {
            Some(o) => q.offset = o,
            None => break,
        }
    }
    assert_eq!(one_by_one, seen);
    // Ascending, with a filter, and a tag as the lead key (runs without the tag last).
    let filter = cairn_query::parse_filter("params.lr >= 0.1").unwrap();
    let order = cairn_query::parse_order("metrics.acc asc").unwrap();
    let q = RunQuery { project: project.clone(), filter, order, ..Default::default() };
    let got: Vec<RunId> = store.search_runs(&q).await.unwrap().runs.iter().map(|r| r.id).collect();
    assert_eq!(got, vec![ids[0], ids[1], ids[2], ids[4], ids[5]]);
    store
        .update_run(
            ids[2],
            &RunUpdate { set_tags: [("stage".to_owned(), "b".to_owned())].into(), ..Default::default() },
            T0,
        )
        .await
        .unwrap();
    store
        .update_run(
            ids[4],
            &RunUpdate { set_tags: [("stage".to_owned(), "a".to_owned())].into(), ..Default::default() },
            T0,
        )
        .await
        .unwrap();
    let order = cairn_query::parse_order("tags.stage, metrics.acc desc").unwrap();
    let q = RunQuery { project: project.clone(), order, ..Default::default() };
    let got: Vec<RunId> = store.search_runs(&q).await.unwrap().runs.iter().map(|r| r.id).collect();
    assert_eq!(got, vec![ids[4], ids[2], ids[5], ids[1], ids[0], ids[3]]);
    let q = RunQuery { project, order: cairn_query::parse_order("params.lr").unwrap(), ..Default::default() };
    let page = store.search_runs(&q).await.unwrap();
    let lrs: Vec<f64> = page.runs.iter().map(|r| r.config["lr"].as_f64().unwrap()).collect();
    assert_eq!(lrs, vec![0.05, 0.1, 0.15, 0.2, 0.3, 0.4]);
    // Default order: newest first, across projects.
    let page = store.search_runs(&RunQuery::default()).await.unwrap();
    assert_eq!(page.runs.first().map(|r| r.id), Some(ids[6]));
    assert_eq!(page.runs.len(), 7);
    assert!(page.runs[0].metrics.iter().any(|m| m.key == "acc"), "summaries come with search results");
}

pub async fn search_errors(store: Arc<dyn MetadataStore>) {
    make_run(&*store, "p", &[]).await;
    for bad in ["metrics.acc = 'x'", "created like 'x'"] {
        let q = RunQuery { filter: cairn_query::parse_filter(bad).unwrap(), ..Default::default() };
        let err = store.search_runs(&q).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad}: {err:?}");
    }
}

pub async fn artifacts(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    for (p, size) in [("model.pt", 10u64), ("plots/loss.png", 20), ("plots/acc.png", 30), ("plots_old/x", 1)] {
        let info =
            ArtifactInfo { path: ArtifactPath::parse(p).unwrap(), size, blake3: format!("h{size}"), created_at: T0 };
        store.record_artifact(run.id, &info).await.unwrap();
    }
    let plots = store.list_artifacts(run.id, "plots/").await.unwrap();
    assert_eq!(plots.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(), vec!["plots/acc.png", "plots/loss.png"]);
    assert_eq!(store.list_artifacts(run.id, "").await.unwrap().len(), 4);
    // Re-uploading replaces the record.
    let info = ArtifactInfo {
        path: ArtifactPath::parse("model.pt").unwrap(),
        size: 11,
        blake3: "new".into(),
        created_at: T0 + 1,
    };
    store.record_artifact(run.id, &info).await.unwrap();
    assert_eq!(store.get_artifact(run.id, &info.path).await.unwrap(), info);
    let missing = store.get_artifact(run.id, &ArtifactPath::parse("nope").unwrap()).await;
    assert!(matches!(missing, Err(StoreError::NotFound { what: "artifact", .. })));
    assert!(store.list_artifacts(run.id, "%").await.unwrap().is_empty(), "prefixes are literal");
}

pub async fn artifact_deletion(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    for p in ["model.pt", "model.pt.bak", "plots/a.png", "plots/sub/b.png", "plotsx/c"] {
        let info = ArtifactInfo { path: ArtifactPath::parse(p).unwrap(), size: 1, blake3: "h".into(), created_at: T0 };
        store.record_artifact(run.id, &info).await.unwrap();
    }
    let gone = store.delete_artifacts(run.id, "plots").await.unwrap();
    assert_eq!(gone.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(), vec!["plots/a.png", "plots/sub/b.png"]);
    let gone = store.delete_artifacts(run.id, "model.pt").await.unwrap();
    assert_eq!(gone.len(), 1, "a file path does not take its siblings with it");
    let left = store.list_artifacts(run.id, "").await.unwrap();
    assert_eq!(left.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(), vec!["model.pt.bak", "plotsx/c"]);
    assert!(store.delete_artifacts(run.id, "nothing/here").await.unwrap().is_empty());
}

pub async fn dashboard_aggregates(store: Arc<dyn MetadataStore>) {
    let a = make_run(&*store, "dash", &[]).await;
    let b = make_run(&*store, "dash", &[]).await;
    let p = ProjectName::parse("dash").unwrap();
    store.log_metrics(a.id, &[(key("acc"), series(&[(0, 0.5), (1, 0.7)]))], None).await.unwrap();
    store.log_metrics(b.id, &[(key("acc"), series(&[(0, 0.9)]))], None).await.unwrap();
    store.update_run(b.id, &RunUpdate { status: Some(RunStatus::Failed), ..Default::default() }, T0 + 5).await.unwrap();
    let q = RunQuery { project: Some(p.clone()), ..Default::default() };
    assert_eq!(store.count_runs(&q).await.unwrap(), 2);
    let failed = RunQuery { filter: cairn_query::parse_filter("status = \"failed\"").unwrap(), ..q.clone() };
    assert_eq!(store.count_runs(&failed).await.unwrap(), 1);
    let keys = store.project_keys(&p).await.unwrap();
    assert_eq!(keys.metrics, vec!["acc"]);
    assert!(keys.params.contains(&"lr".to_owned()), "{keys:?}");
    let s = store.project_summary(&p, 0, Some("acc")).await.unwrap();
    assert_eq!((s.runs, s.by_status.get("failed").copied()), (2, Some(1)));
    let (created, failed): (u64, u64) = s.per_day.iter().fold((0, 0), |acc, d| (acc.0 + d.1, acc.1 + d.2));
    assert_eq!((created, failed), (2, 1));
    let mut values: Vec<f64> = s.progress.iter().map(|p| p.4).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![0.7, 0.9]);
    let refusal = Refusal {
        at: T0,
        owner: "ana".into(),
        fingerprint: "f".into(),
        duplicate_of: a.id,
        hypothesis: None,
        command: vec!["python".into()],
    };
    store.record_refusal(&p, &refusal).await.unwrap();
    store.record_refusal(&p, &Refusal { at: T0 + 1, ..refusal.clone() }).await.unwrap();
    let (total, listed) = store.refusals(&p, 1).await.unwrap();
    assert_eq!((total, listed.len(), listed[0].at), (2, 1, T0 + 1));
    assert_eq!(listed[0].command, vec!["python"]);
}

pub async fn registry_models(store: Arc<dyn MetadataStore>) {
    let new = NewRegisteredModel {
        name: "detector".into(),
        description: "finds defects".into(),
        owner: Some("ana".into()),
        tags: [("team".to_owned(), "vision".to_owned())].into(),
    };
    let m = store.create_registered_model(&new, T0).await.unwrap();
    assert_eq!((m.name.as_str(), m.created_at, m.updated_at), ("detector", T0, T0));
    assert_eq!(m.tags["team"], "vision");
    let dup = store.create_registered_model(&new, T0).await;
    assert!(matches!(dup, Err(StoreError::AlreadyExists(ref m)) if m.contains("detector")), "{dup:?}");
    store
        .create_registered_model(&NewRegisteredModel { name: "other".into(), ..Default::default() }, T0)
        .await
        .unwrap();

    let patch = RegisteredModelPatch {
        name: Some("defect-detector".into()),
        description: Some("v2".into()),
        tags: [("team".to_owned(), None), ("tier".to_owned(), Some("gold".to_owned()))].into(),
        ..Default::default()
    };
    let m = store.update_registered_model("detector", &patch, T0 + 5).await.unwrap();
    assert_eq!((m.name.as_str(), m.description.as_str(), m.updated_at), ("defect-detector", "v2", T0 + 5));
    assert_eq!(m.tags, [("tier".to_owned(), "gold".to_owned())].into());
    assert!(matches!(store.get_registered_model("detector").await, Err(StoreError::NotFound { .. })));
    let clash = RegisteredModelPatch { name: Some("other".into()), ..Default::default() };
    assert!(matches!(
        store.update_registered_model("defect-detector", &clash, T0).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let names: Vec<_> = store.list_registered_models().await.unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, vec!["defect-detector", "other"]);
    // An alias must point at a version that exists.
    let alias = RegisteredModelPatch { aliases: [("champion".to_owned(), Some(1))].into(), ..Default::default() };
    assert!(matches!(
        store.update_registered_model("defect-detector", &alias, T0).await,
        Err(StoreError::NotFound { what: "model version", .. })
    ));
    store.delete_registered_model("other").await.unwrap();
    assert!(matches!(store.delete_registered_model("other").await, Err(StoreError::NotFound { .. })));
}

pub async fn registry_versions(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    store.create_registered_model(&NewRegisteredModel { name: "m".into(), ..Default::default() }, T0).await.unwrap();
    let new = |src: &str| NewModelVersion {
        source: src.into(),
        run_id: Some(run.id),
        tags: [("k".to_owned(), "v".to_owned())].into(),
        ..Default::default()
    };
    let v1 = store.create_model_version("m", &new("runs:/x/model"), T0 + 1).await.unwrap();
    let v2 = store.create_model_version("m", &new("runs:/y/model"), T0 + 2).await.unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!((v1.stage, v1.run_id, v1.model.as_str()), (ModelStage::None, Some(run.id), "m"));
    assert!(matches!(
        store.create_model_version("nope", &new("s"), T0).await,
        Err(StoreError::NotFound { what: "registered model", .. })
    ));
    // Stage transitions, archiving the others in that stage when asked.
    let to_prod = |archive| ModelVersionPatch {
        stage: Some(ModelStage::Production),
        archive_others: archive,
        ..Default::default()
    };
    store.update_model_version("m", 1, &to_prod(false), T0 + 3).await.unwrap();
    let v2 = store.update_model_version("m", 2, &to_prod(true), T0 + 4).await.unwrap();
    assert_eq!(v2.stage, ModelStage::Production);
    assert_eq!(store.get_model_version("m", 1).await.unwrap().stage, ModelStage::Archived);
    let tagged = ModelVersionPatch {
        description: Some("good".into()),
        tags: [("k".to_owned(), None), ("q".to_owned(), Some("1".to_owned()))].into(),
        ..Default::default()
    };
    let v2 = store.update_model_version("m", 2, &tagged, T0 + 5).await.unwrap();
    assert_eq!((v2.description.as_str(), v2.tags.len(), v2.stage), ("good", 1, ModelStage::Production));
    // Aliases follow the model through a rename and go when their version goes.
    let alias = RegisteredModelPatch { aliases: [("champion".to_owned(), Some(2))].into(), ..Default::default() };
    store.update_registered_model("m", &alias, T0 + 6).await.unwrap();
    let rename = RegisteredModelPatch { name: Some("m2".into()), ..Default::default() };
    store.update_registered_model("m", &rename, T0 + 7).await.unwrap();
    let versions = store.list_model_versions(Some("m2")).await.unwrap();
    assert_eq!(versions.iter().map(|v| (v.model.as_str(), v.version)).collect::<Vec<_>>(), vec![("m2", 1), ("m2", 2)]);
    assert_eq!(store.get_registered_model("m2").await.unwrap().aliases["champion"], 2);
    store.delete_model_version("m2", 2, T0 + 8).await.unwrap();
    assert!(store.get_registered_model("m2").await.unwrap().aliases.is_empty());
    // Numbers are not reused.
    assert_eq!(store.create_model_version("m2", &new("s"), T0 + 9).await.unwrap().version, 3);
    assert_eq!(store.list_model_versions(None).await.unwrap().len(), 2);
    store.delete_registered_model("m2").await.unwrap();
    assert!(store.list_model_versions(None).await.unwrap().is_empty());
}

pub async fn logged_models(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let project = store.get_project(&ProjectName::parse("p").unwrap()).await.unwrap();
    let mut m = LoggedModel {
        id: "m-0123456789abcdef0123456789abcdef".into(),
        project_id: project.id,
        name: "model".into(),
        source_run: Some(run.id),
        status: LoggedModelStatus::Pending,
        status_message: None,
        model_type: Some("sklearn".into()),
        owner: None,
        created_at: T0,
        updated_at: T0,
        params: [("alpha".to_owned(), "0.5".to_owned())].into(),
        tags: BTreeMap::new(),
    };
    store.create_logged_model(&m).await.unwrap();
    assert!(matches!(store.create_logged_model(&m).await, Err(StoreError::AlreadyExists(_))));
    m.status = LoggedModelStatus::Ready;
    m.tags.insert("t".into(), "1".into());
    store.update_logged_model(&m).await.unwrap();
    assert_eq!(store.get_logged_model(&m.id).await.unwrap(), m);
    assert_eq!(store.list_logged_models(&[project.id]).await.unwrap(), vec![m.clone()]);
    assert!(store.list_logged_models(&[project.id + 1000]).await.unwrap().is_empty());
    store.delete_logged_model(&m.id).await.unwrap();
    assert!(matches!(store.get_logged_model(&m.id).await, Err(StoreError::NotFound { .. })));
}

pub async fn concurrent_writers_lose_nothing(store: Arc<dyn MetadataStore>) {
    let run = make_run(&*store, "p", &[]).await;
    let writers = 8;
    let batches = 25;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for b in 0..batches {
                let base = (w * batches + b) * 10;
                let pts: Vec<(i64, f64)> = (0..10).map(|i| (base + i, (base + i) as f64)).collect();
                store
                    .log_metrics(
                        run.id,
                        &[(key("shared"), series(&pts)), (key(&format!("own{w}")), series(&pts))],
                        None,
                    )
                    .await
                    .unwrap();
            }
            // Runs created concurrently too.
            make_run(&*store, "p", &[]).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.metric_history(run.id, "shared", StepRange::default(), u64::MAX).await.unwrap();
    let expected = (writers * batches * 10) as usize;
    assert_eq!(all.len(), expected, "every acknowledged point is there");
    let mut steps = all.steps.clone();
    steps.dedup();
    assert_eq!(steps.len(), expected, "and each exactly once");
    let s = store.metric_summaries(run.id).await.unwrap();
    assert_eq!(s.iter().find(|m| m.key == "shared").unwrap().count, expected as i64);
    assert_eq!(store.search_runs(&RunQuery::default()).await.unwrap().runs.len(), writers as usize + 1);
}

fn user(name: &str, role: cairn_domain::auth::Role) -> cairn_domain::auth::UserRecord {
    use cairn_domain::auth::{User, UserRecord};
    UserRecord {
        user: User {
            id: 0,
            name: name.into(),
            display_name: format!("{name} (display)"),
            email: Some(format!("{name}@example.com")),
            role,
            local: true,
            oidc_issuer: None,
            created_at: T0,
            disabled_at: None,
        },
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        oidc_subject: None,
    }
}

pub async fn users_and_tokens(store: Arc<dyn MetadataStore>) {
    use cairn_domain::auth::*;
    assert_eq!(store.count_users().await.unwrap(), 0);
    let alice = store.create_user(&user("alice", Role::Admin)).await.unwrap();
    assert!(alice.local && alice.role == Role::Admin && alice.email.as_deref() == Some("alice@example.com"));
    assert!(matches!(store.create_user(&user("alice", Role::Editor)).await, Err(StoreError::AlreadyExists(_))));
    let mut oidc = user("bob", Role::Editor);
    oidc.password_hash = None;
    oidc.user.oidc_issuer = Some("https://id.example".into());
    oidc.oidc_subject = Some("sub-42".into());
    let bob = store.create_user(&oidc).await.unwrap();
    assert!(!bob.local);
    assert_eq!(store.user_by_oidc("https://id.example", "sub-42").await.unwrap().user.name, "bob");
    assert!(matches!(store.user_by_oidc("https://id.example", "nobody").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.get_user("carol").await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.list_users().await.unwrap().iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(store.count_users().await.unwrap(), 2);

    let changed = store
        .update_user(
            "bob",
            &UserUpdate { role: Some(Role::Viewer), disabled_at: Some(Some(T0 + 5)), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!((changed.role, changed.disabled_at), (Role::Viewer, Some(T0 + 5)));
    let enabled =
        store.update_user("bob", &UserUpdate { disabled_at: Some(None), ..Default::default() }).await.unwrap();
    assert_eq!(enabled.disabled_at, None);

    let record = TokenRecord {
        user_id: alice.id,
        name: "ci".into(),
        prefix: "cairn_ab".into(),
        hash: "h1".into(),
        scope: Scope::Write,
        kind: TokenKind::Api,
        created_at: T0,
        expires_at: Some(T0 + 1000),
    };
    let t = store.create_token(&record).await.unwrap();
    assert_eq!(
        (t.user.as_str(), t.scope, t.kind, t.expires_at),
        ("alice", Scope::Write, TokenKind::Api, Some(T0 + 1000))
    );
    let (found, owner) = store.token_by_hash("h1").await.unwrap();
    assert_eq!((found.id, owner.user.name.as_str()), (t.id, "alice"));
    assert!(owner.password_hash.is_some(), "the record carries the hash for the server");
    assert!(matches!(store.token_by_hash("nope").await, Err(StoreError::NotFound { .. })));
    store.touch_token(t.id, T0 + 7).await.unwrap();
    assert_eq!(store.get_token(t.id).await.unwrap().last_used_at, Some(T0 + 7));
    let revoked = store.revoke_token(t.id, T0 + 9).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T0 + 9));
    assert_eq!(store.token_by_hash("h1").await.unwrap().0.revoked_at, Some(T0 + 9), "revoked tokens stay listed");
    assert_eq!(store.list_tokens(alice.id).await.unwrap().len(), 1);
    assert!(store.list_tokens(bob.id).await.unwrap().is_empty());
}

pub async fn teams_and_project_roles(store: Arc<dyn MetadataStore>) {
    use cairn_domain::auth::*;
    let alice = store.create_user(&user("alice", Role::Editor)).await.unwrap();
    let bob = store.create_user(&user("bob", Role::Editor)).await.unwrap();
    let team = store.create_team("vision-team", "the CV people", T0).await.unwrap();
    assert!(team.members.is_empty());
    assert!(matches!(store.create_team("vision-team", "", T0).await, Err(StoreError::AlreadyExists(_))));
    let team = store.set_team_member("vision-team", "bob", Some(Role::Viewer)).await.unwrap();
    assert_eq!(team.members, vec![Member { kind: PrincipalKind::User, name: "bob".into(), role: Role::Viewer }]);
    let team = store.set_team_member("vision-team", "bob", Some(Role::Admin)).await.unwrap();
    assert_eq!(team.members[0].role, Role::Admin, "setting again replaces the role");
    assert!(matches!(store.set_team_member("nope", "bob", Some(Role::Viewer)).await, Err(StoreError::NotFound { .. })));

    ensure_project(&*store, "vision").await;
    let p = store.get_project(&ProjectName::parse("vision").unwrap()).await.unwrap();
    store.set_project_member(p.id, PrincipalKind::User, "alice", Some(Role::Owner)).await.unwrap();
    let members = store.set_project_member(p.id, PrincipalKind::Team, "vision-team", Some(Role::Editor)).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(store.memberships(alice.id).await.unwrap().get(&p.id), Some(&Role::Owner));
    // bob gets the project role through his team.
    assert_eq!(store.memberships(bob.id).await.unwrap().get(&p.id), Some(&Role::Editor));
    store.set_project_member(p.id, PrincipalKind::User, "bob", Some(Role::Viewer)).await.unwrap();
    assert_eq!(store.memberships(bob.id).await.unwrap().get(&p.id), Some(&Role::Editor), "the higher role wins");
    store.set_team_member("vision-team", "bob", None).await.unwrap();
    assert_eq!(store.memberships(bob.id).await.unwrap().get(&p.id), Some(&Role::Viewer));
    store.set_project_member(p.id, PrincipalKind::User, "bob", None).await.unwrap();
    assert!(store.memberships(bob.id).await.unwrap().is_empty());
    store.delete_team("vision-team").await.unwrap();
    assert!(matches!(store.get_team("vision-team").await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.project_members(p.id).await.unwrap().len(), 1, "the team's project role went with it");
    assert!(store.list_teams().await.unwrap().is_empty());
}

/// MLflow's experiment and model searches: conditions, order, views and pages, in the
/// store (`ListQuery`).
pub async fn lists_search_in_the_store(store: Arc<dyn MetadataStore>) {
    use crate::ListQuery;
    use cairn_query::CmpOp;
    use cairn_query::listing::{ListCond, ListField, ListOrder, Literal, Test};
    let tag = |k: &str, v: &str| -> BTreeMap<String, String> { [(k.to_owned(), v.to_owned())].into() };
    let mut ids = Vec::new();
    for (i, (name, tags)) in [
        ("exp-a", tag("team.name", "cv")),
        ("exp-b", tag("team.name", "nlp")),
        ("exp-c", BTreeMap::new()),
        ("Exp-D", tag("team.name", "cv")),
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewProject { name: name.into(), tags, ..Default::default() };
        ids.push(store.create_project(&new, T0 + i as i64 * 10).await.unwrap().id);
    }
    store.update_project(&ProjectName::parse("exp-a").unwrap(), &ProjectPatch::default(), T0 + 100).await.unwrap();
    let delete = ProjectPatch { deleted: Some(true), ..Default::default() };
    store.update_project(&ProjectName::parse("exp-c").unwrap(), &delete, T0 + 200).await.unwrap();
    let names = |q: ListQuery| {
        let store = store.clone();
        async move { store.search_projects(&q).await.unwrap().into_iter().map(|p| p.name.to_string()).collect::<Vec<_>>() }
    };
    let cond = |field: ListField, test: Test| ListCond { field, test };
    let s = |v: &str| Literal::Str(v.into());
    let live = |conds: Vec<ListCond>, order: Vec<ListOrder>| ListQuery {
        conds,
        order,
        deleted: Some(false),
        limit: 100,
        ..Default::default()
    };
    let by = |field: ListField, descending: bool| vec![ListOrder { field, descending }];
    assert_eq!(names(live(vec![], by(ListField::Name, false))).await, ["Exp-D", "exp-a", "exp-b"]);
    assert_eq!(names(live(vec![], by(ListField::Created, true))).await, ["Exp-D", "exp-b", "exp-a"]);
    assert_eq!(names(live(vec![], by(ListField::Updated, true))).await[0], "exp-a", "updated last");
    let like = |p: &str, ci| vec![cond(ListField::Name, Test::Like(p.into(), ci))];
    assert_eq!(names(live(like("exp-%", false), vec![])).await, ["exp-a", "exp-b"], "LIKE keeps case");
    assert_eq!(names(live(like("exp-%", true), vec![])).await, ["exp-a", "exp-b", "Exp-D"], "ILIKE ignores it");
    let cv = vec![cond(ListField::Tag("team.name".into()), Test::Compare(CmpOp::Eq, s("cv")))];
    assert_eq!(names(live(cv, vec![])).await, ["exp-a", "Exp-D"], "a tag with a dot in its key");
    let not_cv = vec![cond(ListField::Tag("team.name".into()), Test::Compare(CmpOp::Ne, s("cv")))];
    let all = |conds| ListQuery { conds, limit: 100, ..Default::default() };
    assert_eq!(names(all(not_cv)).await, ["exp-b"], "a missing tag fails !=");
    let none = vec![cond(ListField::Tag("team.name".into()), Test::IsNull(false))];
    assert_eq!(names(all(none)).await, ["exp-c"]);
    let quoted = vec![cond(ListField::Tag("a\"b".into()), Test::IsNull(true))];
    assert!(matches!(store.search_projects(&all(quoted)).await, Err(StoreError::Invalid(_))), "named, not a crash");
    let slash = vec![cond(ListField::Name, Test::Like("exp\\%".into(), false))];
    assert_eq!(names(all(slash)).await, Vec::<String>::new(), "a backslash is itself, not an escape");
    let some =
        vec![cond(ListField::Id, Test::In(vec![Literal::Num(ids[1] as f64), Literal::Num(ids[2] as f64)], false))];
    assert_eq!(names(all(some.clone())).await, ["exp-b", "exp-c"]);
    assert_eq!(names(ListQuery { deleted: Some(true), ..all(some) }).await, ["exp-c"]);
    let recent = vec![cond(ListField::Created, Test::Compare(CmpOp::Ge, Literal::Num((T0 + 10) as f64)))];
    assert_eq!(names(all(recent)).await, ["exp-b", "exp-c", "Exp-D"]);
    // Pages: limit, offset, a fixed view of the first page's time, hidden projects.
    let page = |offset| ListQuery { offset, limit: 2, order: by(ListField::Name, false), ..Default::default() };
    assert_eq!(names(page(0)).await, ["Exp-D", "exp-a"]);
    assert_eq!(names(page(2)).await, ["exp-b", "exp-c"]);
    assert_eq!(names(ListQuery { created_at_most: Some(T0 + 10), ..page(0) }).await, ["exp-a", "exp-b"]);
    assert_eq!(names(ListQuery { hidden: vec![ids[3]], ..page(0) }).await, ["exp-a", "exp-b"]);

    // Registered models: the same, and a tag the model lacks passes != (MLflow's client
    // leaves prompts out with `tag.mlflow.prompt.is_prompt != 'true'`).
    for (i, (name, tags)) in
        [("m-1", tag("kind", "cnn")), ("m-2", BTreeMap::new()), ("p-1", tag("kind", "prompt"))].into_iter().enumerate()
    {
        store
            .create_registered_model(
                &NewRegisteredModel { name: name.into(), tags, ..Default::default() },
                T0 + i as i64,
            )
            .await
            .unwrap();
    }
    let models = |conds: Vec<ListCond>, order: Vec<ListOrder>| {
        let store = store.clone();
        let q = ListQuery { conds, order, limit: 100, ..Default::default() };
        async move { store.search_registered_models(&q).await.unwrap().into_iter().map(|m| m.name).collect::<Vec<_>>() }
    };
    let not_prompt = vec![cond(ListField::Tag("kind".into()), Test::Compare(CmpOp::Ne, s("prompt")))];
    assert_eq!(models(not_prompt, vec![]).await, ["m-1", "m-2"]);
    assert_eq!(models(like("m-%", false), by(ListField::Created, true)).await, ["m-2", "m-1"]);
    let named = vec![cond(ListField::Name, Test::In(vec![s("p-1"), s("m-2")], false))];
    assert_eq!(models(named, vec![]).await, ["m-2", "p-1"]);
    let versions = store.versions_of_models(&["m-1".into(), "nope".into()]).await.unwrap();
    assert!(versions.is_empty());

    // Model versions, across models: by model, number, run, source, tags, update time.
    let run = make_run(&*store, "exp-a", &[]).await;
    for (i, (model, src, tagged)) in
        [("m-1", "s3://a/1", true), ("m-1", "s3://a/2", false), ("m-2", "s3://b/1", true)].into_iter().enumerate()
    {
        let new = NewModelVersion {
            source: src.into(),
            run_id: (model == "m-1").then_some(run.id),
            tags: if tagged { tag("stage", "prod") } else { BTreeMap::new() },
            ..Default::default()
        };
        store.create_model_version(model, &new, T0 + 10 + i as i64).await.unwrap();
    }
    let versions = |conds: Vec<ListCond>, order: Vec<ListOrder>| {
        let store = store.clone();
        let q = ListQuery { conds, order, limit: 100, ..Default::default() };
        async move {
            store.search_model_versions(&q).await.unwrap().into_iter().map(|v| (v.model, v.version)).collect::<Vec<_>>()
        }
    };
    let m1 = |v| (String::from("m-1"), v);
    let m2 = |v| (String::from("m-2"), v);
    assert_eq!(versions(vec![], vec![]).await, [m1(2), m1(1), m2(1)], "ties: by model, newest version first");
    assert_eq!(versions(vec![], by(ListField::Updated, true)).await, [m2(1), m1(2), m1(1)]);
    let named = vec![cond(ListField::Name, Test::Compare(CmpOp::Eq, s("m-1")))];
    assert_eq!(versions(named, by(ListField::Version, false)).await, [m1(1), m1(2)]);
    let later = vec![cond(ListField::Version, Test::Compare(CmpOp::Gt, Literal::Num(1.0)))];
    assert_eq!(versions(later, vec![]).await, [m1(2)]);
    let of_run = vec![cond(ListField::Run, Test::Compare(CmpOp::Eq, s(&run.id.0.simple().to_string())))];
    assert_eq!(versions(of_run, vec![]).await, [m1(2), m1(1)]);
    let from_a = vec![cond(ListField::Source, Test::Like("s3://a/%".into(), false))];
    assert_eq!(versions(from_a, vec![]).await, [m1(2), m1(1)]);
    let not_prod = vec![cond(ListField::Tag("stage".into()), Test::Compare(CmpOp::Ne, s("prod")))];
    assert_eq!(versions(not_prod, vec![]).await, [m1(2)], "a version without the tag passes !=");
}

pub async fn private_projects_hidden_from_search(store: Arc<dyn MetadataStore>) {
    use cairn_domain::auth::Visibility;
    ensure_project(&*store, "open").await;
    let secret = store
        .create_project(
            &NewProject { name: "secret".into(), visibility: Some(Visibility::Private), ..Default::default() },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(secret.visibility, Visibility::Private);
    store.create_run(&RunRecord { run: sample_run("open", &[]) }).await.unwrap();
    store.create_run(&RunRecord { run: sample_run("secret", &[]) }).await.unwrap();
    assert_eq!(store.private_projects().await.unwrap(), vec![secret.id]);
    let all = store.search_runs(&RunQuery::default()).await.unwrap();
    assert_eq!(all.runs.len(), 2);
    let q = RunQuery { hidden_projects: vec![secret.id], ..Default::default() };
    let seen = store.search_runs(&q).await.unwrap();
    assert_eq!(seen.runs.iter().map(|r| r.project.as_str()).collect::<Vec<_>>(), ["open"]);
    assert_eq!(store.count_runs(&q).await.unwrap(), 1);
    let opened = store
        .update_project(&secret.name, &ProjectPatch { visibility: Some(Visibility::Org), ..Default::default() }, T0 + 1)
        .await
        .unwrap();
    assert_eq!(opened.visibility, Visibility::Org);
    assert!(store.private_projects().await.unwrap().is_empty());
}

pub async fn audit_log_is_append_only(store: Arc<dyn MetadataStore>) {
    use cairn_domain::auth::{AuditEntry, AuditQuery};
    for (i, (actor, project)) in [("alice", Some("vision")), ("bob", None), ("alice", Some("nlp"))].iter().enumerate() {
        store
            .append_audit(&AuditEntry {
                id: 0,
                at: T0 + i as i64,
                actor: (*actor).into(),
                token: Some("ci (cairn_ab)".into()),
                address: Some("10.0.0.7".into()),
                action: "POST /api/v1/runs".into(),
                project: project.map(str::to_owned),
                status: 201,
                details: (i == 1).then(|| serde_json::json!({"granted": "editor"})),
            })
            .await
            .unwrap();
    }
    let all = store.query_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [T0 + 2, T0 + 1, T0], "newest first");
    assert_eq!(all[1].details, Some(serde_json::json!({"granted": "editor"})));
    let alice = store.query_audit(&AuditQuery { user: Some("alice".into()), ..Default::default() }).await.unwrap();
    assert_eq!(alice.len(), 2);
    let vision = store.query_audit(&AuditQuery { project: Some("vision".into()), ..Default::default() }).await.unwrap();
    assert_eq!(vision.len(), 1);
    let recent =
        store.query_audit(&AuditQuery { since: Some(T0 + 1), limit: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!(recent.len(), 1);
    let older = store.query_audit(&AuditQuery { before: Some(all[0].id), ..Default::default() }).await.unwrap();
    assert_eq!(older.len(), 2);
}

fn job_for(run: &Run) -> runner::Job {
    runner::Job {
        run_id: run.id.to_string(),
        short_id: run.short_id.to_string(),
        project: run.project.to_string(),
        name: run.name.clone(),
        owner: "ana".into(),
        team: Some("vision".into()),
        priority: "normal".into(),
        resources: runner::Resources {
            gpus: 2,
            gpu_type: Some("a100".into()),
            cpus: 4,
            mem_mb: 1000,
            time_limit_s: Some(60),
        },
        preemptible: true,
        budget: Some("hpo".into()),
        state: runner::JobState::Queued,
        command: run.command.clone(),
        workdir: Some("/work".into()),
        env: BTreeMap::from([("K".to_owned(), "v".to_owned())]),
        on_duplicate: Some("refuse".into()),
        ..Default::default()
    }
}

fn assign(agent: &str) -> impl Fn(&mut runner::Job) + Send + Sync + '_ {
    move |j: &mut runner::Job| {
        j.state = runner::JobState::Assigned;
        j.agent = Some(agent.to_owned());
        j.gpu_indices = vec![0, 1];
        j.attempts += 1;
    }
}

/// A job round-trips; a change applies only from the expected states, with its span
/// and event in the same transaction.
pub async fn jobs_change_by_compare_and_set(store: Arc<dyn MetadataStore>) {
    use runner::JobState::*;
    ensure_project(&*store, "jobs").await;
    let mut run = sample_run("jobs", &[]);
    run.status = RunStatus::Queued;
    let run = store.create_run(&RunRecord { run }).await.unwrap();
    let job = job_for(&run);
    store.create_job(&job, T0).await.unwrap();
    let got = store.get_job(run.id).await.unwrap();
    assert_eq!(got, job);
    assert_eq!(store.list_jobs(&[Queued], 10).await.unwrap(), vec![job.clone()]);
    assert!(store.list_jobs(&[Running], 10).await.unwrap().is_empty());
    let edit = assign("a1");
    let change = crate::JobChange { edit: &edit, span: crate::SpanOp::None, event: None };
    let placed = store.update_job(run.id, &[Queued], &change, T0 + 1).await.unwrap().expect("queued, so assigned");
    assert_eq!((placed.state, placed.agent.as_deref(), placed.attempts), (Assigned, Some("a1"), 1));
    // Expecting another state changes nothing.
    assert!(store.update_job(run.id, &[Queued], &change, T0 + 2).await.unwrap().is_none());
    assert_eq!(store.get_job(run.id).await.unwrap().attempts, 1);
    let start = |j: &mut runner::Job| {
        j.state = Running;
        j.started_at = Some(T0 + 10);
    };
    let ev = runner::JobEvent { at: T0 + 10, kind: "started".into(), message: "on a1".into() };
    let change = crate::JobChange { edit: &start, span: crate::SpanOp::Open { at: T0 + 10 }, event: Some(ev) };
    store.update_job(run.id, &[Assigned], &change, T0 + 10).await.unwrap().unwrap();
    let spans = store.job_spans(0, false).await.unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        (spans[0].agent.as_str(), spans[0].attempt, spans[0].started_at, spans[0].ended_at),
        ("a1", 1, T0 + 10, None)
    );
    let end = |j: &mut runner::Job| {
        j.state = Finished;
        j.ended_at = Some(T0 + 70);
        j.exit_code = Some(0);
    };
    let change = crate::JobChange {
        edit: &end,
        span: crate::SpanOp::Close { at: T0 + 70, outcome: "finished".into() },
        event: None,
    };
    store.update_job(run.id, &[Running], &change, T0 + 70).await.unwrap().unwrap();
    let spans = store.job_spans(T0 + 20, false).await.unwrap();
    assert_eq!((spans[0].ended_at, spans[0].outcome.as_deref()), (Some(T0 + 70), Some("finished")));
    assert!(store.job_spans(T0 + 71, false).await.unwrap().is_empty(), "spans that ended before `since` are left out");
    assert_eq!(store.job_spans(0, true).await.unwrap().len(), 1, "the job draws from a budget");
    let kinds: Vec<String> = store.job_events(run.id, 10).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["submitted", "started"]);
    let missing = RunId(uuid::Uuid::now_v7());
    assert!(matches!(store.get_job(missing).await, Err(StoreError::NotFound { what: "job", .. })));
}

/// Many claimers racing for the same queued jobs: each job is placed exactly once.
pub async fn racing_claims_start_a_job_once(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "race").await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let mut run = sample_run("race", &[]);
        run.status = RunStatus::Queued;
        let run = store.create_run(&RunRecord { run }).await.unwrap();
        store.create_job(&job_for(&run), T0).await.unwrap();
        ids.push(run.id);
    }
    let mut tasks = Vec::new();
    for claimer in 0..6 {
        let store = store.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("agent-{claimer}");
            let edit = assign(&name);
            let change = crate::JobChange { edit: &edit, span: crate::SpanOp::None, event: None };
            let mut won = 0;
            for id in ids {
                loop {
                    match store.update_job(id, &[runner::JobState::Queued], &change, T0).await {
                        Ok(Some(_)) => won += 1,
                        Ok(None) => {}
                        // SQLite's single writer may make a claimer wait past its timeout: try again.
                        Err(StoreError::Unavailable(_)) => continue,
                        Err(e) => panic!("{e}"),
                    }
                    break;
                }
            }
            won
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 20, "every job placed exactly once");
    for id in ids {
        assert_eq!(store.get_job(id).await.unwrap().attempts, 1);
    }
}

/// Agents register by name (keeping their id), heartbeat and change state; one holder
/// at a time has a lease until it expires; settings are kept; log pieces are stored
/// once at their offsets and read back from any offset.
pub async fn agents_leases_settings_and_logs(store: Arc<dyn MetadataStore>) {
    let agent = runner::Agent {
        id: "agent-1".into(),
        name: "box".into(),
        host: "h".into(),
        gpus: vec![0, 1],
        gpu_type: Some("a100".into()),
        fake_gpus: true,
        cpus: 8,
        mem_mb: 1000,
        labels: BTreeMap::new(),
        spot: false,
        state: "alive".into(),
        registered_at: T0,
        heartbeat_at: T0,
        ..Default::default()
    };
    assert_eq!(store.register_agent(&agent).await.unwrap().id, "agent-1");
    let again = runner::Agent { id: "agent-2".into(), cpus: 16, ..agent.clone() };
    let stored = store.register_agent(&again).await.unwrap();
    assert_eq!((stored.id.as_str(), stored.cpus), ("agent-1", 16), "the same name keeps its id");
    assert!(store.agent_heartbeat("agent-1", "draining", Some(42.0), T0 + 5).await.unwrap());
    assert!(!store.agent_heartbeat("nobody", "alive", None, T0).await.unwrap());
    let listed = store.list_agents().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].state.as_str(), listed[0].heartbeat_at, listed[0].gpu_utilisation),
        ("draining", T0 + 5, Some(42.0))
    );
    store.set_agent_state("agent-1", "lost").await.unwrap();
    assert_eq!(store.list_agents().await.unwrap()[0].state, "lost");

    assert!(store.take_lease("sched", "r1", T0, 1000).await.unwrap());
    assert!(!store.take_lease("sched", "r2", T0 + 500, 1000).await.unwrap(), "held by r1");
    assert!(store.take_lease("sched", "r1", T0 + 600, 1000).await.unwrap(), "renewed by its holder");
    assert!(!store.take_lease("sched", "r2", T0 + 1500, 1000).await.unwrap(), "renewed until T0 + 1600");
    assert!(store.take_lease("sched", "r2", T0 + 1700, 1000).await.unwrap(), "expired: taken over");

    assert_eq!(store.get_setting("runner").await.unwrap(), None);
    store.put_setting("runner", "{\"a\":1}", T0).await.unwrap();
    store.put_setting("runner", "{\"a\":2}", T0).await.unwrap();
    assert_eq!(store.get_setting("runner").await.unwrap().as_deref(), Some("{\"a\":2}"));

    ensure_project(&*store, "logs").await;
    let run = make_run(&*store, "logs", &[]).await;
    assert_eq!(store.append_log(run.id, 0, "héllo\n").await.unwrap(), 7);
    assert_eq!(store.append_log(run.id, 0, "other\n").await.unwrap(), 7, "a repeated piece is stored once");
    assert_eq!(store.append_log(run.id, 7, "world\n").await.unwrap(), 13);
    assert_eq!(store.read_log(run.id, 0, 1 << 20).await.unwrap(), ("héllo\nworld\n".to_owned(), 13, 13));
    assert_eq!(store.read_log(run.id, 7, 1 << 20).await.unwrap(), ("world\n".to_owned(), 13, 13));
    assert_eq!(store.read_log(run.id, 13, 1 << 20).await.unwrap(), (String::new(), 13, 13));
    // An offset inside a character starts at the next whole one.
    assert_eq!(store.read_log(run.id, 2, 1 << 20).await.unwrap().0, "llo\nworld\n");
}

fn bulk(project: &str, config: serde_json::Value, status: RunStatus, acc: Option<f64>) -> crate::BulkRun {
    let mut run = sample_run(project, &[]);
    run.config = config.as_object().cloned().unwrap_or_default();
    run.status = status;
    run.group_id = None;
    let metrics = acc.map(|v| (key("acc"), series(&[(0, v / 2.0), (1, v)]))).into_iter().collect();
    crate::BulkRun { run, metrics }
}

pub async fn bulk_runs_are_written_together(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "bulk").await;
    let p = ProjectName::parse("bulk").unwrap();
    let before = store.get_project(&p).await.unwrap().run_count;
    let mut runs: Vec<crate::BulkRun> = (0..3)
        .map(|i| {
            bulk(
                "bulk",
                serde_json::json!({"lr": 0.1 * (i + 1) as f64, "aug": "mixup"}),
                RunStatus::Finished,
                Some(0.5),
            )
        })
        .collect();
    runs[2].metrics.clear();
    runs[1].run.parents = vec![runs[0].run.id];
    store.create_runs(&runs).await.unwrap();
    assert_eq!(store.get_project(&p).await.unwrap().run_count, before + 3, "the project counts its new runs");
    let ids: Vec<RunId> = runs.iter().map(|r| r.run.id).collect();
    let mut got = store.get_runs(&[ids[0], ids[1], ids[2], RunId(uuid::Uuid::now_v7())]).await.unwrap();
    got.sort_by_key(|r| ids.iter().position(|i| *i == r.id));
    assert_eq!(got.len(), 3, "unknown ids are left out");
    for (g, want) in got.iter().zip(&runs) {
        let mut plain = g.clone();
        plain.metrics.clear();
        plain.children.clear();
        assert_eq!(plain, want.run, "every field survives a bulk write");
    }
    assert_eq!(got[0].children, vec![ids[1]]);
    let acc = &got[0].metrics[0];
    assert_eq!((acc.key.as_str(), acc.count, acc.last, acc.min), ("acc", 2, 0.5, Some(0.25)));
    let h = store.metric_history(ids[0], "acc", StepRange::default(), 100).await.unwrap();
    assert_eq!((h.steps.clone(), h.values.clone()), (vec![0, 1], vec![0.25, 0.5]));
    // Values survive exactly, infinities and a series long enough for a level of detail
    // included.
    ensure_project(&*store, "bulk-odd").await;
    let mut odd = bulk("bulk-odd", serde_json::json!({"lr": 0.5}), RunStatus::Finished, None);
    let mut points: Vec<(i64, f64)> = vec![(0, f64::INFINITY), (1, 0.1 + 0.2), (2, -1e-300), (3, f64::NEG_INFINITY)];
    points.extend((4..100).map(|s| (s, s as f64 / 7.0)));
    odd.metrics = vec![(key("loss"), series(&points))];
    store.create_runs(std::slice::from_ref(&odd)).await.unwrap();
    let h = store.metric_history(odd.run.id, "loss", StepRange::default(), 1000).await.unwrap();
    assert_eq!(h.values, points.iter().map(|p| p.1).collect::<Vec<_>>(), "every value as it was given");
    let summary = &store.get_runs(&[odd.run.id]).await.unwrap()[0].metrics[0];
    assert_eq!((summary.count, summary.last), (100, 99.0 / 7.0));
    // Appending to a bulk-written series continues it.
    store.log_metrics(ids[0], &[(key("acc"), series(&[(2, 0.75)]))], None).await.unwrap();
    assert_eq!(
        store.metric_history(ids[0], "acc", StepRange::default(), 100).await.unwrap().values,
        vec![0.25, 0.5, 0.75]
    );
    let q = RunQuery {
        project: Some(p.clone()),
        filter: cairn_query::parse_filter("params.lr > 0.15 and metrics.acc >= 0.5").unwrap(),
        ..Default::default()
    };
    assert_eq!(store.count_runs(&q).await.unwrap(), 1, "params and metrics of bulk runs are searchable");

    // All or nothing: a taken short id, or an unknown parent, writes none of the batch.
    let mut clash = vec![bulk("bulk", serde_json::json!({}), RunStatus::Finished, Some(0.1)); 2];
    clash[0].run.id = RunId(uuid::Uuid::now_v7());
    clash[1].run.id = RunId(uuid::Uuid::now_v7());
    clash[1].run.short_id = runs[0].run.short_id.clone();
    assert!(matches!(store.create_runs(&clash).await, Err(StoreError::AlreadyExists(_))));
    let mut orphan = bulk("bulk", serde_json::json!({}), RunStatus::Finished, None);
    orphan.run.parents = vec![RunId(uuid::Uuid::now_v7())];
    let fine = bulk("bulk", serde_json::json!({}), RunStatus::Finished, None);
    assert!(store.create_runs(&[fine.clone(), orphan]).await.is_err());
    assert!(store.get_runs(&[clash[0].run.id, fine.run.id]).await.unwrap().is_empty(), "nothing half-written");
    assert_eq!(store.get_project(&p).await.unwrap().run_count, before + 3);

    store
        .record_artifact(
            ids[2],
            &ArtifactInfo {
                path: ArtifactPath::parse("model.bin").unwrap(),
                size: 7,
                blake3: "00".repeat(32),
                created_at: T0,
            },
        )
        .await
        .unwrap();
    let files = store.artifacts_of(&ids).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[&ids[2]][0].size, 7);
}

pub async fn analyses_aggregate_in_the_store(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "agg").await;
    let p = ProjectName::parse("agg").unwrap();
    let mut runs = Vec::new();
    for (aug, status, acc) in [
        ("mixup", RunStatus::Finished, Some(0.8)),
        ("mixup", RunStatus::Finished, Some(0.9)),
        ("mixup", RunStatus::Failed, Some(0.99)),
        ("cutout", RunStatus::Finished, Some(0.7)),
        ("cutout", RunStatus::Crashed, None),
    ] {
        runs.push(bulk("agg", serde_json::json!({"aug": aug, "lr": 0.1}), status, acc));
    }
    runs.push(bulk("agg", serde_json::json!({"lr": 0.1}), RunStatus::Finished, Some(f64::INFINITY)));
    runs[1].run.owner = "bo".into();
    runs[0].run.group_id = Some("g1".into());
    runs[1].run.group_id = Some("g1".into());
    runs[4].run.tags.insert("cairn.failure".into(), "out of memory".into());
    store.create_runs(&runs).await.unwrap();
    store.delete_run(runs[3].run.id, T0 + 10).await.unwrap();

    let v = store.param_values(&p, "aug", Some(("acc", cairn_domain::Direction::Increase)), 10).await.unwrap();
    assert!(v.key_seen);
    assert_eq!(v.values_total, 3, "mixup, cutout and not set");
    let g = |value: Option<&str>| v.groups.iter().find(|g| g.value.as_deref() == value).unwrap().clone();
    let mixup = g(Some("mixup"));
    assert_eq!((mixup.runs, mixup.finished, mixup.failed, mixup.n), (3, 2, 1, 2), "{mixup:?}");
    assert!((mixup.mean.unwrap() - 0.85).abs() < 1e-12, "a failed run's value does not count");
    assert!((mixup.sd.unwrap() - 0.070_710_678_118_654_75).abs() < 1e-9, "{:?}", mixup.sd);
    assert_eq!(mixup.max.clone().unwrap(), (0.9, runs[1].run.short_id.to_string()));
    assert_eq!(mixup.min.clone().unwrap(), (0.8, runs[0].run.short_id.to_string()));
    assert_eq!((mixup.replicate_groups, mixup.replicated_runs), (1, 2));
    assert_eq!(mixup.owners, vec!["ana", "bo"]);
    assert_eq!(mixup.newest.len(), 3);
    assert_eq!(mixup.first, runs[0].run.created_at);
    assert_eq!(mixup.last, runs[2].run.created_at);
    let cutout = g(Some("cutout"));
    assert_eq!((cutout.runs, cutout.n, cutout.mean), (1, 0, None), "the deleted run is not counted");
    assert_eq!(cutout.failures.len(), 1);
    assert_eq!(cutout.failures[0].1, RunStatus::Crashed);
    assert_eq!(cutout.failures[0].3.as_deref(), Some("out of memory"));
    let unset = g(None);
    assert_eq!((unset.runs, unset.n), (1, 0), "an infinite value is no value");
    let top = store.param_values(&p, "aug", None, 1).await.unwrap();
    assert_eq!((top.values_total, top.groups.len()), (3, 1));
    assert_eq!(top.groups[0].value.as_deref(), Some("mixup"), "the largest group first");
    assert_eq!(top.groups[0].n, 0, "no metric, no values");
    assert!(!store.param_values(&p, "nope", None, 10).await.unwrap().key_seen);

    let all = store.metric_sample(&p, "acc", None, 100).await.unwrap();
    assert_eq!(all.total, 2, "finished, live, finite: not the failed, deleted or infinite ones");
    let values: Vec<f64> = all.runs.iter().map(|r| r.1).collect();
    assert_eq!(values, vec![0.8, 0.9], "in the metric's order");
    assert_eq!(all.runs[0].0, runs[0].run.short_id.to_string());
    assert_eq!(all.runs[0].2["aug"], serde_json::json!("mixup"), "configs come with the sample");
    let one = store.metric_sample(&p, "acc", None, 1).await.unwrap();
    assert_eq!((one.total, one.runs.len(), one.runs[0].1), (2, 1, 0.8), "every 2nd run, from the lowest");
    let filter = cairn_query::parse_filter("params.aug = \"cutout\"").unwrap();
    assert_eq!(store.metric_sample(&p, "acc", filter.as_ref(), 10).await.unwrap().total, 0);
}

/// Which generated runs (by index) a filter should find.
type Wanted = dyn Fn(usize, &crate::BulkRun) -> bool;

/// Past 20,000 runs a search may start from a selective term's index instead of
/// walking runs newest first: the answers must be the same.
pub async fn selective_searches_start_from_an_index(store: Arc<dyn MetadataStore>) {
    ensure_project(&*store, "big").await;
    ensure_project(&*store, "other").await;
    let p = ProjectName::parse("big").unwrap();
    let n = 20_400usize;
    let mut all = Vec::with_capacity(n);
    for start in (0..n).step_by(1000) {
        let batch: Vec<crate::BulkRun> = (start..(start + 1000).min(n))
            .map(|i| {
                let mut b = bulk(
                    if i % 100 == 99 { "other" } else { "big" },
                    serde_json::json!({"tenant": i % 4000, "kind": if i % 2 == 0 { "a" } else { "b" }}),
                    RunStatus::Finished,
                    Some((i % 1000) as f64 / 1000.0),
                );
                b.run.created_at = T0 + i as i64;
                if i % 5000 == 7 {
                    b.run.tags.insert("rare".into(), "yes".into());
                }
                b
            })
            .collect();
        store.create_runs(&batch).await.unwrap();
        all.extend(batch);
    }
    let check = |filter: &'static str, want: Box<Wanted>| {
        let store = store.clone();
        let p = p.clone();
        let all = all.clone();
        async move {
            let expected: Vec<String> = all
                .iter()
                .enumerate()
                .filter(|(i, r)| r.run.project == p && want(*i, r))
                .rev()
                .map(|(_, r)| r.run.short_id.to_string())
                .collect();
            let q = RunQuery {
                project: Some(p.clone()),
                filter: cairn_query::parse_filter(filter).unwrap(),
                limit: 3,
                ..Default::default()
            };
            let page = store.search_runs(&q).await.unwrap();
            let got: Vec<String> = page.runs.iter().map(|r| r.short_id.to_string()).collect();
            assert_eq!(got, expected.iter().take(3).cloned().collect::<Vec<_>>(), "{filter}: newest first");
            assert_eq!(page.next_offset.is_some(), expected.len() > 3, "{filter}: more pages");
            assert_eq!(store.count_runs(&q).await.unwrap(), expected.len() as u64, "{filter}: count");
        }
    };
    check("params.tenant = 17", Box::new(|i, _| i % 4000 == 17)).await;
    check("params.tenant = 17 and params.kind = \"b\"", Box::new(|i, _| i % 4000 == 17 && i % 2 == 1)).await;
    check("params.tenant >= 3998", Box::new(|i, _| i % 4000 >= 3998)).await;
    check("tags.rare = \"yes\" and params.kind = \"b\"", Box::new(|i, _| i % 5000 == 7 && i % 2 == 1)).await;
    check("tags.rare = \"yes\"", Box::new(|i, _| i % 5000 == 7)).await;
    check("metrics.acc = 0.017 and params.tenant < 100", Box::new(|i, _| i % 1000 == 17 && i % 4000 < 100)).await;
    check("params.kind = \"a\" and params.tenant = 4001", Box::new(|_, _| false)).await;
    // Deleted runs stay out whichever way the search goes.
    let gone = all.iter().enumerate().rev().find(|(i, r)| i % 4000 == 17 && r.run.project == p).unwrap().1;
    store.delete_run(gone.run.id, T0).await.unwrap();
    let q = RunQuery {
        project: Some(p.clone()),
        filter: cairn_query::parse_filter("params.tenant = 17").unwrap(),
        ..Default::default()
    };
    let page = store.search_runs(&q).await.unwrap();
    assert!(page.runs.iter().all(|r| r.id != gone.run.id));
    assert_eq!(page.runs.len(), 5, "six runs have tenant 17, one deleted");
}
