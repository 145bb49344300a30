//! `c4forge-bench infra`: the raw capacity of the local infrastructure,
//! measured with the same closed-loop harness as the load and through
//! c4forge's own `runtime` code paths:
//!
//! - RabbitMQ: `Bus::publish` with publisher confirms to the work exchange
//!   (a durable quorum queue, like the pipeline messages) and to the status
//!   fanout (a private queue, like the notifier's), then `Bus::consume` + ack
//!   of the work queue; on a fresh prefix.
//! - PostgreSQL: `Ledger::create_job` (the ingest transaction), and the whole
//!   ledger path of one job as the pipeline runs it (ingest transaction,
//!   outbox delete, start and complete of the three stages, the objects and
//!   generated-file rows of the store stage), in a fresh, migrated database.
//! - S3: `Objects::put` and `Objects::get` of fixed-size objects.
//!
//! From these it derives the jobs/s cap of each dependency for the pipeline
//! workload, using the per-job operation counts below.

use super::InfraArgs;
use super::stats::{Measured, run_closed};
use anyhow::{Context, bail};
use axum::body::Bytes;
use runtime::bus::{Destination, Outgoing, SharedBus, Source};
use runtime::jobs::{GeneratedFileRecord, Ledger, NewJob, ObjectRecord, StageRecords};
use runtime::objects::Objects;
use schemas::messages::{Envelope, JobUploaded, Message, routing_key_for};
use schemas::{JobId, ObjectKey, Stage, UserId};
use sea_orm::ConnectionTrait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Confirmed publishes to the work exchange per job: `job.uploaded` (outbox
/// relay), `job.parsed`, `job.generated`.
pub const WORK_PUBLISHES_PER_JOB: f64 = 3.0;
/// Confirmed publishes to the status fanout per job: parsing, generating,
/// storing, done.
pub const STATUS_PUBLISHES_PER_JOB: f64 = 4.0;
/// Object PUTs per job: source, model, code.zip, c4forge.json.
pub const S3_PUTS_PER_JOB: f64 = 4.0;
/// Object GETs per job: source (parse), model (generate).
pub const S3_GETS_PER_JOB: f64 = 2.0;

/// Upper bound of `--count`.
const MAX_COUNT: usize = 1_000_000;

fn line(name: &str, m: &Measured) {
    println!(
        "{name:<34} {:>9.1} ops/s  ({} ok, {} errors in {:.2} s)  latency {}",
        m.rate(),
        m.ok,
        m.errors,
        m.elapsed.as_secs_f64(),
        m.latencies.summary()
    );
    if let Some(e) = &m.first_error {
        println!("{:<34} first error: {e}", "");
    }
}

/// Jobs/s one dependency allows when each job needs `a` operations at rate
/// `ra` and `b` at rate `rb` on it (the times add up).
fn cap(a: f64, ra: f64, b: f64, rb: f64) -> f64 {
    let secs = if ra > 0.0 { a / ra } else { f64::INFINITY }
        + if rb > 0.0 { b / rb } else { f64::INFINITY };
    if secs > 0.0 { 1.0 / secs } else { 0.0 }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

async fn amqp(args: &InfraArgs, url: &str, limit: Duration) -> anyhow::Result<serde_json::Value> {
    let prefix = unique("bench");
    let bus: SharedBus = runtime::bus::connect(url, &prefix)
        .await
        .context("RabbitMQ")?;
    let body: Arc<[u8]> = vec![b'x'; args.msg_bytes].into();
    let key = routing_key_for(Stage::Parse).unwrap_or("job.uploaded");
    let publish = |dest: Destination| {
        let (bus, body) = (bus.clone(), body.clone());
        move |_i: usize| {
            let (bus, body, dest) = (bus.clone(), body.clone(), dest.clone());
            async move {
                bus.publish(Outgoing {
                    destination: dest,
                    body: body.to_vec(),
                    headers: BTreeMap::new(),
                })
                .await
                .map_err(anyhow::Error::from)
            }
        }
    };
    let work = run_closed(
        args.count,
        args.concurrency,
        limit,
        publish(Destination::Work(key.into())),
    )
    .await;
    line("amqp publish work (quorum queue)", &work);
    let work1 = run_closed(
        args.count.min(1000),
        1,
        limit,
        publish(Destination::Work(key.into())),
    )
    .await;
    line("amqp publish work, one at a time", &work1);

    // Status events go to a fanout with one private queue per notifier.
    let mut status_queue = bus.consume(Source::Status, 1000).await?;
    let drained = Arc::new(AtomicUsize::new(0));
    let d2 = drained.clone();
    let drain = tokio::spawn(async move {
        while let Some(d) = status_queue.next().await {
            let _ = d.acker.ack().await;
            d2.fetch_add(1, Ordering::Relaxed);
        }
    });
    let status = run_closed(
        args.count,
        args.concurrency,
        limit,
        publish(Destination::Status),
    )
    .await;
    line("amqp publish status (fanout)", &status);
    drain.abort();

    let queued = work.ok + work1.ok;
    let mut consumer = bus
        .consume(
            Source::Stage(Stage::Parse),
            args.concurrency.clamp(1, 1000) as u16 * 4,
        )
        .await?;
    let t = Instant::now();
    let mut consumed = Measured::default();
    while consumed.ok < queued && t.elapsed() < limit {
        match tokio::time::timeout(Duration::from_secs(5), consumer.next()).await {
            Ok(Some(d)) => match d.acker.ack().await {
                Ok(()) => consumed.ok += 1,
                Err(e) => {
                    consumed.errors += 1;
                    consumed.first_error.get_or_insert_with(|| e.to_string());
                }
            },
            _ => break,
        }
    }
    consumed.elapsed = t.elapsed();
    line("amqp consume + ack work queue", &consumed);
    let jobs_cap = cap(
        WORK_PUBLISHES_PER_JOB,
        work.rate(),
        STATUS_PUBLISHES_PER_JOB,
        status.rate(),
    );
    println!(
        "=> RabbitMQ cap {jobs_cap:.1} jobs/s ({WORK_PUBLISHES_PER_JOB} work + {STATUS_PUBLISHES_PER_JOB} status confirmed publishes per job)"
    );
    Ok(serde_json::json!({
        "prefix": prefix,
        "msg_bytes": args.msg_bytes,
        "publish_work": work.to_json(),
        "publish_work_sequential": work1.to_json(),
        "publish_status": status.to_json(),
        "status_delivered": drained.load(Ordering::Relaxed),
        "consume_ack_work": consumed.to_json(),
        "jobs_per_sec_cap": jobs_cap,
    }))
}

fn new_job(user: UserId) -> NewJob {
    let id = JobId::new();
    let source_key = ObjectKey::source(id, "bench.puml");
    let env = Envelope::new(
        id,
        user,
        Message::JobUploaded(JobUploaded {
            source_key: source_key.clone(),
            file_name: "bench.puml".into(),
            generator: "python-fastapi".into(),
            source_text: None,
            deploy: Vec::new(),
            fill: None,
        }),
    );
    NewJob {
        id,
        user_id: user,
        file_name: "bench.puml".into(),
        generator: "python-fastapi".into(),
        routing_key: env.body.routing_key().to_string(),
        message: String::from_utf8_lossy(&env.encode()).into_owned(),
        source: ObjectRecord {
            key: source_key.to_string(),
            kind: "source".into(),
            sha256: "0".repeat(64),
            size: 4096,
        },
    }
}

fn object(key: ObjectKey, kind: &str) -> ObjectRecord {
    ObjectRecord {
        key: key.to_string(),
        kind: kind.into(),
        sha256: "0".repeat(64),
        size: 4096,
    }
}

/// Every ledger call the pipeline makes for one job, in order.
async fn ledger_job_path(ledger: &Ledger, user: UserId, files: usize) -> anyhow::Result<()> {
    ledger.active_jobs_of(user).await?;
    let job = new_job(user);
    let id = job.id;
    ledger.create_job(&job).await?;
    let db = ledger.db();
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM outbox WHERE job_id = $1",
        [id.to_string().into()],
    ))
    .await?;
    let output = job.message.as_str();
    ledger
        .start_stage(id, Stage::Parse, serde_json::Value::Null)
        .await?;
    ledger
        .record_object(id, &object(ObjectKey::model(id), "model"))
        .await?;
    ledger
        .complete_stage(
            id,
            user,
            Stage::Parse,
            Some(output),
            None,
            &StageRecords::default(),
        )
        .await?;
    ledger
        .start_stage(id, Stage::Generate, serde_json::Value::Null)
        .await?;
    ledger
        .complete_stage(
            id,
            user,
            Stage::Generate,
            Some(output),
            None,
            &StageRecords::default(),
        )
        .await?;
    ledger
        .start_stage(id, Stage::Store, serde_json::Value::Null)
        .await?;
    let zip = ObjectKey::code_zip(id);
    ledger
        .record_object(id, &object(zip.clone(), "code_zip"))
        .await?;
    ledger
        .record_object(id, &object(ObjectKey::manifest(id), "manifest"))
        .await?;
    let rows: Vec<GeneratedFileRecord> = (0..files)
        .map(|i| GeneratedFileRecord {
            path: format!("src/pkg/module_{i}.py"),
            object_key: zip.to_string(),
            sha256: "0".repeat(64),
            size: 2048,
            owner: "generated".into(),
            zip_offset: (i * 2100) as i64,
            zip_length: 2048,
        })
        .collect();
    ledger.record_generated_files(id, &rows).await?;
    ledger.set_generator_version(id, "bench").await?;
    let done = ledger
        .complete_stage(
            id,
            user,
            Stage::Store,
            None,
            Some(serde_json::json!({"files": files})),
            &StageRecords::default(),
        )
        .await?;
    if done.is_none() {
        bail!("job {id} did not reach done");
    }
    Ok(())
}

async fn database(
    args: &InfraArgs,
    url: &str,
    limit: Duration,
) -> anyhow::Result<serde_json::Value> {
    let db = runtime::db::connect(url, args.concurrency.clamp(1, 100) as u32)
        .await
        .context("PostgreSQL")?;
    runtime::db::migrate(&db).await?;
    let ledger = Ledger::new(db);
    let user = ledger
        .create_user(&format!("{}@example.com", unique("bench")), "x", false)
        .await?
        .id;
    let l = ledger.clone();
    let insert = run_closed(args.count, args.concurrency, limit, move |_| {
        let l = l.clone();
        async move {
            l.create_job(&new_job(user))
                .await
                .map(drop)
                .map_err(Into::into)
        }
    })
    .await;
    line("db Ledger::create_job (ingest tx)", &insert);
    // The job path on a second user, so the active-jobs count stays realistic.
    let user2 = ledger
        .create_user(&format!("{}@example.com", unique("bench")), "x", false)
        .await?
        .id;
    let (l, files) = (ledger.clone(), args.files_per_job);
    let path = run_closed(args.count, args.concurrency, limit, move |_| {
        let l = l.clone();
        async move { ledger_job_path(&l, user2, files).await }
    })
    .await;
    line("db whole ledger path of one job", &path);
    println!(
        "=> PostgreSQL cap {:.1} jobs/s (whole ledger path)",
        path.rate()
    );
    Ok(serde_json::json!({
        "create_job": insert.to_json(),
        "ledger_job_path": path.to_json(),
        "files_per_job": files,
        "jobs_per_sec_cap": path.rate(),
    }))
}

async fn s3(args: &InfraArgs, bucket: &str, limit: Duration) -> anyhow::Result<serde_json::Value> {
    let objects = Objects::open(&format!("s3://{bucket}"), std::path::Path::new("."))?;
    objects.check().await.context("S3")?;
    let prefix = unique("bench-");
    let payload = Bytes::from(vec![b'x'; args.object_bytes]);
    let key = move |i: usize| ObjectKey::from_stored(format!("{prefix}/{i}"));
    let (o, k, p) = (objects.clone(), key.clone(), payload.clone());
    let put = run_closed(args.count, args.concurrency, limit, move |i| {
        let (o, key, p) = (o.clone(), k(i), p.clone());
        async move { o.put(&key, p).await.map(drop).map_err(Into::into) }
    })
    .await;
    line("s3 Objects::put", &put);
    let stored = put.ok;
    let (o, k) = (objects.clone(), key.clone());
    let get = run_closed(stored, args.concurrency, limit, move |i| {
        let (o, key) = (o.clone(), k(i));
        async move { o.get(&key).await.map(drop).map_err(Into::into) }
    })
    .await;
    line("s3 Objects::get", &get);
    let jobs_cap = cap(S3_PUTS_PER_JOB, put.rate(), S3_GETS_PER_JOB, get.rate());
    println!(
        "=> S3 cap {jobs_cap:.1} jobs/s ({S3_PUTS_PER_JOB} PUTs + {S3_GETS_PER_JOB} GETs per job)"
    );
    // Leave the bucket as found.
    let (o, k) = (objects.clone(), key);
    let _ = run_closed(stored, args.concurrency, limit, move |i| {
        let (o, key) = (o.clone(), k(i));
        async move { o.delete(&key).await.map_err(Into::into) }
    })
    .await;
    Ok(serde_json::json!({
        "object_bytes": args.object_bytes,
        "put": put.to_json(),
        "get": get.to_json(),
        "jobs_per_sec_cap": jobs_cap,
    }))
}

/// Runs the selected measurements and prints the report.
pub async fn run(args: InfraArgs) -> anyhow::Result<()> {
    if args.amqp.is_none() && args.database.is_none() && args.s3_bucket.is_none() {
        bail!("nothing to measure: give --amqp, --database and/or --s3-bucket");
    }
    if args.count == 0 || args.count > MAX_COUNT {
        bail!("--count must be in 1..={MAX_COUNT}");
    }
    if args.concurrency == 0 || args.concurrency > 1000 {
        bail!("--concurrency must be in 1..=1000");
    }
    if !(args.secs > 0.0 && args.secs <= 600.0) {
        bail!("--secs must be in (0, 600]");
    }
    let limit = Duration::from_secs_f64(args.secs);
    println!(
        "c4forge-bench infra: up to {} operations or {} s each, concurrency {}",
        args.count, args.secs, args.concurrency
    );
    let mut report = serde_json::Map::new();
    let mut caps: Vec<(&str, f64)> = Vec::new();
    if let Some(url) = &args.amqp {
        let v = amqp(&args, url, limit).await?;
        caps.push(("RabbitMQ", v["jobs_per_sec_cap"].as_f64().unwrap_or(0.0)));
        report.insert("amqp".into(), v);
    }
    if let Some(url) = &args.database {
        let v = database(&args, url, limit).await?;
        caps.push(("PostgreSQL", v["jobs_per_sec_cap"].as_f64().unwrap_or(0.0)));
        report.insert("database".into(), v);
    }
    if let Some(bucket) = &args.s3_bucket {
        let v = s3(&args, bucket, limit).await?;
        caps.push(("S3", v["jobs_per_sec_cap"].as_f64().unwrap_or(0.0)));
        report.insert("s3".into(), v);
    }
    if let Some((name, c)) = caps.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
        println!("=> infrastructure cap {c:.1} jobs/s, set by {name} (each measured alone)");
        report.insert(
            "cap".into(),
            serde_json::json!({"jobs_per_sec": c, "set_by": name}),
        );
    }
    if let Some(path) = &args.json {
        super::write_json(path, &serde_json::Value::Object(report))?;
    }
    Ok(())
}
