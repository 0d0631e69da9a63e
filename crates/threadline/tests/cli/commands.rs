use std::process::Command;

pub(crate) fn threadline(data: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_threadline"));
    command.arg("--data").arg(data).env_remove("DATABASE_URL").env_remove("THREADLINE_CONFIG").env("THREADLINE_LOG", "warn");
    command
}

fn temp() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("threadline-cli-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn run(command: &mut Command) -> (bool, String, String) {
    let out = command.output().expect("running threadline");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_every_command() {
    let (ok, out, _) = run(threadline(&temp()).arg("--help"));
    assert!(ok);
    for command in ["serve", "migrate", "demo", "user", "config", "openapi"] {
        assert!(out.contains(command), "--help does not mention {command}:\n{out}");
    }
    let (ok, out, _) = run(threadline(&temp()).args(["user", "create", "--help"]));
    assert!(ok);
    assert!(out.contains("--email") && out.contains("--role"));
}

#[test]
fn first_user_creates_the_account_and_logins_are_unique() {
    let data = temp();
    let (ok, out, err) = run(threadline(&data).args([
        "user",
        "create",
        "--email",
        "Boss@Example.com",
        "--name",
        "Boss",
        "--password",
        "a long enough password",
    ]));
    assert!(ok, "{err}");
    assert!(out.contains("created admin boss@example.com in account My company"), "{out}");
    assert!(out.contains("API token (shown once): tl_"), "{out}");
    assert!(data.join("threadline.db").exists(), "SQLite lives in the data folder");

    let (ok, out, _) = run(threadline(&data)
        .args(["user", "create", "--email", "agent@example.com", "--name", "Agent", "--role", "agent"])
        .env_remove("THREADLINE_PASSWORD"));
    assert!(ok);
    assert!(out.contains("password: "), "a generated password is shown: {out}");

    let (ok, _, err) = run(threadline(&data).args([
        "user",
        "create",
        "--email",
        "boss@example.com",
        "--name",
        "Again",
        "--password",
        "a long enough password",
    ]));
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = run(threadline(&data).args(["user", "create", "--email", "x@example.com", "--name", "X", "--password", "short"]));
    assert!(!ok);
    assert!(err.contains("at least 10"), "{err}");
    let (ok, _, err) =
        run(threadline(&data).args(["user", "create", "--email", "not-an-email", "--name", "X", "--password", "a long enough password"]));
    assert!(!ok);
    assert!(err.contains("email"), "{err}");
}

#[test]
fn config_is_layered_and_masked() {
    let data = temp();
    let file = data.join("threadline.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:9999\"\nwebhook_max_attempts = 4\n").unwrap();
    let (ok, out, err) = run(threadline(&data)
        .args(["--config", file.to_str().unwrap(), "config"])
        .env("THREADLINE_ADMIN_TOKEN", "super-secret-operator")
        .env("THREADLINE_WEBHOOK_MAX_ATTEMPTS", "6")
        .env("THREADLINE_TYPO", "1"));
    assert!(ok, "{err}");
    assert!(out.contains("bind = \"127.0.0.1:9999\""), "{out}");
    assert!(out.contains("webhook_max_attempts = 6"), "environment wins over the file: {out}");
    assert!(!out.contains("super-secret-operator"), "secrets are masked: {out}");
    assert!(err.contains("THREADLINE_TYPO"), "unknown variables are reported: {err}");
    let (ok, _, err) = run(threadline(&data).arg("config").env("THREADLINE_BIND", "not an address"));
    assert!(!ok);
    assert!(err.contains("THREADLINE_BIND"));
}

#[test]
fn migrate_demo_and_openapi() {
    let data = temp();
    let (ok, out, err) = run(threadline(&data).arg("migrate"));
    assert!(ok, "{err}");
    assert!(out.contains("up to date"));
    let (ok, out, err) = run(threadline(&data).args(["demo", "--contacts", "25"]));
    assert!(ok, "{err}");
    assert!(out.contains("25 contacts") && out.contains("threadline-demo"), "{out}");
    let (ok, out, _) = run(threadline(&data).arg("openapi"));
    assert!(ok);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("openapi prints JSON");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn the_database_and_data_folder_are_private_to_the_server_user() {
    use std::os::unix::fs::PermissionsExt;
    let data = std::env::temp_dir().join(format!("threadline-cli-{}", uuid::Uuid::now_v7())).join("data");
    let (ok, _, err) = run(threadline(&data).arg("migrate"));
    assert!(ok, "{err}");
    let mode = |path: std::path::PathBuf| {
        std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
    };
    assert_eq!(mode(data.clone()), 0o700, "the data folder");
    assert_eq!(mode(data.join("threadline.db")), 0o600, "the database");
    // A database made readable by others (an older version, a copy) is
    // narrowed at the next start, its write-ahead log with it.
    for file in ["threadline.db", "threadline.db-wal", "threadline.db-shm"] {
        let path = data.join(file);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let (ok, _, err) = run(threadline(&data).args(["domain", "list"]));
    assert!(!ok && err.contains("no account"), "{err}");
    for file in ["threadline.db", "threadline.db-wal", "threadline.db-shm"] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(path), 0o600, "{file}");
        }
    }
}

#[test]
fn domains_are_assigned_from_the_command_line() {
    let data = temp();
    let (ok, _, err) = run(threadline(&data).args([
        "user",
        "create",
        "--email",
        "boss@example.com",
        "--name",
        "Boss",
        "--password",
        "correct horse battery",
    ]));
    assert!(ok, "{err}");
    let (ok, out, err) = run(threadline(&data).args(["domain", "assign", "Shop.Example"]));
    assert!(ok, "{err}");
    assert!(out.contains("shop.example is assigned"), "{out}");
    let (ok, _, err) = run(threadline(&data).args(["domain", "assign", "not a domain"]));
    assert!(!ok && err.contains("domain"), "{err}");
    let (_, out, _) = run(threadline(&data).args(["domain", "list"]));
    assert_eq!(out.trim(), "shop.example");
    let (ok, _, _) = run(threadline(&data).args(["domain", "remove", "shop.example"]));
    assert!(ok);
    let (_, out, _) = run(threadline(&data).args(["domain", "list"]));
    assert_eq!(out.trim(), "");
}

/// `serve --demo` on a fresh folder: the demo is seeded (by a child
/// process, so the server does not keep the seeding's memory), its
/// credentials are printed before the address, and they work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_seeds_once_and_serves_it() {
    use std::io::BufRead;
    let data = temp();
    let mut child = threadline(&data)
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    let (mut token, mut base) = (None, None);
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(t) = line.split("API token (shown once): ").nth(1) {
            token = Some(t.trim().to_owned());
        }
        if line.starts_with("Threadline is listening on ") {
            base = line.rsplit(' ').next().map(str::to_owned);
            break;
        }
    }
    let (token, base) = (token.expect("the demo's API token is printed"), base.expect("the address is printed"));
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/conversations?limit=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().map(Vec::len), Some(5), "the demo's conversations are served: {body}");
}
