//! Fault tests of the broker itself: a RabbitMQ node killed with SIGKILL
//! and restarted, publishes the broker refuses, and a consumer whose run
//! outlives the broker's acknowledgement timeout. The node tests start a
//! RabbitMQ node of their own (its own name, ports, data and log
//! directories, config file; started, killed and stopped by the test), never
//! the machine's shared node. Each test ends with the shared checker
//! (`check_jobs`): every job's statuses once and in order, its objects
//! present with linked hashes, no orphans, one committed run per stage.
//! docs/FAULTS.md lists every fault test and what it proves.

use crate::common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the Debian/Ubuntu package keeps the RabbitMQ scripts: run directly
/// (not through the `/usr/sbin` wrappers, which switch to the `rabbitmq`
/// user and its cookie), so the node and its CLI share this test's cookie.
const RABBITMQ_BIN: &str = "/usr/lib/rabbitmq/bin";

fn rabbitmq_tool(name: &str) -> PathBuf {
    let packaged = Path::new(RABBITMQ_BIN).join(name);
    if packaged.exists() {
        packaged
    } else {
        PathBuf::from(name)
    }
}

/// A free TCP port on the loopback interface (free when asked; the node
/// binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A RabbitMQ node of the test's own: a unique node name, its own AMQP and
/// distribution ports, data, log and cookie under a temporary directory.
/// Killed (SIGKILL) and its directory removed on drop.
struct OwnNode {
    name: String,
    port: u16,
    dist_port: u16,
    dir: tempfile::TempDir,
    /// The `rabbitmq-server` script (it waits on the Erlang VM).
    script: Option<Child>,
}

impl OwnNode {
    /// Starts a node whose `advanced.config` holds `rabbit_env` (Erlang
    /// terms of the `rabbit` application, e.g. `{consumer_timeout, 4000}`),
    /// and waits until it accepts AMQP connections.
    async fn start(rabbit_env: &[&str]) -> OwnNode {
        let dir = tempfile::tempdir().expect("node dir");
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(dir.path().join("rabbitmq.conf"), "loopback_users = none\n")
            .expect("config file");
        std::fs::write(
            dir.path().join("advanced.config"),
            format!("[{{rabbit, [{}]}}].\n", rabbit_env.join(", ")),
        )
        .expect("advanced config");
        let mut node = OwnNode {
            name: format!("{}@localhost", unique("c4t")),
            port: free_port(),
            dist_port: free_port(),
            dir,
            script: None,
        };
        node.boot().await;
        node
    }

    /// `amqp://` URL of the node's default vhost.
    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("node.pid")
    }

    /// Starts the node's VM and waits (up to 120 s) until AMQP answers.
    async fn boot(&mut self) {
        let _ = std::fs::remove_file(self.pid_file());
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("server.out")).expect("server log");
        let child = Command::new(rabbitmq_tool("rabbitmq-server"))
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", d.join("advanced.config"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .env("RABBITMQ_CONF_ENV_FILE", d.join("no-env-file"))
            .env("HOME", d)
            .env_remove("RABBITMQ_ALLOW_INPUT")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("rabbitmq-server (RabbitMQ installed?)");
        self.script = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let connected =
                lapin::Connection::connect(&self.url(), lapin::ConnectionProperties::default())
                    .await;
            if let Ok(conn) = connected {
                let _ = conn.close(200, "ready".into()).await;
                return;
            }
            if let Some(Ok(Some(status))) = self.script.as_mut().map(Child::try_wait) {
                panic!(
                    "the test's RabbitMQ node exited ({status}):\n{}",
                    self.server_output()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the test's RabbitMQ node did not start within 120 s:\n{}",
                self.server_output()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn server_output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.out")).unwrap_or_default()
    }

    /// SIGKILLs the node's VM (no shutdown of any kind) and waits until it
    /// is gone.
    fn kill9(&mut self) {
        let pid = std::fs::read_to_string(self.pid_file()).unwrap_or_default();
        let pid = pid.trim();
        assert!(!pid.is_empty(), "the node wrote no pid file");
        let _ = Command::new("kill").args(["-9", pid]).status();
        if let Some(mut script) = self.script.take() {
            let _ = script.kill();
            let _ = script.wait();
        }
        for _ in 0..200 {
            let alive = Command::new("kill")
                .args(["-0", pid])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the node's VM {pid} survived SIGKILL");
    }

    /// `rabbitmqctl -n NODE ARGS` with the node's cookie, whatever it
    /// answers: its stdout and stderr (for evidence of a failure).
    fn ctl_text(&self, args: &[&str]) -> String {
        match Command::new(rabbitmq_tool("rabbitmqctl"))
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .env("HOME", self.dir.path())
            .output()
        {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("rabbitmqctl {args:?}: {e}"),
        }
    }

    /// The node's own log files (RabbitMQ's, not the test's processes').
    fn node_logs(&self) -> Vec<(String, String)> {
        let mut logs = vec![("server.out".to_string(), self.server_output())];
        if let Ok(dir) = std::fs::read_dir(self.dir.path().join("log")) {
            for entry in dir.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                logs.push((entry.file_name().to_string_lossy().into_owned(), text));
            }
        }
        logs
    }

    /// `rabbitmqctl -n NODE ARGS` with the node's cookie; its stdout.
    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new(rabbitmq_tool("rabbitmqctl"))
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .env("HOME", self.dir.path())
            .output()
            .expect("rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        if let Some(mut script) = self.script.take() {
            let _ = script.kill();
            let _ = script.wait();
        }
    }
}

async fn all_done(http: &reqwest::Client, base: &str, token: &str, jobs: &[String], secs: u64) {
    for job in jobs {
        assert_eq!(
            wait_terminal(http, base, token, job, secs).await,
            "done",
            "job {job}"
        );
    }
}

/// [`all_done`], with `server`'s log in the failure message.
async fn all_done_or_log(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    jobs: &[String],
    secs: u64,
    server: &Server,
) {
    for job in jobs {
        let status = wait_terminal(http, base, token, job, secs).await;
        assert_eq!(status, "done", "job {job}; log:\n{}", server.log_text());
    }
}

/// What a broker fault test leaves behind when a job does not finish, to
/// find why: every process's log, the queues, consumers and channels of
/// the test's node and the node's own log, and the ledger's rows of the
/// unfinished jobs (stage runs, leases, outbox). Written to a directory
/// under `CARGO_TARGET_TMPDIR`; the failure message names it and holds the
/// queues and the unfinished jobs.
struct Evidence<'a> {
    iso: &'a Isolated,
    node: &'a OwnNode,
    processes: Vec<(&'static str, &'a Server)>,
}

impl Evidence<'_> {
    /// Waits up to `secs` for every job to be done; on the first that is
    /// not, writes the evidence and panics with its summary.
    async fn all_done(
        &self,
        http: &reqwest::Client,
        base: &str,
        token: &str,
        jobs: &[String],
        secs: u64,
    ) {
        for job in jobs {
            let status = wait_terminal(http, base, token, job, secs).await;
            if status != "done" {
                let summary = self.write(jobs).await;
                panic!("job {job} ended {status:?}, not done\n{summary}");
            }
        }
    }

    /// Writes the evidence; returns where, the queues and the unfinished jobs.
    async fn write(&self, jobs: &[String]) -> String {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("faults_broker")
            .join(unique("evidence-"));
        std::fs::create_dir_all(&dir).expect("evidence dir");
        for (name, server) in &self.processes {
            let _ = std::fs::write(dir.join(format!("{name}.log")), server.log_text());
        }
        for (name, text) in self.node.node_logs() {
            let _ = std::fs::write(dir.join(format!("rabbitmq-{name}")), text);
        }
        let queues = self.node.ctl_text(&[
            "list_queues",
            "-q",
            "name",
            "type",
            "messages",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ]);
        let broker = format!(
            "{queues}\n--- consumers\n{}\n--- channels\n{}",
            self.node.ctl_text(&["list_consumers", "-q"]),
            self.node.ctl_text(&[
                "list_channels",
                "-q",
                "connection",
                "number",
                "consumer_count",
                "messages_unacknowledged",
                "confirm"
            ]),
        );
        let _ = std::fs::write(dir.join("broker.txt"), &broker);
        let db = sea_orm::Database::connect(self.iso.database_url())
            .await
            .expect("db");
        let ids = jobs
            .iter()
            .map(|j| format!("'{j}'"))
            .collect::<Vec<_>>()
            .join(",");
        let mut ledger = String::new();
        for (what, sql) in [
            (
                "unfinished jobs",
                format!(
                    "SELECT id, status, updated_at FROM jobs WHERE id IN ({ids}) AND status <> 'done'"
                ),
            ),
            (
                "their stage runs",
                format!(
                    "SELECT job_id, stage, completed_at FROM stage_runs WHERE job_id IN (SELECT id FROM jobs WHERE id IN ({ids}) AND status <> 'done')"
                ),
            ),
            (
                "their leases",
                format!(
                    "SELECT * FROM stage_leases WHERE job_id IN (SELECT id FROM jobs WHERE id IN ({ids}) AND status <> 'done')"
                ),
            ),
            (
                "their events",
                format!(
                    "SELECT job_id, status, stage, at FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE id IN ({ids}) AND status <> 'done') ORDER BY id"
                ),
            ),
            (
                "outbox",
                "SELECT id, job_id, routing_key, created_at FROM outbox".to_string(),
            ),
        ] {
            ledger.push_str(&format!("--- {what}\n"));
            for row in rows(
                &db,
                &format!("SELECT row_to_json(t)::text AS r FROM ({sql}) t"),
            )
            .await
            {
                ledger.push_str(&row.try_get::<String>("", "r").unwrap_or_default());
                ledger.push('\n');
            }
        }
        let _ = std::fs::write(dir.join("ledger.txt"), &ledger);
        format!(
            "evidence in {}\n--- queues of the test's node\n{broker}\n{ledger}",
            dir.display()
        )
    }
}

/// Waits up to `secs` until every job's `stage` run is committed.
async fn wait_committed(iso: &Isolated, stage: &str, jobs: usize, secs: u64) {
    let db = sea_orm::Database::connect(iso.database_url())
        .await
        .expect("db");
    let mut n = 0;
    for _ in 0..secs * 4 {
        n = rows(
            &db,
            &format!("SELECT job_id FROM stage_runs WHERE stage = '{stage}'"),
        )
        .await
        .len();
        if n == jobs {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{n} of {jobs} jobs passed {stage} within {secs} s");
}

fn done(jobs: &[String]) -> Vec<(String, &'static str)> {
    jobs.iter().map(|j| (j.clone(), "done")).collect()
}

async fn dead_letters(iso: &Isolated) -> usize {
    let db = sea_orm::Database::connect(iso.database_url())
        .await
        .expect("db");
    rows(&db, "SELECT id FROM dead_letters").await.len()
}

/// Waits up to `secs` for `cond` over the process's log.
async fn log_shows(server: &Server, secs: u64, what: &str) -> bool {
    for _ in 0..secs * 4 {
        if server.log_text().contains(what) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Fault: the broker node is SIGKILLed with jobs in every stage and comes
/// back 8 s later. Confirmed messages (quorum queues) survive, uploads
/// accepted meanwhile wait in the outbox, the stage processes reconnect by
/// themselves, every job is done once.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn broker_node_killed_and_restarted() {
    let iso = Isolated::create().await;
    let mut node = OwnNode::start(&[]).await;
    // The no-progress sweep at its default (15 minutes, longer than the
    // test): nothing may need it after a node kill.
    let env = with(iso.env(), &[("C4FORGE_BUS", &node.url())]);
    migrate(&env);
    let mut api = spawn(&["--stages", "ingest,notifier"], &env);
    let mut rest = spawn(&["--stages", "parse,store"], &env);
    // A slow generate stage with a small window: jobs wait in its queue,
    // some are in its hands, some are stored when the node dies.
    let mut generate = spawn(
        &["--stages", "generate"],
        &with(
            env.clone(),
            &[
                ("C4FORGE_PREFETCH", "2"),
                ("FAILPOINTS", "stage-run-sleep-generate=sleep(300)"),
            ],
        ),
    );
    // The work queues on the test's node are quorum queues.
    let queues = node.ctl(&["list_queues", "-q", "name", "type"]);
    for stage in ["parse", "generate", "store"] {
        assert!(
            queues
                .lines()
                .any(|l| l.starts_with(&format!("c4forge.{stage}")) && l.contains("quorum")),
            "c4forge.{stage} is not a quorum queue:\n{queues}"
        );
    }
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "nodekill@example.com").await;
    let mut jobs = submit(&http, &api.base, &token, 12).await;
    wait_any(&http, &api.base, &token, &jobs, &["storing", "done"], 90).await;
    node.kill9();
    // The API keeps accepting uploads while the broker is away.
    jobs.extend(submit(&http, &api.base, &token, 4).await);
    tokio::time::sleep(Duration::from_secs(8)).await;
    jobs.extend(submit(&http, &api.base, &token, 2).await);
    node.boot().await;
    let evidence = Evidence {
        iso: &iso,
        node: &node,
        processes: vec![
            ("api", &api),
            ("parse-store", &rest),
            ("generate", &generate),
        ],
    };
    evidence
        .all_done(&http, &api.base, &token, &jobs, 180)
        .await;
    // The same processes did it: none exited for a supervisor to restart.
    for (name, server) in [
        ("api", &mut api),
        ("parse,store", &mut rest),
        ("generate", &mut generate),
    ] {
        assert!(
            server.running(),
            "the {name} process exited:\n{}",
            server.log_text()
        );
        assert!(
            server.log_text().contains("connected to the broker again"),
            "the {name} process did not open a new connection:\n{}",
            server.log_text()
        );
    }
    jobs.extend(submit(&http, &api.base, &token, 2).await);
    let evidence = Evidence {
        iso: &iso,
        node: &node,
        processes: vec![
            ("api", &api),
            ("parse-store", &rest),
            ("generate", &generate),
        ],
    };
    evidence.all_done(&http, &api.base, &token, &jobs, 90).await;
    check_jobs(&iso, &done(&jobs)).await;
    assert_eq!(dead_letters(&iso).await, 0, "nothing dead-lettered");
}

/// Fault: the broker refuses (nacks) the publishes of a stage's next
/// message: the store queue is capped by a policy at 2 messages with
/// `overflow = reject-publish` while no store stage runs. The generate
/// stage has committed its runs; it must not ack their deliveries nor
/// count them as failed attempts: the bus breaker opens, nothing is
/// dead-lettered, and once the store stage drains the queue, every job is
/// done and each stage ran once.
#[tokio::test]
async fn publish_refused_by_a_full_queue() {
    let iso = Isolated::create().await;
    let env = with(iso.env(), &FAST_RETRIES);
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let out = Command::new("rabbitmqctl")
        .args([
            "set_policy",
            "-p",
            &iso.vhost,
            "--apply-to",
            "queues",
            "cap-store",
            "^c4forge\\.store$",
            r#"{"max-length":2,"overflow":"reject-publish"}"#,
        ])
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stages = spawn(&["--stages", "parse,generate"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "refused@example.com").await;
    let jobs = submit(&http, &api.base, &token, 8).await;
    let mut opened = false;
    for _ in 0..240 {
        let ready: serde_json::Value = http
            .get(format!("{}/readyz", stages.base))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        if ready["breakers"]["bus"] == "open" {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        opened,
        "the bus breaker should open:\n{}",
        stages.log_text()
    );
    assert_eq!(dead_letters(&iso).await, 0, "nothing dead-lettered");
    // Nothing is lost while refused: the store stage drains the queue.
    let _store = spawn(&["--stages", "store"], &env);
    all_done(&http, &api.base, &token, &jobs, 180).await;
    check_jobs(&iso, &done(&jobs)).await;
    assert_eq!(dead_letters(&iso).await, 0, "nothing dead-lettered");
    assert!(
        stages.log_text().contains("breaker open; not consuming"),
        "{}",
        stages.log_text()
    );
}

const FAST_RETRIES: [(&str, &str); 3] = [
    ("C4FORGE_MAX_ATTEMPTS", "3"),
    ("C4FORGE_RETRY_BASE_MS", "20"),
    ("C4FORGE_RETRY_MAX_MS", "200"),
];

/// Fault: a generate run takes longer than the broker's consumer
/// (acknowledgement) timeout, 4 s on the test's node: the broker closes the
/// consumer's channel and requeues its deliveries while the run goes on.
/// The run's commit and the redelivery produce the stage's effect once,
/// the consumer comes back by itself, and later jobs flow through it.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn consumer_ack_timeout_redelivers_without_a_second_effect() {
    let iso = Isolated::create().await;
    let node = OwnNode::start(&["{consumer_timeout, 4000}", "{channel_tick_interval, 1000}"]).await;
    let env = with(iso.env(), &[("C4FORGE_BUS", &node.url())]);
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    // The first run sleeps 12 s: three times the consumer timeout.
    let mut generate = spawn(
        &["--stages", "generate"],
        &with(
            env.clone(),
            &[("FAILPOINTS", "stage-run-sleep-generate=1*sleep(12000)")],
        ),
    );
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "acktimeout@example.com").await;
    let mut jobs = submit(&http, &api.base, &token, 4).await;
    assert!(
        log_shows(&generate, 60, "consumer lost its channel").await,
        "the broker should close the slow consumer's channel:\n{}",
        generate.log_text()
    );
    all_done_or_log(&http, &api.base, &token, &jobs, 180, &generate).await;
    assert!(
        generate.running(),
        "the generate process exited:\n{}",
        generate.log_text()
    );
    // The consumer is back: later jobs flow through the same process.
    jobs.extend(submit(&http, &api.base, &token, 3).await);
    all_done_or_log(&http, &api.base, &token, &jobs, 120, &generate).await;
    check_jobs(&iso, &done(&jobs)).await;
    assert_eq!(dead_letters(&iso).await, 0, "nothing dead-lettered");
}

/// Fault: a message that aborts its stage process every time it runs (a
/// crash loop: the generate stage aborts on one job id), with seven other
/// messages in flight in the same prefetch window. The test restarts the
/// process whenever it dies, as a supervisor would. The culprit is
/// dead-lettered after `max_attempts` (3) crashes with a reason naming the
/// crash loop; the others, which died with it once, run alone afterwards
/// and are done, not dead-lettered.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn crash_loop_is_dead_lettered_while_its_window_is_processed() {
    use std::os::unix::process::ExitStatusExt;
    let iso = Isolated::create().await;
    let env = with(
        iso.env(),
        &[
            ("C4FORGE_MAX_ATTEMPTS", "3"),
            ("C4FORGE_LEASE_SECS", "2"),
            ("C4FORGE_HEARTBEAT_SECS", "1"),
        ],
    );
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "crashloop@example.com").await;
    let jobs = submit(&http, &api.base, &token, 8).await;
    let (poison, healthy) = (jobs[0].clone(), jobs[1..].to_vec());
    // All eight wait in the generate queue before a generate stage runs,
    // so they arrive in its first prefetch window (8) together.
    let db = sea_orm::Database::connect(iso.database_url())
        .await
        .expect("db");
    let mut parsed = 0;
    for _ in 0..240 {
        parsed = rows(&db, "SELECT job_id FROM stage_runs WHERE stage = 'parse'")
            .await
            .len();
        if parsed == jobs.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(parsed, jobs.len(), "every job parsed");
    let generate_env = with(
        env.clone(),
        &[
            ("C4FORGE_PREFETCH", "8"),
            (
                "FAILPOINTS",
                &format!(
                    "stage-abort-on-job-generate=return({poison});stage-run-sleep-generate=sleep(500)"
                ),
            ),
        ],
    );
    let mut generate = spawn(&["--stages", "generate"], &generate_env);
    let mut aborts = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while status(&http, &api.base, &token, &poison).await.as_deref() != Some("dead_lettered") {
        if let Some(exit) = generate.exited_within(1).await {
            assert_eq!(
                exit.signal(),
                Some(6),
                "only the fail point may end the process: {exit:?}\n{}",
                generate.log_text()
            );
            aborts += 1;
            generate = spawn(&["--stages", "generate"], &generate_env);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the crash-looping job was not dead-lettered within 240 s ({aborts} aborts)"
        );
    }
    assert!(aborts >= 3, "dead-lettered after {aborts} crashes");
    all_done(&http, &api.base, &token, &healthy, 120).await;
    let dead = rows(&db, "SELECT job_id, stage, reason FROM dead_letters").await;
    assert_eq!(dead.len(), 1, "only the culprit is dead-lettered");
    let get = |c: &str| dead[0].try_get::<String>("", c).expect(c);
    assert_eq!(get("job_id"), poison);
    assert_eq!(get("stage"), "generate");
    assert!(
        get("reason").contains("crash loop") && get("reason").contains("died during 3 runs"),
        "{}",
        get("reason")
    );
    let mut expected = done(&healthy);
    expected.push((poison, "dead_lettered"));
    check_jobs(&iso, &expected).await;
}

/// Fault: the broker neither confirms nor refuses publishes: the test's
/// own node raises its memory alarm (watermark 1 byte), which blocks every
/// publishing connection. With a confirm timeout of 2 s in the bus URL the
/// generate stage's publishes of committed output fail instead of hanging:
/// their deliveries are not acked, the bus breaker opens, nothing is
/// dead-lettered; once the alarm clears every job is done once.
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn publish_unconfirmed_while_the_node_blocks_publishers() {
    let iso = Isolated::create().await;
    let node = OwnNode::start(&[]).await;
    let url = format!("{}?confirm_timeout_ms=2000", node.url());
    let env = with(iso.env(), &[("C4FORGE_BUS", &url)]);
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let _rest = spawn(&["--stages", "parse,store"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "blocked@example.com").await;
    let jobs = submit(&http, &api.base, &token, 6).await;
    // Every job waits in the generate queue; then the alarm; then the
    // generate stage starts: each of its publishes comes after the alarm.
    wait_committed(&iso, "parse", jobs.len(), 90).await;
    node.ctl(&["set_vm_memory_high_watermark", "absolute", "1"]);
    let generate = spawn(&["--stages", "generate"], &env);
    let mut opened = false;
    for _ in 0..240 {
        let ready: serde_json::Value = http
            .get(format!("{}/readyz", generate.base))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        if ready["breakers"]["bus"] == "open" {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        opened,
        "the bus breaker should open:\n{}",
        generate.log_text()
    );
    assert!(
        generate.log_text().contains("no confirm within 2000 ms"),
        "{}",
        generate.log_text()
    );
    node.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    all_done_or_log(&http, &api.base, &token, &jobs, 180, &generate).await;
    check_jobs(&iso, &done(&jobs)).await;
    assert_eq!(dead_letters(&iso).await, 0, "nothing dead-lettered");
}

/// Fault: a retry waits in a delay tier while its work queue refuses
/// messages (at its `max-length`, `overflow = reject-publish`) when it
/// comes due. The jobs' source objects are gone from S3 when the parse
/// stage starts (they are put back later), so its runs fail transiently
/// (not an outage: no breaker stops the consumer) and go to the retry
/// tiers; a policy on the test's own node caps the parse queue at 0
/// messages meanwhile. The tiers dead-letter at least once: a refused
/// retry stays in its tier and is offered again (after 1 s on this node;
/// RabbitMQ's default is 3 minutes) until the queue takes it. With the
/// no-progress sweep at its default (15 minutes, longer than the test)
/// every job is done, once.
#[tokio::test]
async fn a_retry_refused_by_its_work_queue_waits_in_its_tier() {
    use object_store::ObjectStoreExt;
    let iso = Isolated::create().await;
    let node = OwnNode::start(&["{dead_letter_worker_publisher_confirm_timeout, 1000}"]).await;
    let env = with(
        iso.env(),
        &[
            ("C4FORGE_BUS", &node.url()),
            // Retried, never dead-lettered, each within a second.
            ("C4FORGE_MAX_ATTEMPTS", "1000"),
            ("C4FORGE_RETRY_BASE_MS", "1000"),
            ("C4FORGE_RETRY_MAX_MS", "1000"),
        ],
    );
    migrate(&env);
    let api = spawn(&["--stages", "ingest,notifier"], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &api.base, "refusedretry@example.com").await;
    // Larger than what rides inline in a message: parse reads it from S3.
    let padding = format!("' {}\n", "padding ".repeat(12)).repeat(3_000);
    let padded = BIGBANK.replacen("@startuml\n", &format!("@startuml\n{padding}"), 1);
    assert!(padded.len() > schemas::messages::INLINE_COPY_LIMIT);
    let s3 = iso.s3();
    let (mut jobs, mut sources) = (Vec::new(), Vec::new());
    for i in 0..4 {
        let name = format!("r{i}.puml");
        let (status, body) = upload(
            &http,
            &api.base,
            Some(&token),
            &name,
            padded.clone().into_bytes(),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let job = body["job_id"].as_str().expect("job").to_string();
        let path = object_store::path::Path::from(format!("jobs/{job}/source/{name}").as_str());
        let bytes = s3
            .get(&path)
            .await
            .expect("source")
            .bytes()
            .await
            .expect("bytes");
        s3.delete(&path).await.expect("delete");
        jobs.push(job);
        sources.push((path, bytes));
    }
    let stages = spawn(&["--stages", "parse,generate,store"], &env);
    // Every job's parse run started (and fails): none is in the outbox.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut parsing = 0;
        for job in &jobs {
            if status(&http, &api.base, &token, job).await.as_deref() == Some("parsing") {
                parsing += 1;
            }
        }
        if parsing == jobs.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{parsing} of {} jobs reached parsing:\n{}",
            jobs.len(),
            stages.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    node.ctl(&[
        "set_policy",
        "--apply-to",
        "queues",
        "cap-parse",
        "^c4forge\\.parse$",
        r#"{"max-length":0,"overflow":"reject-publish"}"#,
    ]);
    // Every message leaves the parse queue (taken, failed, sent to a
    // tier) and none can come back: each comes due in its tier (within
    // 1 s) while the queue refuses it.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let queues = node.ctl(&["list_queues", "-q", "name", "messages"]);
        let in_parse = queues
            .lines()
            .find_map(|l| l.strip_prefix("c4forge.parse\t"))
            .map(str::trim);
        if in_parse == Some("0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the parse queue kept its messages (did it take dead letters over its limit? \
             the tiers must dead-letter at least once):\n{queues}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    node.ctl(&["clear_policy", "cap-parse"]);
    for (path, bytes) in sources {
        s3.put(&path, bytes.into()).await.expect("restore");
    }
    let evidence = Evidence {
        iso: &iso,
        node: &node,
        processes: vec![("api", &api), ("stages", &stages)],
    };
    evidence
        .all_done(&http, &api.base, &token, &jobs, 120)
        .await;
    check_jobs(&iso, &done(&jobs)).await;
    assert_eq!(dead_letters(&iso).await, 0, "nothing dead-lettered");
    assert!(
        stages.log_text().contains("transient failure; retrying"),
        "{}",
        stages.log_text()
    );
}
