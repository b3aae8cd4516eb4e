use super::*;

#[test]
fn bytes_that_are_not_utf8_are_located() {
    let bytes = b"[template]\nname = \"caf\xe9\"\n".to_vec();
    let e = String::from_utf8(bytes.clone()).unwrap_err().utf8_error();
    let err = not_utf8(Path::new("crpack.toml"), &bytes, e);
    assert!(
        matches!(
            err,
            ProjectError::NotUtf8 {
                line: 2,
                column: 12,
                offset: 22,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.starts_with("crpack.toml:2: not UTF-8 text"), "{text}");
    assert!(
        text.contains("byte offset 22") && text.contains("iconv"),
        "{text}"
    );
}

const GOOD: &str = r#"
[template]
name = "audience-overlap"
description = "Overlap of customers"
entry_point = "src/entrypoint.py"
referenced_tables = ["orders", "customers"]
error_messages = "basic"
[[template.parameters]]
name = "min_count"
default = "100"
[template.tags]
team = "analytics"

[bundle]
include = ["lib", "data/lookup.csv"]
exclude = ["**/tests/**"]

[publish]
bucket = "my-artifacts"
prefix = "/templates/audience-overlap/"
role_arn = "arn:aws:iam::111122223333:role/service-role/cleanrooms-pyspark-read"
membership_id = "3c6b0ba0-0000-4000-8000-000000000001"
"#;

fn parse(text: &str) -> Result<Project, ProjectError> {
    Project::parse(text, Path::new("crpack.toml"), Path::new("/p"))
}

fn invalid(text: &str) -> (usize, String, String) {
    match parse(text) {
        Err(ProjectError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn parses_the_documented_example() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.template.name, "audience-overlap");
    assert_eq!(p.template.entry_point, "src/entrypoint.py");
    assert_eq!(p.template.referenced_tables, ["orders", "customers"]);
    assert_eq!(
        p.template.parameters,
        [Parameter {
            name: "min_count".into(),
            default: Some("100".into())
        }]
    );
    assert_eq!(
        p.bundle,
        Some(BundleSpec::Venv(VenvSpec {
            include: vec!["lib".into(), "data/lookup.csv".into()],
            exclude: vec!["**/tests/**".into()],
            requirements: None,
            target: Target::clean_rooms(),
        }))
    );
    let publish = p.publish.unwrap();
    assert_eq!(publish.prefix, "templates/audience-overlap");
    assert_eq!(publish.region, None);
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let text = GOOD.replace("error_messages = \"basic\"", "error_message = \"basic\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("error_message"), "{err}");
    assert!(err.contains("line 7"), "{err}");
}

#[test]
fn invalid_values_name_the_key_and_line() {
    let (line, key, _) = invalid(&GOOD.replace("audience-overlap\"\ndesc", "bad--name\"\ndesc"));
    assert_eq!((line, key.as_str()), (3, "template.name"));
    let (line, key, _) = invalid(&GOOD.replace("min_count", "9lives"));
    assert_eq!((line, key.as_str()), (9, "template.parameters.name"));
    let (line, key, _) = invalid(&GOOD.replace("role/service-role", "user/service-role"));
    assert_eq!((line, key.as_str()), (21, "publish.role_arn"));
    let (_, key, _) = invalid(&GOOD.replace("3c6b0ba0-0000", "3C6B0BA0-0000"));
    assert_eq!(key, "publish.membership_id");
    let (_, key, _) = invalid(&GOOD.replace("my-artifacts", "My_Artifacts"));
    assert_eq!(key, "publish.bucket");
    let (_, key, _) = invalid(&GOOD.replace("/templates/audience-overlap/", "templates/a b"));
    assert_eq!(key, "publish.prefix");
}

#[test]
fn paths_stay_inside_the_project() {
    for bad in ["../x.py", "/abs/x.py", "src/../../x.py"] {
        let (_, key, msg) = invalid(&GOOD.replace("src/entrypoint.py", bad));
        assert_eq!(key, "template.entry_point", "{bad}: {msg}");
    }
    let (_, _, msg) = invalid(&GOOD.replace("src/entrypoint.py", "src/entry.txt"));
    assert!(msg.contains(".py"), "{msg}");
    let (_, _, msg) = invalid(&GOOD.replace("src/entrypoint.py", "src/my entry.py"));
    assert!(msg.contains("S3 key"), "{msg}");
    let (_, key, _) = invalid(&GOOD.replace("\"lib\"", "\"../lib\""));
    assert_eq!(key, "bundle.include");
}

#[test]
fn include_and_archive_together_is_an_error() {
    let text = GOOD.replace("exclude = [\"**/tests/**\"]", "archive = \"venv.tar.gz\"");
    let (line, key, msg) = invalid(&text);
    assert_eq!((line, key.as_str()), (16, "bundle.archive"));
    assert!(msg.contains("at most one"), "{msg}");
}

#[test]
fn limits_are_enforced() {
    let mut text = GOOD.replace(
        "[[template.parameters]]\nname = \"min_count\"\ndefault = \"100\"\n",
        "",
    );
    for i in 0..51 {
        text = text.replace(
            "[template.tags]",
            &format!("[[template.parameters]]\nname = \"p{i}\"\n[template.tags]"),
        );
    }
    let (_, key, msg) = invalid(&text);
    assert_eq!(key, "template.parameters", "{msg}");
    let long = "x".repeat(1001);
    let (_, key, _) = invalid(&GOOD.replace("default = \"100\"", &format!("default = \"{long}\"")));
    assert_eq!(key, "template.parameters.default");
    let (_, key, _) = invalid(&GOOD.replace("Overlap of customers", &"d".repeat(256)));
    assert_eq!(key, "template.description");
    let (_, key, _) = invalid(&GOOD.replace("[\"orders\", \"customers\"]", "[\"orders\", \"orders\"]"));
    assert_eq!(key, "template.referenced_tables");
}

#[test]
fn bundle_and_publish_are_optional() {
    let text = GOOD.split("[bundle]").next().unwrap();
    let p = parse(text).unwrap();
    assert!(p.bundle.is_none() && p.publish.is_none());
    assert!(p.publish_config().is_err());
    let text = format!("{text}[bundle]\narchive = \"build/pyspark_venv.tar.gz\"\n");
    assert_eq!(
        parse(&text).unwrap().bundle,
        Some(BundleSpec::Archive("build/pyspark_venv.tar.gz".into()))
    );
}

#[test]
fn bundle_formats_and_targets() {
    let base = GOOD.split("[bundle]").next().unwrap();
    let bundle = |body: &str| parse(&format!("{base}[bundle]\n{body}"));
    // requirements alone make a venv; format = "zip" keeps the zip of modules.
    match bundle("requirements = \"requirements.txt\"\n").unwrap().bundle {
        Some(BundleSpec::Venv(v)) => {
            assert_eq!(v.requirements.as_deref(), Some("requirements.txt"));
            assert!(v.include.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        bundle("format = \"zip\"\ninclude = [\"lib\"]\n").unwrap().bundle,
        Some(BundleSpec::Sources { .. })
    ));
    // A future runtime.
    let p = bundle(
        "include = [\"lib\"]\n[bundle.target]\narch = \"aarch64\"\nglibc = \"2.39\"\npython = \"3.12\"\n",
    )
    .unwrap();
    let Some(BundleSpec::Venv(v)) = p.bundle else {
        panic!()
    };
    assert_eq!((v.target.glibc, v.target.python), ((2, 39), (3, 12)));
    assert_eq!(v.target.interpreter, "/usr/bin/python3.12");
    // Contradictions are errors naming the key.
    let err = |body: &str| {
        let text = format!("{base}[bundle]\n{body}");
        invalid(&text)
    };
    let (_, key, msg) = err("format = \"zip\"\ninclude = [\"lib\"]\nrequirements = \"r.txt\"\n");
    assert_eq!(key, "bundle.requirements", "{msg}");
    assert!(msg.contains("venv"), "{msg}");
    let (_, key, msg) = err("archive = \"a.tar.gz\"\nrequirements = \"r.txt\"\n");
    assert_eq!(key, "bundle.archive");
    assert!(msg.contains("requirements"), "{msg}");
    let (_, key, _) = err("format = \"wheel\"\ninclude = [\"lib\"]\n");
    assert_eq!(key, "bundle.format");
    let (_, key, _) = err("include = [\"lib\"]\n[bundle.target]\nglibc = \"two\"\n");
    assert_eq!(key, "bundle.target.glibc");
    let (_, key, _) = err("format = \"zip\"\n");
    assert_eq!(key, "bundle");
}

#[test]
fn local_samples_are_validated() {
    let base = GOOD.split("[bundle]").next().unwrap();
    let text = format!(
        "{base}[local]\nsamples = {{ orders = \"samples/orders.csv\", customers = \"./data/c.parquet\" }}\n"
    );
    let p = parse(&text).unwrap();
    assert_eq!(p.local.samples["orders"], "samples/orders.csv");
    assert_eq!(p.local.samples["customers"], "data/c.parquet");
    assert_eq!(parse(base).unwrap().local, LocalConfig::default());

    // The table form works too, and reports the line of the bad key.
    let text = format!("{base}[local.samples]\norders = \"samples/orders.csv\"\nvisits = \"v.csv\"\n");
    let (line, key, msg) = invalid(&text);
    assert_eq!(key, "local.samples");
    assert_eq!(line, base.lines().count() + 3, "{msg}");
    assert!(
        msg.contains("\"visits\"") && msg.contains("orders, customers"),
        "{msg}"
    );

    for bad in ["../orders.csv", "/tmp/orders.csv"] {
        let text = format!("{base}[local]\nsamples = {{ orders = \"{bad}\" }}\n");
        let (line, key, _) = invalid(&text);
        assert_eq!(
            (line, key.as_str()),
            (base.lines().count() + 2, "local.samples"),
            "{bad}"
        );
    }
    let text = format!("{base}[local]\nsamples = {{ orders = \"samples/orders.json\" }}\n");
    let (_, key, msg) = invalid(&text);
    assert_eq!(key, "local.samples");
    assert!(msg.contains(".csv") && msg.contains("orders"), "{msg}");
}

#[test]
fn local_keeps_unknown_keys_strict() {
    let base = GOOD.split("[bundle]").next().unwrap();
    let err = parse(&format!("{base}[local]\nsample = {{ orders = \"o.csv\" }}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sample"), "{err}");
    assert!(
        err.contains(&format!("line {}", base.lines().count() + 2)),
        "{err}"
    );
}

#[test]
fn samples_default_to_the_samples_directory() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}[local]\nsamples = {{ customers = \"data/customers.csv\" }}\n",
        GOOD.split("[bundle]").next().unwrap()
    );
    let p = Project::parse(&text, Path::new("crpack.toml"), dir.path()).unwrap();
    assert_eq!(
        p.sample_source("orders"),
        SampleSource::Missing(vec!["samples/orders.csv".into(), "samples/orders.parquet".into()])
    );
    fs::create_dir_all(dir.path().join("samples")).unwrap();
    fs::write(dir.path().join("samples/orders.parquet"), b"x").unwrap();
    assert_eq!(
        p.sample_source("orders"),
        SampleSource::Default(dir.path().join("samples/orders.parquet"))
    );
    fs::write(dir.path().join("samples/orders.csv"), b"a\n").unwrap();
    assert_eq!(
        p.sample_source("orders"),
        SampleSource::Default(dir.path().join("samples/orders.csv"))
    );
    // A configured file wins even when it does not exist (the caller reports it).
    fs::write(dir.path().join("samples/customers.csv"), b"a\n").unwrap();
    assert_eq!(
        p.sample_source("customers"),
        SampleSource::Configured(dir.path().join("data/customers.csv"))
    );
}
