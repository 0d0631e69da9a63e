//! The Debian package: built by `packaging/deb/build.sh` from the binary,
//! it holds the binary, the systemd unit, the configuration (as conffiles,
//! the secrets file readable by root only) and the private data folder;
//! the configuration it ships is one the binary reads.

use std::path::Path;
use std::process::Command;

fn output(command: &mut Command) -> String {
    let out = command.output().expect("running a command");
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_debian_package_installs_a_hardened_service() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("threadline-deb-{}", uuid::Uuid::now_v7()));
    let deb = output(
        Command::new(repo.join("packaging/deb/build.sh")).arg(env!("CARGO_BIN_EXE_threadline")).arg(&out).env("DEB_COMPRESSION", "gzip"),
    );
    let deb = deb.trim();
    assert!(deb.ends_with(".deb") && Path::new(deb).is_file(), "{deb}");

    let fields = output(Command::new("dpkg-deb").args(["--field", deb, "Package", "Version", "Depends"]));
    assert!(fields.contains("Package: threadline") && fields.contains("Version: 0.1.0") && fields.contains("adduser"), "{fields}");

    let contents = output(Command::new("dpkg-deb").args(["--contents", deb]));
    let line =
        |path: &str| contents.lines().find(|l| l.ends_with(path)).unwrap_or_else(|| panic!("{path} missing:\n{contents}")).to_owned();
    assert!(line("./usr/bin/threadline").starts_with("-rwxr-xr-x root/root"));
    assert!(line("./etc/threadline/threadline.env").starts_with("-rw------- root/root"), "secrets are root's only");
    assert!(line("./var/lib/threadline/").starts_with("drwx------"), "the data folder is private");
    line("./lib/systemd/system/threadline.service");
    line("./etc/threadline/threadline.toml");

    // Unpacked: the binary runs, and reads the configuration it ships with.
    let root = out.join("root");
    output(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/threadline.service")).unwrap();
    for hardening in
        ["User=threadline", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/threadline", "CapabilityBoundingSet="]
    {
        assert!(unit.lines().any(|l| l == hardening || l.starts_with(hardening)), "{hardening} missing from the unit");
    }
    let binary = root.join("usr/bin/threadline");
    assert!(output(Command::new(&binary).arg("--version")).starts_with("threadline "));
    let config = output(
        Command::new(&binary)
            .env_remove("DATABASE_URL")
            .env("THREADLINE_CONFIG", root.join("etc/threadline/threadline.toml"))
            .env("THREADLINE_LOG", "warn")
            .arg("config"),
    );
    assert!(config.contains("data = \"/var/lib/threadline\""), "{config}");

    // The maintainer scripts are valid shell.
    let control = out.join("control");
    output(Command::new("dpkg-deb").arg("--control").arg(deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(
        conffiles.contains("/etc/threadline/threadline.toml") && conffiles.contains("/etc/threadline/threadline.env"),
        "an upgrade keeps the operator's configuration: {conffiles}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        output(Command::new("sh").arg("-n").arg(control.join(script)));
    }
}
