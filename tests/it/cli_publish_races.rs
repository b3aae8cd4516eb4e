//! `crpack publish` when CreateAnalysisTemplate's answer is lost, when two publishes of the same
//! project race, and when a different template already holds the derived name.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::common::*;
use aws_sdk_cleanrooms::types::{
    AnalysisFormat, AnalysisSchema, AnalysisSource, AnalysisTemplateArtifacts, ParameterType,
};

/// What the proxy does with one request.
enum Fate {
    /// Forward it and relay the answer.
    Forward,
    /// Forward it, let the service finish, then close the connection without answering.
    LoseAnswer,
    /// Answer it without forwarding.
    Answer(String),
}

/// An HTTP/1.1 proxy in front of the sandbox that can lose the answer to a request the service
/// did process (`FaultProxy` can only answer instead of the service). One request per
/// connection: the request is forwarded with `connection: close`.
struct LossyProxy {
    endpoint: String,
    /// Answers read from the service and thrown away.
    lost: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl LossyProxy {
    fn start<F>(upstream: &str, rule: F) -> LossyProxy
    where
        F: Fn(&str, &str) -> Fate + Send + Sync + 'static,
    {
        let (listener, endpoint) = local_listener();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let lost = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rule = Arc::new(rule);
        let (lost2, stop2) = (lost.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                let (rule, lost, upstream) = (rule.clone(), lost2.clone(), upstream.clone());
                std::thread::spawn(move || relay(client, &upstream, &*rule, &lost));
            }
        });
        LossyProxy { endpoint, lost, stop }
    }

    fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(
    mut client: TcpStream,
    upstream: &str,
    rule: &(dyn Fn(&str, &str) -> Fate + Send + Sync),
    lost: &AtomicUsize,
) {
    client.set_nonblocking(false).unwrap();
    let Some((buf, head, head_end)) = read_request(&mut client) else {
        return;
    };
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let lose = match rule(method, path) {
        Fate::Answer(resp) => {
            let _ = client.write_all(resp.as_bytes());
            return;
        }
        Fate::LoseAnswer => true,
        Fate::Forward => false,
    };
    let Some(mut up) = forward_request(&buf, &head, head_end, upstream) else {
        return;
    };
    if lose {
        // The service did the work; its answer never reaches the client.
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer);
        lost.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let _ = std::io::copy(&mut up, &mut client);
}

/// `POST /memberships/{id}/analysistemplates`: CreateAnalysisTemplate.
fn is_create_template(method: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    method == "POST" && path.starts_with("/memberships/") && path.ends_with("/analysistemplates")
}

/// `(name, arn)` of every template in the author's membership.
fn templates(sb: &TestSandbox) -> Vec<(String, String)> {
    sb.author_templates()
}

/// `crpack ARGS` in `dir` as the author, with Clean Rooms calls sent to `cleanrooms`.
fn author_via(sb: &TestSandbox, dir: &Path, cleanrooms: &str, args: &[&str]) -> Run {
    let mut cmd = crpack(args);
    cmd.current_dir(dir);
    sb.as_identity(&mut cmd, &sb.seed.author.identity);
    cmd.env("AWS_ENDPOINT_URL_CLEANROOMS", cleanrooms);
    run(&mut cmd)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Creates, straight through the SDK, the template a publish of `dir` would register (same name,
/// artifacts, tables, role) but with `min_customers` defaulting to `default`.
fn create_lookalike(
    rt: &tokio::runtime::Handle,
    aws: &crpack_core::aws::Aws,
    seed: &crpack_sandbox::seed::SeedInfo,
    plan: &serde_json::Value,
    default: &str,
) {
    let loc =
        |u: &serde_json::Value| template_artifact(u["bucket"].as_str().unwrap(), u["key"].as_str().unwrap());
    let uploads = plan["uploads"].as_array().unwrap();
    let entry = uploads.iter().find(|u| u["role"] == "entry_point").unwrap();
    let mut artifacts = AnalysisTemplateArtifacts::builder()
        .entry_point(loc(entry))
        .role_arn(&seed.role_arn);
    for u in uploads.iter().filter(|u| u["role"] != "entry_point") {
        artifacts = artifacts.additional_artifacts(loc(u));
    }
    rt.block_on(
        aws.cleanrooms
            .create_analysis_template()
            .membership_identifier(&seed.author.membership_id)
            .name(plan["template_name"].as_str().unwrap())
            .format(AnalysisFormat::Pyspark10)
            .source(AnalysisSource::Artifacts(artifacts.build().unwrap()))
            .schema(
                AnalysisSchema::builder()
                    .referenced_tables("orders")
                    .referenced_tables("customers")
                    .build(),
            )
            .analysis_parameters(crate::common::parameter(
                "min_customers",
                ParameterType::String,
                default,
            ))
            .send(),
    )
    .expect("create the look-alike template");
}

#[test]
fn a_lost_create_answer_ends_as_the_one_template_reused() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/lost");
    let creates = Arc::new(AtomicUsize::new(0));
    let seen = creates.clone();
    let proxy = LossyProxy::start(&sb.endpoint(), move |method, path| {
        if is_create_template(method, path) && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Fate::LoseAnswer
        } else {
            Fate::Forward
        }
    });
    let r = author_via(&sb, &dir, &proxy.endpoint, &["--json", "publish"]).expect(0);
    let json = r.json();
    assert_eq!(proxy.lost(), 1, "the first answer was lost");
    assert_eq!(
        creates.load(Ordering::SeqCst),
        2,
        "the SDK retried CreateAnalysisTemplate once"
    );
    // The retry cannot tell its own earlier attempt from someone else's: it found an identical
    // template under the derived name, which is what "reused" says.
    assert_eq!(json["ok"], true);
    assert_eq!(json["template_action"], "reused");
    let all = templates(&sb);
    assert_eq!(all.len(), 1, "{all:?}");
    let lock = read_json(&dir.join("crpack.lock"));
    assert_eq!(lock, json["lock"]);
    assert_eq!(lock["template"]["arn"], all[0].1.as_str());
    assert_eq!(lock["template"]["name"], all[0].0.as_str());
    assert!(
        r.stderr().contains("name is taken"),
        "says why it reused: {}",
        r.stderr()
    );

    // The rerun agrees: up to date, nothing created.
    let again = sb.author(&dir, &["--json", "publish"]).expect(0).json();
    assert_eq!(again["up_to_date"], true);
    assert_eq!(templates(&sb).len(), 1);
}

#[test]
fn twin_publishes_started_together_both_succeed_on_one_template() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/twins");
    for trial in 0..5 {
        // A new definition each trial, so each trial races to create a new template.
        let ep = dir.join("src/entrypoint.py");
        let mut text = std::fs::read_to_string(&ep).unwrap();
        text.push_str(&format!("\n# trial {trial}\n"));
        std::fs::write(&ep, text).unwrap();
        let spawn = |tag: &str| {
            let mut cmd = crpack([
                "--json",
                "publish",
                "--out",
                &format!("dist-{tag}"),
                "--lock",
                &format!("{tag}.lock"),
            ]);
            cmd.current_dir(&dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            sb.as_identity(&mut cmd, &sb.seed.author.identity);
            cmd.spawn().unwrap()
        };
        let (a, b) = (spawn("a"), spawn("b"));
        let runs = [a, b].map(|c| Run {
            output: c.wait_with_output().unwrap(),
        });
        let mut locks = Vec::new();
        for (r, tag) in runs.into_iter().zip(["a", "b"]) {
            let json = r.expect(0).json();
            let lock = read_json(&dir.join(format!("{tag}.lock")));
            assert_eq!(lock, json["lock"], "trial {trial}: lock {tag}");
            locks.push(lock);
        }
        let arns: Vec<&str> = locks
            .iter()
            .map(|l| l["template"]["arn"].as_str().unwrap())
            .collect();
        assert_eq!(arns[0], arns[1], "trial {trial}: both locks name one template");
        assert_eq!(
            locks[0]["artifacts"], locks[1]["artifacts"],
            "trial {trial}: both locks name the same object versions"
        );
        let all = templates(&sb);
        assert_eq!(
            all.len(),
            trial + 1,
            "trial {trial}: one template per trial: {all:?}"
        );
        assert!(all.iter().any(|(_, arn)| arn == arns[0]));
    }
}

#[test]
fn a_different_template_under_the_derived_name_is_refused_naming_the_field() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/other");
    let aws = sb.clients(&sb.seed.author.identity);
    let plan = sb.publish_plan(&dir);
    // A publish puts the artifacts in place; then its template is replaced by a look-alike
    // that differs in one parameter default.
    let first = sb.author(&dir, &["--json", "publish"]).expect(0).json();
    sb.rt
        .block_on(
            aws.cleanrooms
                .delete_analysis_template()
                .membership_identifier(&sb.seed.author.membership_id)
                .analysis_template_identifier(first["lock"]["template"]["id"].as_str().unwrap())
                .send(),
        )
        .unwrap();
    create_lookalike(sb.rt.handle(), &aws, &sb.seed, &plan, "1000");
    std::fs::remove_file(dir.join("crpack.lock")).unwrap();

    let r = sb.author(&dir, &["--json", "publish"]).expect(3);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(plan["template_name"].as_str().unwrap()),
        "{message}"
    );
    assert!(
        message.contains("parameter min_customers default"),
        "names the differing field: {message}"
    );
    assert!(!message.contains("format"), "only what differs: {message}");
    assert!(!message.contains("referenced tables"), "{message}");
    assert!(!dir.join("crpack.lock").exists(), "nothing recorded as published");
    assert_eq!(templates(&sb).len(), 1);
}

#[test]
fn a_different_template_that_wins_the_race_is_refused_naming_the_field() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/race-other");
    let plan = sb.publish_plan(&dir);
    // Just before crpack's CreateAnalysisTemplate reaches the service, someone else creates a
    // template under the same name with another default: crpack gets a ConflictException.
    let (rt, aws, seed) = (
        sb.rt.handle().clone(),
        sb.clients(&sb.seed.author.identity),
        sb.seed.clone(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let proxy = LossyProxy::start(&sb.endpoint(), move |method, path| {
        if is_create_template(method, path) && !done.swap(true, Ordering::SeqCst) {
            create_lookalike(&rt, &aws, &seed, &plan, "7");
        }
        Fate::Forward
    });
    let r = author_via(&sb, &dir, &proxy.endpoint, &["--json", "publish"]).expect(3);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("parameter min_customers default"),
        "names the differing field: {message}"
    );
    assert!(!dir.join("crpack.lock").exists());
    assert_eq!(templates(&sb).len(), 1);
}

#[test]
fn a_conflict_for_another_reason_is_reported_as_the_service_said() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/conflict");
    let proxy = LossyProxy::start(&sb.endpoint(), |method, path| {
        if is_create_template(method, path) {
            Fate::Answer(FaultProxy::response(
                409,
                "Conflict",
                &[
                    ("x-amzn-errortype", "ConflictException"),
                    ("content-type", "application/json"),
                ],
                "{\"message\":\"the membership is being updated\",\"reason\":\"INVALID_STATE\"}",
            ))
        } else {
            Fate::Forward
        }
    });
    let r = author_via(&sb, &dir, &proxy.endpoint, &["--json", "publish"]).expect(3);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("CreateAnalysisTemplate")
            && message.contains("ConflictException")
            && message.contains("the membership is being updated"),
        "{message}"
    );
    assert!(!dir.join("crpack.lock").exists());
    assert!(templates(&sb).is_empty());
}
