use super::*;

const HOUR: Millis = 3_600_000;

fn node(id: &str, gpus: u32) -> Node {
    Node {
        id: id.into(),
        gpus: (0..gpus).collect(),
        gpu_type: Some("a100".into()),
        cpus: 64,
        mem_mb: 512_000,
        spot: false,
        cordoned: false,
    }
}

fn job(id: &str, user: &str, gpus: u32) -> Job {
    Job {
        id: id.into(),
        user: user.into(),
        team: None,
        project: "p".into(),
        priority: Priority::Normal,
        request: Request { gpus, ..Default::default() },
        preemptible: false,
        budget: None,
        submitted_at: 0,
    }
}

fn running(j: Job, node: &str, gpus: &[u32], started_at: Millis) -> Running {
    Running { job: j, node: node.into(), gpus: gpus.to_vec(), started_at }
}

fn started(d: &[Decision]) -> Vec<(String, String, Vec<u32>)> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Start { job, node, gpus } => Some((job.clone(), node.clone(), gpus.clone())),
            _ => None,
        })
        .collect()
}

fn reason<'a>(d: &'a [Decision], id: &str) -> &'a WaitReason {
    d.iter()
        .find_map(|d| match d {
            Decision::Wait { job, reason, .. } if job == id => Some(reason),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{id} does not wait: {d:?}"))
}

fn state(nodes: Vec<Node>, queued: Vec<Job>) -> State {
    State { now: 10 * HOUR, nodes, queued, ..Default::default() }
}

#[test]
fn jobs_are_packed_best_fit_and_kept_on_one_node() {
    let s = state(vec![node("big", 8), node("small", 2)], vec![job("two", "a", 2), job("eight", "b", 8)]);
    let d = schedule(&s, &Config::default());
    let mut got = started(&d);
    got.sort();
    assert_eq!(got, vec![("eight".into(), "big".into(), (0..8).collect()), ("two".into(), "small".into(), vec![0, 1])]);
}

#[test]
fn a_job_larger_than_any_node_says_the_largest() {
    let s = state(vec![node("a", 8), node("b", 4)], vec![job("huge", "a", 16)]);
    let d = schedule(&s, &Config::default());
    assert_eq!(reason(&d, "huge"), &WaitReason::TooLarge { largest_gpus: 8 });
    assert_eq!(reason(&d, "huge").to_string(), "no node can hold it: the largest has 8 GPU(s)");
}

#[test]
fn a_zero_quota_makes_jobs_wait_with_the_reason() {
    let mut s = state(vec![node("a", 8)], vec![job("j", "ana", 1)]);
    s.quotas.insert(Scope::User("ana".into()), Quota { max_gpus: Some(0), ..Default::default() });
    let d = schedule(&s, &Config::default());
    assert!(started(&d).is_empty());
    assert_eq!(reason(&d, "j").to_string(), "user ana is at its quota of 0 concurrent GPUs (0.00 used)");
}

#[test]
fn a_concurrent_quota_counts_what_starts_in_the_same_round() {
    let mut t = job("t1", "ana", 2);
    t.team = Some("cv".into());
    let mut t2 = t.clone();
    t2.id = "t2".into();
    let mut t3 = t.clone();
    t3.id = "t3".into();
    t3.user = "bo".into();
    let mut s = state(vec![node("a", 8)], vec![t, t2, t3]);
    s.quotas.insert(Scope::Team("cv".into()), Quota { max_gpus: Some(4), ..Default::default() });
    let d = schedule(&s, &Config::default());
    assert_eq!(started(&d).len(), 2);
    assert!(matches!(reason(&d, "t3"), WaitReason::Quota { scope: Scope::Team(t), .. } if t == "cv"));
}

#[test]
fn weekly_hours_money_and_budgets_stop_dispatch_when_spent() {
    let mut j = job("j", "ana", 1);
    j.budget = Some("hpo".into());
    let mut s = state(vec![node("a", 8)], vec![j]);
    s.budgets.insert("hpo".into(), Budget { limit: 5000.0, spent: 5000.0 });
    let d = schedule(&s, &Config::default());
    assert_eq!(reason(&d, "j").to_string(), "budget hpo is spent (5000.00 of 5000.00)");
    s.budgets.insert("hpo".into(), Budget { limit: 5000.0, spent: 4999.0 });
    s.quotas.insert(Scope::Project("p".into()), Quota { gpu_hours_per_week: Some(100.0), ..Default::default() });
    s.used.insert(Scope::Project("p".into()), Used { gpu_hours_week: 100.5, ..Default::default() });
    let d = schedule(&s, &Config::default());
    assert!(matches!(reason(&d, "j"), WaitReason::Quota { what: "GPU-hours a week", .. }));
    s.quotas.insert(Scope::Project("p".into()), Quota { money_per_month: Some(10.0), ..Default::default() });
    s.used.insert(Scope::Project("p".into()), Used { money_month: 12.0, ..Default::default() });
    let mut cfg = Config::default();
    let d = schedule(&s, &cfg);
    assert_eq!(started(&d).len(), 1, "without prices a job costs nothing");
    cfg.gpu_hour_price.insert(None, 2.1);
    let d = schedule(&s, &cfg);
    assert!(matches!(reason(&d, "j"), WaitReason::Quota { what: "money a month", .. }));
}

#[test]
fn fair_share_puts_a_colleague_before_a_heavy_user() {
    // Ana's sweep has used a lot; Bo has used nothing. One GPU is free.
    let mut sweep: Vec<Job> =
        (0..500).map(|i| Job { submitted_at: i, ..job(&format!("sweep-{i}"), "ana", 1) }).collect();
    sweep.push(Job { submitted_at: 1_000, ..job("single", "bo", 1) });
    let mut s = state(vec![node("a", 1)], sweep);
    s.used.insert(Scope::User("ana".into()), Used { decayed_gpu_seconds: 1e6, ..Default::default() });
    let d = schedule(&s, &Config::default());
    assert_eq!(started(&d), vec![("single".into(), "a".into(), vec![0])]);
    assert!(fair_share(&s, &Scope::User("bo".into())) > fair_share(&s, &Scope::User("ana".into())));
    // Equal usage: first come, first served.
    s.used.clear();
    let d = schedule(&s, &Config::default());
    assert_eq!(started(&d)[0].0, "sweep-0");
}

#[test]
fn fair_share_follows_the_weights() {
    let mut s = State::default();
    s.used.insert(Scope::Team("a".into()), Used { decayed_gpu_seconds: 50.0, ..Default::default() });
    s.used.insert(Scope::Team("b".into()), Used { decayed_gpu_seconds: 50.0, ..Default::default() });
    // Equal use of equal shares: both at exactly their share.
    assert!((fair_share(&s, &Scope::Team("a".into())) - 0.5).abs() < 1e-9);
    // Team a is entitled to three times as much: under its share now.
    s.shares.insert(Scope::Team("a".into()), 3.0);
    assert!(fair_share(&s, &Scope::Team("a".into())) > 0.5);
    assert!(fair_share(&s, &Scope::Team("b".into())) < 0.5);
    assert_eq!(fair_share(&s, &Scope::Team("idle".into())), 2f64.powf(-0.0));
}

#[test]
fn higher_classes_go_first() {
    let low = Job { priority: Priority::Low, submitted_at: 0, ..job("low", "a", 1) };
    let urgent = Job { priority: Priority::Urgent, submitted_at: 5, ..job("urgent", "b", 1) };
    let s = state(vec![node("n", 1)], vec![low, urgent]);
    let d = schedule(&s, &Config::default());
    assert_eq!(started(&d)[0].0, "urgent");
    assert!(matches!(reason(&d, "low"), WaitReason::Resources { free_gpus: 0 }));
}

#[test]
fn an_urgent_job_preempts_lower_work_of_a_team_over_its_share() {
    let mut sweep = Job { priority: Priority::Low, preemptible: true, ..job("sweep-1", "ana", 4) };
    sweep.team = Some("nlp".into());
    let sweep2 = Job { id: "sweep-2".into(), ..sweep.clone() };
    let mut s = state(
        vec![node("n", 8)],
        vec![Job { priority: Priority::Urgent, team: Some("cv".into()), ..job("fix", "bo", 4) }],
    );
    s.running = vec![running(sweep, "n", &[0, 1, 2, 3], HOUR), running(sweep2, "n", &[4, 5, 6, 7], 9 * HOUR)];
    s.used.insert(Scope::Team("nlp".into()), Used { decayed_gpu_seconds: 9e5, ..Default::default() });
    s.used.insert(Scope::Team("cv".into()), Used { decayed_gpu_seconds: 1e5, ..Default::default() });
    let d = schedule(&s, &Config::default());
    // The most recently started loses the least work.
    assert_eq!(
        d.iter().filter(|d| matches!(d, Decision::Preempt { .. })).collect::<Vec<_>>(),
        vec![&Decision::Preempt {
            job: "sweep-2".into(),
            for_job: "fix".into(),
            reason: "urgent job fix needs room on n".into()
        }]
    );
    assert_eq!(reason(&d, "fix"), &WaitReason::Preempting { victims: vec!["sweep-2".into()] });
    // Not preemptible, the same class, or a team within its share: nothing is taken.
    let mut calm = s.clone();
    calm.used.insert(Scope::Team("nlp".into()), Used { decayed_gpu_seconds: 1e5, ..Default::default() });
    assert!(!schedule(&calm, &Config::default()).iter().any(|d| matches!(d, Decision::Preempt { .. })));
    let mut pinned = s.clone();
    pinned.running.iter_mut().for_each(|r| r.job.preemptible = false);
    assert!(!schedule(&pinned, &Config::default()).iter().any(|d| matches!(d, Decision::Preempt { .. })));
    let mut normal = s.clone();
    normal.queued[0].priority = Priority::Normal;
    assert!(!schedule(&normal, &Config::default()).iter().any(|d| matches!(d, Decision::Preempt { .. })));
}

#[test]
fn small_jobs_backfill_only_where_they_cannot_delay_the_head() {
    // 2 of 4 GPUs busy for another hour; the head needs all 4.
    let busy = Job {
        request: Request { gpus: 2, time_limit_ms: Some(2 * HOUR), ..Default::default() },
        ..job("busy", "x", 2)
    };
    let head = Job { submitted_at: 0, ..job("head", "a", 4) };
    let short = Job {
        submitted_at: 1,
        request: Request { gpus: 1, time_limit_ms: Some(HOUR / 2), ..Default::default() },
        ..job("short", "b", 1)
    };
    let long = Job { submitted_at: 2, ..job("long", "c", 1) };
    let mut s = state(vec![node("n", 4)], vec![head, short, long]);
    s.running = vec![running(busy, "n", &[0, 1], 9 * HOUR)];
    let d = schedule(&s, &Config::default());
    assert!(matches!(reason(&d, "head"), WaitReason::Resources { free_gpus: 2 }));
    assert_eq!(started(&d), vec![("short".into(), "n".into(), vec![2])]);
    assert_eq!(reason(&d, "long"), &WaitReason::Reserved { for_job: "head".into() });
}

#[test]
fn spot_nodes_take_only_preemptible_jobs_and_cordoned_nodes_none() {
    let mut spot = node("spot", 4);
    spot.spot = true;
    let mut drained = node("drained", 4);
    drained.cordoned = true;
    let s = state(
        vec![spot, drained],
        vec![job("steady", "a", 1), Job { preemptible: true, submitted_at: 1, ..job("cheap", "b", 1) }],
    );
    let d = schedule(&s, &Config::default());
    assert_eq!(started(&d), vec![("cheap".into(), "spot".into(), vec![0])]);
    assert!(matches!(reason(&d, "steady"), WaitReason::Resources { .. }));
}

#[test]
fn gpu_types_are_matched() {
    let mut h100 = node("h", 8);
    h100.gpu_type = Some("h100".into());
    let j =
        Job { request: Request { gpus: 1, gpu_type: Some("h100".into()), ..Default::default() }, ..job("j", "a", 1) };
    let s = state(vec![node("a", 8), h100], vec![j]);
    assert_eq!(started(&schedule(&s, &Config::default()))[0].1, "h");
}

#[test]
fn ten_thousand_jobs_on_a_hundred_nodes_decide_quickly() {
    let nodes: Vec<Node> = (0..100).map(|i| node(&format!("n{i}"), 8)).collect();
    let queued: Vec<Job> = (0..10_000)
        .map(|i| Job { submitted_at: i, ..job(&format!("j{i}"), &format!("u{}", i % 37), 1 + (i % 4) as u32) })
        .collect();
    let s = state(nodes, queued);
    let d = schedule(&s, &Config::default());
    assert_eq!(d.len(), 10_000);
    assert!(started(&d).iter().map(|(_, n, _)| n).collect::<BTreeSet<_>>().len() == 100, "every node used");
}

#[test]
fn usage_decays_by_half_lives_and_decisions_read_as_sentences() {
    assert_eq!(decay(100.0, 7 * 24 * HOUR, 7 * 24 * HOUR), 50.0);
    assert_eq!(decay(100.0, 14 * 24 * HOUR, 7 * 24 * HOUR), 25.0);
    assert_eq!(decay(100.0, 0, 7 * 24 * HOUR), 100.0);
    let d = Decision::Start { job: "j".into(), node: "n".into(), gpus: vec![0, 3] };
    assert_eq!(d.to_string(), "start j on n (GPUs 0,3)");
    let w = Decision::Wait { job: "j".into(), position: 0, reason: WaitReason::Reserved { for_job: "h".into() } };
    assert_eq!(
        w.to_string(),
        "j waits (position 1): waiting behind h, which has priority and would be delayed (backfill)"
    );
}

#[test]
fn jobs_started_in_the_same_round_count_for_the_reservation() {
    let a =
        Job { request: Request { gpus: 2, time_limit_ms: Some(2 * HOUR), ..Default::default() }, ..job("a", "u1", 2) };
    let head = Job { submitted_at: 1, ..job("head", "u2", 4) };
    let short = Job {
        submitted_at: 2,
        request: Request { gpus: 1, time_limit_ms: Some(HOUR), ..Default::default() },
        ..job("short", "u3", 1)
    };
    let long = Job { submitted_at: 3, ..job("long", "u4", 1) };
    let s = state(vec![node("n", 4)], vec![a, head, short, long]);
    let d = schedule(&s, &Config::default());
    let got: Vec<String> = started(&d).into_iter().map(|s| s.0).collect();
    assert_eq!(got, vec!["a", "short"]);
    assert_eq!(reason(&d, "long"), &WaitReason::Reserved { for_job: "head".into() });
}

#[test]
fn why_a_job_waits_is_explained_in_full() {
    let mut spot = node("spot", 8);
    spot.spot = true;
    let mut j = Job { team: Some("cv".into()), budget: Some("hpo".into()), ..job("j", "ana", 4) };
    j.request.gpu_type = Some("a100".into());
    let mut s = state(vec![node("a", 8), spot], vec![j]);
    s.running = vec![running(job("r", "bo", 6), "a", &[0, 1, 2, 3, 4, 5], 9 * HOUR)];
    s.quotas.insert(Scope::Team("cv".into()), Quota { max_gpus: Some(16), ..Default::default() });
    s.budgets.insert("hpo".into(), Budget { limit: 100.0, spent: 40.0 });
    let why = explain(&s, &Config::default(), "j").unwrap();
    assert_eq!(why[0], "j waits (position 1): waiting for resources: at most 2 GPU(s) free on a node that fits");
    assert!(why.iter().any(|l| l == "quota of team cv: 0 of 16 concurrent GPUs"), "{why:?}");
    assert!(why.iter().any(|l| l == "budget hpo: 40.00 of 100.00 spent"), "{why:?}");
    assert!(why.iter().any(|l| l == "node a: 2 of 8 GPU(s) free now"), "{why:?}");
    assert!(why.iter().any(|l| l == "node spot: spot capacity, for preemptible jobs only"), "{why:?}");
    assert!(explain(&s, &Config::default(), "nope").is_none());
    let empty = state(vec![], vec![job("k", "ana", 1)]);
    let why = explain(&empty, &Config::default(), "k").unwrap();
    assert!(why[0].contains("no agent is connected"), "{why:?}");
}

#[test]
fn memory_is_read_as_people_write_it() {
    assert_eq!(parse_mem_mb("32G"), Ok(32 * 1024));
    assert_eq!(parse_mem_mb("512M"), Ok(512));
    assert_eq!(parse_mem_mb("1.5T"), Ok(1_572_864));
    assert_eq!(parse_mem_mb("64GB"), Ok(65_536));
    assert_eq!(parse_mem_mb("8GiB"), Ok(8192));
    assert_eq!(parse_mem_mb("2048"), Ok(2048));
    assert!(parse_mem_mb("lots").unwrap_err().contains("32G"));
    assert!(parse_mem_mb("3X").unwrap_err().contains("K, M, G or T"));
}

#[test]
fn a_job_larger_than_every_node_is_refused_at_submit_naming_the_largest() {
    let nodes = vec![node("small", 2), node("big", 8)];
    assert!(check_submittable(&nodes, &job("ok", "a", 8)).is_ok());
    let err = check_submittable(&nodes, &job("huge", "a", 16)).unwrap_err();
    assert!(err.contains("asking for 16 GPU(s)") && err.contains("the largest node, big, has 8 GPU(s)"), "{err}");
    assert!(check_submittable(&[], &job("any", "a", 64)).is_ok(), "no agents yet: it waits");
}

#[test]
fn usage_counts_hours_money_and_decayed_seconds_per_scope() {
    let now = 30 * 24 * HOUR;
    let team_job = Job { team: Some("cv".into()), ..job("a", "ana", 2) };
    let spans = vec![
        // Two hours, ended an hour ago.
        Span { job: team_job.clone(), started_at: now - 3 * HOUR, ended_at: Some(now - HOUR) },
        // Still running for an hour.
        Span { job: job("b", "bo", 1), started_at: now - HOUR, ended_at: None },
        // Ten days ago: outside the week.
        Span { job: job("c", "ana", 4), started_at: now - 10 * 24 * HOUR, ended_at: Some(now - 10 * 24 * HOUR + HOUR) },
    ];
    let mut cfg = Config::default();
    cfg.gpu_hour_price.insert(None, 2.0);
    let u = usage(&spans, &cfg, now, now - 20 * 24 * HOUR, 7 * 24 * HOUR);
    let ana = &u[&Scope::User("ana".into())];
    assert!((ana.gpu_hours_week - 4.0).abs() < 1e-9, "{ana:?}");
    assert!((ana.money_month - (2.0 * 2.0 * 2.0 + 4.0 * 2.0)).abs() < 1e-9, "{ana:?}");
    assert!((u[&Scope::Team("cv".into())].gpu_hours_week - 4.0).abs() < 1e-9);
    assert!((u[&Scope::User("bo".into())].gpu_hours_week - 1.0).abs() < 1e-9);
    assert!((u[&Scope::Project("p".into())].gpu_hours_week - 5.0).abs() < 1e-9);
    // Recent use weighs more than old use of the same size.
    let old = usage(&spans[2..], &cfg, now, 0, 7 * 24 * HOUR)[&Scope::User("ana".into())].decayed_gpu_seconds;
    let recent = 4.0 * 3600.0 * decay(1.0, 0, 7 * 24 * HOUR);
    assert!(old < recent / 2.0, "{old} vs {recent}");
    // Without decay, plain GPU-seconds.
    let plain = usage(&spans[1..2], &cfg, now, 0, 0)[&Scope::User("bo".into())].decayed_gpu_seconds;
    assert!((plain - 3600.0).abs() < 1e-6);
}

#[test]
fn eta_replays_rounds_as_running_jobs_end() {
    let mut a = job("a", "u", 4);
    a.request.time_limit_ms = Some(3_600_000);
    let mut b = job("b", "u", 4);
    b.request.time_limit_ms = Some(1_800_000);
    let mut c = job("c", "u", 4);
    c.submitted_at = 5;
    let mut s = state(vec![node("n1", 4)], vec![a, b, c]);
    s.now = 1_000;
    let eta = eta(&s, &Config::default(), 10);
    // One node of four GPUs: a first, then b when a ends, then c when b ends.
    assert_eq!(eta["a"], 1_000);
    assert_eq!(eta["b"], 1_000 + 3_600_000);
    assert_eq!(eta["c"], 1_000 + 3_600_000 + 1_800_000);
    // With too few rounds, the last gets no estimate rather than a wrong one.
    assert!(!super::eta(&s, &Config::default(), 2).contains_key("c"));
    // Behind a job without a time limit nothing can be told.
    let mut open_ended = state(vec![node("n1", 4)], vec![job("d", "u", 4), job("e", "u", 4)]);
    open_ended.now = 1_000;
    let eta = super::eta(&open_ended, &Config::default(), 10);
    assert_eq!((eta.get("d"), eta.get("e")), (Some(&1_000), None));
}
