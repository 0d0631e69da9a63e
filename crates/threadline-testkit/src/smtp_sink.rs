//! A real SMTP server on loopback for outbound mail tests: Debian's
//! aiosmtpd (package python3-aiosmtpd, installed by `scripts/test`),
//! storing every message it accepts in a Maildir.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpSink {
    pub addr: SocketAddr,
    maildir: PathBuf,
    server: Child,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port. Fails (never skips) when
    /// aiosmtpd is missing.
    pub async fn start() -> SmtpSink {
        let python = std::env::var("THREADLINE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
        let maildir = std::env::temp_dir().join(format!("threadline-smtp-{}", uuid::Uuid::now_v7().simple()));
        let mut server = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd with {python} ({e}); `scripts/test` installs python3-aiosmtpd"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return SmtpSink { addr, maildir, server };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = server.kill();
        let _ = server.wait();
        panic!("aiosmtpd did not start with {python}; `scripts/test` installs python3-aiosmtpd");
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let mut found = Vec::new();
        for dir in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(dir)) {
                for entry in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(entry.path()) {
                        found.push(text);
                    }
                }
            }
        }
        found
    }

    /// Waits (up to `secs`) until at least `count` messages arrived.
    pub async fn wait_for(&self, count: usize, secs: u64) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let messages = self.messages();
            if messages.len() >= count || tokio::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
