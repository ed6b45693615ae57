//! Group commit's lanes and batches: arrival order, bounded batches, a failing request rolled back alone.

use std::time::Duration;

use tokio::sync::Notify;
use tourdesk_store::{Db, exec};

use super::*;
use crate::{GroupCommitSettings, Settings};

/// A probe request: writes `v` unless refused; `hold` keeps its batch
/// running until notified; `breaks` fails the whole transaction as an
/// outage would; `poison` fails it as only its own data would.
#[derive(Clone)]
struct Probe {
    v: &'static str,
    refuse: bool,
    breaks: bool,
    poison: bool,
    hold: Option<Arc<Notify>>,
}

fn probe(v: &'static str) -> Probe {
    Probe {
        v,
        refuse: false,
        breaks: false,
        poison: false,
        hold: None,
    }
}

impl Batch for Probe {
    type Output = &'static str;

    fn run<'t>(
        _ctx: &'t Context,
        tx: &'t mut Tx,
        batch: Vec<Self>,
    ) -> BatchFuture<'t, ServiceResult<Vec<ServiceResult<&'static str>>>> {
        Box::pin(async move {
            let mut answers = Vec::new();
            for p in batch {
                if p.refuse {
                    answers.push(Err(ServiceError::conflict("refused", "refused alone")));
                    continue;
                }
                exec!(
                    tx,
                    sqlx::query("INSERT INTO gc_probe (v) VALUES ($1)").bind(p.v)
                )?;
                if let Some(hold) = p.hold {
                    hold.notified().await;
                }
                if p.breaks {
                    return Err(ServiceError::Busy("the probe broke its batch".into()));
                }
                if p.poison {
                    return Err(ServiceError::internal("poisoned"));
                }
                answers.push(Ok(p.v));
            }
            Ok(answers)
        })
    }
}

impl<B: Batch> Lanes<B> {
    fn queued(&self, lane: i64) -> usize {
        self.lock().get(&lane).map_or(0, VecDeque::len)
    }
}

/// Waits until `done` holds (the other tasks get to run meanwhile).
async fn settle(done: impl Fn() -> bool) {
    for _ in 0..30_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the lane did not reach the expected state within 30 s");
}

fn context(db: Db) -> Context {
    Context::new(
        db,
        Settings {
            group_commit: GroupCommitSettings {
                max_batch: 16,
                delay: Duration::ZERO,
            },
            ..Settings::default()
        },
    )
}

async fn stored(db: &Db) -> Vec<String> {
    let mut tx = db.begin().await.expect("begin");
    let rows: Vec<(String,)> = tourdesk_store::on!(tx, c => {
        sqlx::query_as("SELECT v FROM gc_probe ORDER BY v").fetch_all(c).await
    })
    .expect("read the probe table");
    rows.into_iter().map(|(v,)| v).collect()
}

fn describe(answer: ServiceResult<&'static str>) -> String {
    match answer {
        Ok(v) => v.to_owned(),
        Err(ServiceError::Conflict { code, .. }) => code.to_owned(),
        Err(ServiceError::Busy(m)) => format!("busy: {m}"),
        Err(ServiceError::Internal(_)) => "internal".into(),
        Err(e) => format!("other: {e}"),
    }
}

/// Queues `probes` behind a request that holds the lane, releases it,
/// and returns the held request's answer and theirs.
async fn behind_a_held_request(
    ctx: &Context,
    lanes: &Arc<Lanes<Probe>>,
    first: &'static str,
    probes: Vec<Probe>,
) -> (String, Vec<String>) {
    let departure = 7;
    let lane = match ctx.db.backend() {
        Backend::Sqlite => 0,
        Backend::Postgres => departure,
    };
    let go = Arc::new(Notify::new());
    let held = {
        let (ctx, lanes) = (ctx.clone(), lanes.clone());
        let p = Probe {
            hold: Some(go.clone()),
            ..probe(first)
        };
        tokio::spawn(async move { lanes.submit(&ctx, departure, p).await })
    };
    // The first request runs alone and holds its lane's leader.
    settle(|| lanes.queued(lane) == 0 && lanes.lock().contains_key(&lane)).await;
    let mut rest = Vec::new();
    for p in probes {
        let (ctx, theirs) = (ctx.clone(), lanes.clone());
        rest.push(tokio::spawn(async move {
            theirs.submit(&ctx, departure, p).await
        }));
        settle(|| lanes.queued(lane) == rest.len()).await;
    }
    go.notify_one();
    let first = describe(held.await.expect("join"));
    let mut answers = Vec::new();
    for h in rest {
        answers.push(describe(h.await.expect("join")));
    }
    (first, answers)
}

/// A batch of three queued behind a held request: the refused one is
/// answered alone and the others commit together, each with its own
/// answer; then a batch whose transaction breaks (an outage) answers
/// both of its requests with the failure and keeps neither; then a
/// batch broken by one request's own data reruns each request alone,
/// so only that one fails; the lane is gone once empty.
async fn each_request_keeps_its_own_outcome(db: Db) {
    let ctx = context(db.clone());
    let lanes: Arc<Lanes<Probe>> = Arc::default();
    let mut tx = db.begin().await.expect("begin");
    exec!(
        tx,
        sqlx::query("CREATE TABLE gc_probe (v TEXT PRIMARY KEY)")
    )
    .expect("create");
    tx.commit().await.expect("commit");

    let refused = Probe {
        refuse: true,
        ..probe("c")
    };
    let (first, answers) =
        behind_a_held_request(&ctx, &lanes, "a", vec![probe("b"), refused, probe("d")]).await;
    assert_eq!(first, "a");
    assert_eq!(answers, ["b", "refused", "d"]);
    assert_eq!(stored(&db).await, ["a", "b", "d"]);
    assert_eq!(lanes.batches_run(), 2, "one batch of one, one of three");

    let breaks = Probe {
        breaks: true,
        ..probe("y")
    };
    let (first, answers) = behind_a_held_request(&ctx, &lanes, "h", vec![probe("x"), breaks]).await;
    assert_eq!(first, "h");
    assert_eq!(
        answers,
        [
            "busy: the probe broke its batch",
            "busy: the probe broke its batch"
        ],
        "both requests of the broken batch get its failure (retryable)"
    );
    assert_eq!(
        stored(&db).await,
        ["a", "b", "d", "h"],
        "nothing of the broken batch is kept"
    );
    assert_eq!(lanes.batches_run(), 4);

    // A request whose own data breaks the batch (not an outage): the
    // batch is undone and each request runs again alone, so only the
    // poisoned one fails.
    let poisoned = Probe {
        poison: true,
        ..probe("p")
    };
    let (first, answers) =
        behind_a_held_request(&ctx, &lanes, "i", vec![probe("j"), poisoned, probe("k")]).await;
    assert_eq!(first, "i");
    assert_eq!(answers, ["j", "internal", "k"]);
    assert_eq!(stored(&db).await, ["a", "b", "d", "h", "i", "j", "k"]);
    assert!(
        lanes.lock().is_empty(),
        "an empty lane is removed with its leader"
    );
    assert_eq!(lanes.batches_run(), 6, "reruns alone are not batches");
}

#[tokio::test]
async fn each_request_keeps_its_own_outcome_sqlite() {
    let t = crate::testdb::sqlite().await;
    each_request_keeps_its_own_outcome(t.db.clone()).await;
    t.finish().await;
}

#[tokio::test]
async fn each_request_keeps_its_own_outcome_postgres() {
    let Some(t) = crate::testdb::postgres().await else {
        return;
    };
    each_request_keeps_its_own_outcome(t.db.clone()).await;
    t.finish().await;
}
