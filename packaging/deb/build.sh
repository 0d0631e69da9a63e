#!/usr/bin/env bash
# Builds the Debian package: the binary, a hardened systemd unit, the data
# folder /var/lib/threadline and the configuration in /etc/threadline.
#
#   cargo build --profile dist -p threadline
#   packaging/deb/build.sh [BINARY=target/dist/threadline] [OUT=target/debian]
#
# DEB_COMPRESSION (default xz) is passed to dpkg-deb -Z (the tests use
# gzip: they package an unoptimised binary).
#
# Prints the path of the .deb it wrote. Needs dpkg-deb (Debian's dpkg).
set -euo pipefail
cd "$(dirname "$0")/../.."

binary="${1:-target/dist/threadline}"
out="${2:-target/debian}"
if [ ! -x "$binary" ]; then
    echo "packaging/deb/build.sh: no binary at $binary (cargo build --profile dist -p threadline first)" >&2
    exit 1
fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
arch="$(dpkg --print-architecture)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

install -D -m 0755 "$binary" "$root/usr/bin/threadline"
install -D -m 0644 packaging/threadline.service "$root/lib/systemd/system/threadline.service"
install -D -m 0644 packaging/threadline.toml "$root/etc/threadline/threadline.toml"
install -D -m 0600 packaging/threadline.env "$root/etc/threadline/threadline.env"
install -D -m 0644 README.md "$root/usr/share/doc/threadline/README.md"
install -D -m 0644 docs/operations.md "$root/usr/share/doc/threadline/operations.md"
install -d -m 0700 "$root/var/lib/threadline"
install -d "$root/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
printf '/etc/threadline/threadline.toml\n/etc/threadline/threadline.env\n' > "$root/DEBIAN/conffiles"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: threadline
Version: $version
Architecture: $arch
Maintainer: Threadline <maintainers@threadline.invalid>
Installed-Size: $size
Depends: adduser, libc6
Section: net
Priority: optional
Homepage: https://threadline.invalid
Description: one customer, one conversation, every channel
 Threadline is a self-hosted customer-engagement platform: email, SMS,
 WhatsApp, Messenger, Instagram, Telegram and web chat in one conversation
 per customer, with routing, a bot, journeys, surveys and reports. It keeps
 its data in an embedded SQLite database, or in PostgreSQL with NATS
 JetStream when several nodes serve together.
CONTROL

mkdir -p "$out"
deb="$out/threadline_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
