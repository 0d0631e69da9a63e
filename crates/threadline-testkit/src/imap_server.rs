//! A real IMAP server for mailbox-polling tests: Debian's dovecot
//! (package dovecot-imapd, installed by `scripts/test`), one private
//! instance per test on a free loopback port, with one user whose mail is
//! in a Maildir. Messages are put in and read back with Python's imaplib,
//! a real IMAP client.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub struct ImapServer {
    pub port: u16,
    pub username: String,
    pub password: String,
    dir: PathBuf,
}

impl ImapServer {
    /// Starts dovecot. Fails (never skips) when dovecot is missing.
    pub async fn start() -> ImapServer {
        let dovecot = std::env::var("THREADLINE_TEST_DOVECOT").unwrap_or_else(|_| "/usr/sbin/dovecot".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port();
        let dir = std::env::temp_dir().join(format!("threadline-imap-{}", uuid::Uuid::now_v7().simple()));
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(dir.join(sub)).expect("creating dovecot's folders");
        }
        // Mail is owned by dovecot's own system user (it refuses root).
        let owner = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, "dovecot"]).output().expect("running id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("no dovecot system user; `scripts/test` installs dovecot-imapd"))
        };
        let (uid, gid) = (owner("-u"), owner("-g"));
        for sub in ["mail", "home"] {
            std::os::unix::fs::chown(dir.join(sub), Some(uid), Some(gid)).expect("chown for dovecot");
        }
        let d = dir.display();
        let config = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\nssl = no\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\nmail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/home/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
        );
        std::fs::write(dir.join("dovecot.conf"), config).expect("writing dovecot.conf");
        let (username, password) = ("support".to_owned(), format!("pw-{}", uuid::Uuid::now_v7().simple()));
        std::fs::write(dir.join("passwd"), format!("{username}:{{PLAIN}}{password}\n")).expect("writing the passwd file");
        // It forks into the background: no pipes it would keep open.
        let started = Command::new(&dovecot).arg("-c").arg(dir.join("dovecot.conf")).stdout(Stdio::null()).stderr(Stdio::null()).status();
        match started {
            Ok(status) if status.success() => {}
            Ok(status) => panic!("dovecot did not start ({status}); see {}/dovecot.log", dir.display()),
            Err(e) => panic!("cannot run {dovecot} ({e}); `scripts/test` installs dovecot-imapd"),
        }
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return ImapServer { port, username, password, dir };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dovecot did not listen on port {port}");
    }

    fn imaplib(&self, script: &str, arg: &str) -> String {
        let python = std::env::var("THREADLINE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
        let program = format!(
            "import imaplib, sys, base64\nm = imaplib.IMAP4('127.0.0.1', {})\nm.login({:?}, {:?})\nm.select('INBOX')\n{script}\nm.logout()\n",
            self.port, self.username, self.password
        );
        let out = Command::new(python).args(["-c", &program, arg]).output().expect("running python3 imaplib");
        assert!(out.status.success(), "imaplib failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Puts a message in the mailbox (IMAP APPEND), unread.
    pub fn append(&self, raw: &str) {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        self.imaplib("m.append('INBOX', None, None, base64.b64decode(sys.argv[1]))", &encoded);
    }

    /// How many messages are still unread.
    pub fn unseen(&self) -> usize {
        let out = self.imaplib("typ, data = m.search(None, 'UNSEEN')\nprint(len(data[0].split()))", "");
        out.parse().unwrap_or_else(|_| panic!("unexpected imaplib output {out}"))
    }
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        let dovecot = std::env::var("THREADLINE_TEST_DOVECOT").unwrap_or_else(|_| "/usr/sbin/dovecot".into());
        let _ = Command::new(dovecot)
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
