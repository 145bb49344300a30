//! `c4forge convert`: the generated project does not depend on how the
//! diagram's path is typed (relative from its directory, `./`, absolute from
//! elsewhere): generated files name a source by its file name, or by its path
//! relative to `--include-root`, and never carry a local directory. Uploads
//! name sources by the same rule (`?name=` keeps the file name, a bundle's
//! entries are relative to the bundle).

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::{BIGBANK, HAPPY_PATH, bin, login, spawn, upload, watch};

/// Every file under `root`: relative path -> bytes.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root");
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&p).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Runs `c4forge convert ARGS` in `cwd`; panics with its output on failure.
fn convert(cwd: &Path, args: &[&str]) {
    let out = Command::new(bin())
        .current_dir(cwd)
        .arg("convert")
        .args(args)
        .output()
        .expect("run c4forge convert");
    assert!(
        out.status.success(),
        "convert {args:?} in {}: {}\n{}",
        cwd.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts two generated trees are byte-identical, naming the first difference.
fn assert_same(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: different file lists"
    );
    for (path, bytes) in a {
        assert!(
            b[path] == *bytes,
            "{what}: {path} differs:\n--- first\n{}\n--- second\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&b[path])
        );
    }
}

/// Asserts no generated file mentions `dir` (as typed or canonical).
fn assert_no_local_path(files: &BTreeMap<String, Vec<u8>>, dir: &Path) {
    let canonical = dir.canonicalize().expect("canonical dir");
    for needle in [dir.display().to_string(), canonical.display().to_string()] {
        for (path, bytes) in files {
            assert!(
                !String::from_utf8_lossy(bytes).contains(&needle),
                "{path} contains the local directory {needle}"
            );
        }
    }
}

#[test]
fn output_is_the_same_however_the_path_is_typed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    fs::write(d.join("sys.puml"), BIGBANK).expect("write diagram");
    fs::create_dir(d.join("elsewhere")).expect("mkdir");
    let abs = d.join("sys.puml");
    let abs = abs.to_str().expect("UTF-8 temp path");

    convert(d, &["sys.puml", "-o", "from-dir"]);
    convert(d, &["./sys.puml", "-o", "dot-slash"]);
    convert(&d.join("elsewhere"), &[abs, "-o", "../absolute"]);
    convert(&d.join("elsewhere"), &["../sys.puml", "-o", "../parent"]);

    let from_dir = tree(&d.join("from-dir"));
    assert!(from_dir.contains_key("docker-compose.yml"), "{from_dir:?}");
    for other in ["dot-slash", "absolute", "parent"] {
        assert_same(&from_dir, &tree(&d.join(other)), other);
    }
    assert_no_local_path(&from_dir, d);
    let compose = String::from_utf8_lossy(&from_dir["docker-compose.yml"]).into_owned();
    assert!(compose.contains("(sys.puml:"), "{compose}");
}

/// `docs/c4/context/context.puml` including `../shared/people.iuml`.
fn include_tree(root: &Path) {
    let c4 = root.join("docs/c4");
    fs::create_dir_all(c4.join("context")).expect("mkdir");
    fs::create_dir_all(c4.join("shared")).expect("mkdir");
    fs::write(c4.join("shared/people.iuml"), PEOPLE).expect("write include");
    fs::write(c4.join("context/context.puml"), CONTEXT).expect("write diagram");
}

const PEOPLE: &str = "Person(customer, \"Customer\")\n";
const CONTEXT: &str = "@startuml\n!include <C4/C4_Container>\n!include ../shared/people.iuml\ntitle Shop\n\
    Container(shop, \"Shop\", \"Python, FastAPI\")\nContainerDb(db, \"Orders\", \"PostgreSQL\")\n\
    Rel(customer, shop, \"Buys from\", \"HTTPS\")\nRel(shop, db, \"Stores orders in\", \"JDBC\")\n@enduml\n";

#[test]
fn with_an_include_root_sources_are_named_relative_to_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    include_tree(d);
    let docs = d.join("docs");
    let diagram = docs.join("c4/context/context.puml");

    convert(
        d,
        &[
            "docs/c4/context/context.puml",
            "--include-root",
            "docs",
            "-o",
            "relative",
        ],
    );
    convert(
        &docs.join("c4"),
        &[
            diagram.to_str().expect("UTF-8 path"),
            "--include-root",
            docs.to_str().expect("UTF-8 path"),
            "-o",
            "../../absolute",
        ],
    );
    let relative = tree(&d.join("relative"));
    assert_same(&relative, &tree(&d.join("absolute")), "absolute paths");
    assert_no_local_path(&relative, d);
    let compose = String::from_utf8_lossy(&relative["docker-compose.yml"]).into_owned();
    assert!(compose.contains("(c4/context/context.puml:"), "{compose}");
}

/// Downloads a job's project: entry name -> bytes.
async fn download(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    job: &str,
) -> BTreeMap<String, Vec<u8>> {
    let r = http
        .get(format!("{base}/api/v1/diagrams/{job}/code.zip"))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.expect("bytes").to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..zip.len())
        .map(|i| {
            let mut e = zip.by_index(i).expect("entry");
            let name = e.name().expect("entry name").to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).expect("read entry");
            (name, data)
        })
        .collect()
}

/// Uploads and waits for `done`; returns the job id.
async fn upload_done(
    http: &reqwest::Client,
    server: &common::Server,
    token: &str,
    name: &str,
    body: Vec<u8>,
) -> String {
    let (status, body) = upload(http, &server.base, Some(token), name, body).await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().expect("job id").to_string();
    let (statuses, _) = watch(&server.base, token, &job).await;
    assert_eq!(statuses, HAPPY_PATH, "log:\n{}", server.log_text());
    job
}

#[tokio::test]
async fn uploads_name_sources_by_the_same_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    fs::write(d.join("sys.puml"), BIGBANK).expect("write diagram");
    convert(d, &["sys.puml", "-o", "cli"]);
    let cli = tree(&d.join("cli"));
    include_tree(d);
    convert(
        d,
        &[
            "docs/c4/context/context.puml",
            "--include-root",
            "docs",
            "-o",
            "cli-bundle",
        ],
    );
    let cli_bundle = tree(&d.join("cli-bundle"));

    let data = tempfile::tempdir().expect("data dir");
    let env = vec![
        ("C4FORGE_DATA_DIR".into(), data.path().display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
    ];
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "convert@example.com").await;

    // `?name=` with a local absolute path: the same project as the CLI's.
    let name = d.join("sys.puml").display().to_string();
    let job = upload_done(&http, &server, &token, &name, BIGBANK.into()).await;
    let uploaded = download(&http, &server.base, &token, &job).await;
    assert_same(&cli, &uploaded, "upload named by an absolute path");

    // A bundle of the include tree (entries relative to `docs`): the
    // diagram is named as the CLI names it with `--include-root docs`.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (entry, text) in [
        ("c4/context/context.puml", CONTEXT),
        ("c4/shared/people.iuml", PEOPLE),
    ] {
        zip.start_file(entry, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        zip.write_all(text.as_bytes()).expect("zip write");
    }
    let bundle = zip.finish().expect("zip").into_inner();
    let job = upload_done(&http, &server, &token, "docs.zip", bundle).await;
    let uploaded = download(&http, &server.base, &token, &job).await;
    assert_no_local_path(&uploaded, d);
    let reference = "(c4/context/context.puml:";
    for files in [&uploaded, &cli_bundle] {
        let compose = String::from_utf8_lossy(&files["docker-compose.yml"]).into_owned();
        assert!(compose.contains(reference), "{compose}");
    }
    // Only the run's source name differs (the bundle vs the diagram file).
    assert_eq!(
        uploaded.keys().collect::<Vec<_>>(),
        cli_bundle.keys().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn deploy_targets_chosen_at_upload_give_the_clis_deploy_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    fs::write(d.join("sys.puml"), BIGBANK).expect("write diagram");
    convert(d, &["sys.puml", "-o", "cli", "--deploy", "k8s,gcp-run"]);
    let cli = tree(&d.join("cli"));
    assert!(
        cli.keys()
            .any(|k| k.starts_with("deploy/k8s/overlays/prod/"))
    );
    assert!(cli.contains_key("deploy/gcp-run/main.tf"));
    assert!(!cli.keys().any(|k| k.starts_with("deploy/aws-ecs/")));

    let data = tempfile::tempdir().expect("data dir");
    let env = vec![
        ("C4FORGE_DATA_DIR".into(), data.path().display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
    ];
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "deploy@example.com").await;
    // An unknown target is refused before anything is stored.
    let (status, body) = upload(
        &http,
        &server.base,
        Some(&token),
        "sys.puml&deploy=k8s,heroku",
        BIGBANK.into(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("heroku"), "{body}");
    // The choice travels with the job to the generate stage.
    let job = upload_done(
        &http,
        &server,
        &token,
        "sys.puml&deploy=gcp-run,k8s",
        BIGBANK.into(),
    )
    .await;
    let uploaded = download(&http, &server.base, &token, &job).await;
    assert_same(&cli, &uploaded, "upload with ?deploy=");
}

/// A diagram whose deployment nodes name stacks (ECS, Cloud Run, Container
/// Apps, Kubernetes) gets those targets without `--deploy`, in the CLI and
/// through the upload API alike, and the same files from both.
#[tokio::test]
async fn deployment_nodes_choose_the_targets_in_the_cli_and_the_api_alike() {
    const NESTED: &str = include_str!("../../infer/tests/deploy/nested.puml");
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    fs::write(d.join("nested.puml"), NESTED).expect("write diagram");
    convert(d, &["nested.puml", "-o", "cli"]);
    let cli = tree(&d.join("cli"));
    for target in ["aws-ecs", "azure-aca", "gcp-run", "k8s"] {
        assert!(
            cli.keys()
                .any(|k| k.starts_with(&format!("deploy/{target}/"))),
            "no deploy/{target}/ in {:?}",
            cli.keys().collect::<Vec<_>>()
        );
    }

    let data = tempfile::tempdir().expect("data dir");
    let env = vec![
        ("C4FORGE_DATA_DIR".into(), data.path().display().to_string()),
        ("C4FORGE_LISTEN".into(), "127.0.0.1:0".into()),
    ];
    let server = spawn(&[], &env);
    let http = reqwest::Client::new();
    let token = login(&http, &server.base, "nodes@example.com").await;
    let job = upload_done(&http, &server, &token, "nested.puml", NESTED.into()).await;
    let uploaded = download(&http, &server.base, &token, &job).await;
    assert_same(&cli, &uploaded, "upload without ?deploy=");
}
