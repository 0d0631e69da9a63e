//! The job table every kind of background work runs on: lanes keep one
//! conversation's work in order, a handler's own retry time and giving up
//! are kept for operators, and the installation's sweeps (router, SLA,
//! retention, the bot's quiet conversations) are one pending job each, not
//! one loop per node.

use threadline_store::NewJob;
use threadline_testkit::{TestApp, backend_tests};
use time::Duration;

backend_tests!(a_lanes_jobs_are_taken_one_at_a_time_in_order, the_sweeps_are_one_job_each_for_the_installation);

fn job(key: &str, lane: Option<&str>, at: time::OffsetDateTime) -> NewJob {
    NewJob {
        kind: "test.noop",
        account_id: None,
        dedup_key: Some(key.into()),
        payload: serde_json::json!({ "key": key }),
        run_at: at,
        lane: lane.map(str::to_owned),
    }
}

async fn a_lanes_jobs_are_taken_one_at_a_time_in_order(app: TestApp) {
    let store = &app.server().state.store;
    // Due in an hour, so the node's own runner leaves them to this test
    // (which then also takes the installation's sweeps: they are ignored).
    let later = app.server().state.clock.now() + Duration::hours(1);
    let lease = Duration::minutes(5);
    let ours = |jobs: Vec<threadline_store::Job>| -> Vec<threadline_store::Job> {
        let mut jobs: Vec<_> = jobs.into_iter().filter(|j| j.kind == "test.noop").collect();
        jobs.sort_by_key(|j| j.payload["key"].as_str().unwrap().to_owned());
        jobs
    };
    let keys =
        |jobs: &[threadline_store::Job]| -> Vec<String> { jobs.iter().map(|j| j.payload["key"].as_str().unwrap().to_owned()).collect() };

    store.enqueue_job(job("first", Some("c1"), later)).await.unwrap();
    store.enqueue_job(job("alone", None, later)).await.unwrap();
    let taken = ours(store.claim_jobs(later, 100, lease).await.unwrap());
    assert_eq!(keys(&taken), ["alone", "first"]);
    let first = taken.into_iter().find(|j| j.payload["key"] == "first").unwrap();

    // While "first" is held, nothing else of its lane is taken; other lanes go.
    store.enqueue_job(job("second", Some("c1"), later)).await.unwrap();
    store.enqueue_job(job("other", Some("c2"), later)).await.unwrap();
    let taken = ours(store.claim_jobs(later, 100, lease).await.unwrap());
    assert_eq!(keys(&taken), ["other"], "a held job keeps its lane waiting");

    // The handler chose its own retry: the attempt counts, the error is
    // kept, and the lane's next may go.
    store.retry_job(&first, later + Duration::minutes(1), "provider busy").await.unwrap();
    let taken = ours(store.claim_jobs(later, 100, lease).await.unwrap());
    assert_eq!(keys(&taken), ["second"]);
    let failing = store.failing_jobs(10).await.unwrap();
    assert!(failing.iter().any(|(kind, attempts, error)| kind == "test.noop" && *attempts == 1 && error == "provider busy"), "{failing:?}");
    store.finish_job(&taken[0]).await.unwrap();
    let again = ours(store.claim_jobs(later + Duration::minutes(2), 100, lease).await.unwrap());
    assert_eq!(again.iter().map(|j| (j.payload["key"].as_str().unwrap(), j.attempts)).collect::<Vec<_>>(), [("first", 2)]);

    // Given up: kept, dead, counted for operators, never taken again.
    store.bury_job(&again[0], "the bot is gone").await.unwrap();
    let stats = store.job_stats(later + Duration::hours(1)).await.unwrap();
    assert_eq!(stats.dead, 1, "{stats:?}");
    // (The others' leases have run out meanwhile: they are taken again.)
    let taken = ours(store.claim_jobs(later + Duration::hours(1), 100, lease).await.unwrap());
    assert_eq!(keys(&taken), ["alone", "other"]);
}

async fn the_sweeps_are_one_job_each_for_the_installation(app: TestApp) {
    let mut app = app;
    // A second start (as a second node would) adds none.
    app.restart(|_| {}).await;
    let count = |kind: &str| format!("SELECT COUNT(*) FROM jobs WHERE kind = '{kind}'");
    for kind in ["routing.sweep", "sla.check", "retention.purge", "bot.resolve_quiet", "conversations.auto_resolve"] {
        assert_eq!(app.sql_integers(&count(kind)).await, [1], "{kind}");
    }
    // Each runs and books its next turn.
    let state = &app.server().state;
    state.clock.advance(Duration::hours(2));
    threadline_server::jobs::run_due(state, 100).await.unwrap();
    let now = state.clock.now().unix_timestamp() * 1_000_000;
    for kind in ["routing.sweep", "sla.check", "retention.purge", "bot.resolve_quiet"] {
        let next = app.sql_integers(&format!("SELECT run_at FROM jobs WHERE kind = '{kind}'")).await;
        assert!(next.len() == 1 && next[0] > now, "{kind} is booked again: {next:?} after {now}");
    }
}
