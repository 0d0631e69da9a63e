//! Secrets at rest: provider credentials and webhook signing secrets are
//! sealed with ChaCha20-Poly1305 under one installation key before they are
//! stored, so a copy of the database alone reveals none of them.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    /// Signs short-lived links (media for providers to fetch); derived from
    /// the installation key so it needs no configuration of its own.
    link_key: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("sealed secret cannot be opened (wrong key or corrupt data)")]
    Open,
}

impl SecretBox {
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(key.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let link_key = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"threadline link signing key\0");
            h.update(&bytes);
            h.finalize().into()
        };
        Ok(Self { cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)), link_key })
    }

    /// Reads the key from `path`, creating it (mode 0600) on first start.
    pub fn from_key_file(path: &Path) -> Result<Self, SecretError> {
        let err = |source| SecretError::KeyFile { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ChaCha20Poly1305::generate_key(&mut OsRng);
                let encoded = STANDARD.encode(key);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(err)?;
                }
                write_private(path, encoded.as_bytes()).map_err(err)?;
                Self::from_base64(&encoded)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// Encrypts `plaintext`: base64 of a random nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self.cipher.encrypt(&nonce, plaintext.as_bytes()).expect("encryption of in-memory data cannot fail");
        let mut out = nonce.to_vec();
        out.extend(ciphertext);
        STANDARD.encode(out)
    }

    /// A MAC of `data` for signed links (hex).
    pub fn sign_link(&self, data: &str) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(data.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is [`Self::sign_link`] of `data`, in constant time.
    pub fn verify_link(&self, data: &str, signature: &str) -> bool {
        use hmac::Mac;
        let Ok(given) = hex::decode(signature) else { return false };
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(data.as_bytes());
        mac.verify_slice(&given).is_ok()
    }

    /// Whether `prefix` (hex) is the start of [`Self::sign_link`] of `data`,
    /// in constant time: for short signatures where space is tight (a
    /// reply address's local part).
    pub fn verify_link_prefix(&self, data: &str, prefix: &str) -> bool {
        use hmac::Mac;
        let Ok(given) = hex::decode(prefix) else { return false };
        if given.len() < 6 {
            return false;
        }
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(data.as_bytes());
        mac.verify_truncated_left(&given).is_ok()
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SecretError::Open)?;
        if bytes.len() < 12 {
            return Err(SecretError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let dir = std::env::temp_dir().join(format!("threadline-secrets-{}", uuid::Uuid::now_v7()));
        let path = dir.join("secret.key");
        let a = SecretBox::from_key_file(&path).unwrap();
        let sealed = a.seal("twilio-auth-token");
        assert!(!sealed.contains("twilio"));
        assert_ne!(sealed, a.seal("twilio-auth-token"), "nonces must differ");
        let b = SecretBox::from_key_file(&path).unwrap();
        assert_eq!(b.open(&sealed).unwrap(), "twilio-auth-token");
        let other = SecretBox::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(SecretBox::from_base64("c2hvcnQ=").is_err());
    }
}
