//! Real headless Chromium, driven through ChromeDriver (Debian's chromium
//! and chromium-driver; `scripts/test` installs them). Missing browsers
//! fail the test: browser tests are never skipped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::Value;

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    pub async fn launch() -> Browser {
        let driver_path = std::env::var("THREADLINE_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("THREADLINE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&driver_path).exists() && std::path::Path::new(&chromium).exists(),
            "the browser tests need Chromium and ChromeDriver ({chromium}, {driver_path}); `scripts/test` installs them \
             (Debian packages chromium and chromium-driver)"
        );
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let profile = std::env::temp_dir().join(format!("threadline-chromium-{}", uuid_like()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1100,800", format!("--user-data-dir={}", profile.display())]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Browser { client, driver, profile },
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start Chromium through ChromeDriver: {last_error}");
    }

    /// Runs JavaScript in the page; returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits (up to 10 s) until `condition` (a JS expression) is truthy.
    pub async fn wait_for(&self, what: &str, condition: &str) {
        let script = format!("return !!({condition});");
        for _ in 0..200 {
            if self.js(&script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.screenshot(&format!("timeout-{}", what.replace(' ', "-"))).await;
        panic!("timed out waiting for {what}: {condition}");
    }

    /// Saves a screenshot under `target/tmp/screenshots/` (kept as a test artifact).
    /// Signs in to the workspace at `base` through its sign-in form.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.client.goto(&format!("{base}/login")).await.expect("opening the sign-in page");
        self.wait_for("the sign-in form", "document.querySelector('input[name=email]')").await;
        let script = format!(
            "document.querySelector('input[name=email]').value = {email:?}; document.querySelector('input[name=password]').value = {password:?}; \
             document.querySelector('form').submit();"
        );
        self.js(&script).await;
        self.wait_for("the inbox", "document.querySelector('main.inbox')").await;
    }

    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

fn uuid_like() -> String {
    format!("{:x}{:x}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}
