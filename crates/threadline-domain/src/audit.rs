//! The audit log's hash chain: each account's entries are numbered, and
//! each carries the hash of the one before it, so an entry changed, removed
//! or slipped in afterwards breaks the chain where it happened.
//!
//! Retention may remove the oldest entries: it then appends an
//! `audit.purged` entry naming the last removed entry's number and hash,
//! and verification starts from that anchor instead of the beginning.
//!
//! No I/O: the store writes and reads entries, this module hashes and
//! checks them.

use sha2::{Digest, Sha256};

/// The hash the first entry of a chain points back to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The action of the entry retention appends after removing old entries.
pub const PURGED: &str = "audit.purged";

/// The fields an entry's hash covers, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub account_id: String,
    pub seq: i64,
    pub actor: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    /// The JSON data exactly as stored (its text, not a re-serialisation).
    pub data: String,
    /// Unix microseconds.
    pub created_at: i64,
}

impl AuditRecord {
    /// SHA-256 (hex) of the previous entry's hash and every field, each
    /// length-prefixed so that no two different entries hash alike.
    pub fn hash(&self, prev_hash: &str) -> String {
        let mut hash = Sha256::new();
        let seq = self.seq.to_string();
        let created = self.created_at.to_string();
        for field in [
            prev_hash,
            &self.id,
            &self.account_id,
            &seq,
            &self.actor,
            &self.action,
            &self.subject_type,
            &self.subject_id,
            &self.data,
            &created,
        ] {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field.as_bytes());
        }
        hex::encode(hash.finalize())
    }
}

/// An entry as read back: its fields, and the hashes stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEntry {
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Where a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq} ({id}) does not match its hash: it was changed after it was written")]
    Altered { seq: i64, id: String },
    #[error("entry {seq} ({id}) does not point at the entry before it: an entry before it was removed or replaced")]
    Unlinked { seq: i64, id: String },
    #[error("entry {seq} follows entry {previous}: entries in between are missing")]
    Gap { previous: i64, seq: i64 },
    #[error("the oldest entry is number {seq}, and no record of a retention purge explains the entries before it")]
    MissingStart { seq: i64 },
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: u64,
    /// The oldest entry number present (1 unless retention removed some).
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
}

/// Checks a chain incrementally, entry by entry in `seq` order, so a long
/// log is verified in pages without holding it all.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    report: ChainReport,
    last_hash: Option<String>,
    /// The first entry's back-link, accepted if a purge record names it.
    first_link: Option<(i64, String, String)>,
    purge_anchors: Vec<(i64, String)>,
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next entry (in `seq` order).
    pub fn push(&mut self, entry: &StoredAuditEntry) -> Result<(), ChainBreak> {
        let r = &entry.record;
        if entry.record.hash(&entry.prev_hash) != entry.hash {
            return Err(ChainBreak::Altered { seq: r.seq, id: r.id.clone() });
        }
        match (&self.last_hash, self.report.last_seq) {
            (Some(last), Some(previous)) => {
                if r.seq != previous + 1 {
                    return Err(ChainBreak::Gap { previous, seq: r.seq });
                }
                if &entry.prev_hash != last {
                    return Err(ChainBreak::Unlinked { seq: r.seq, id: r.id.clone() });
                }
            }
            _ => {
                self.report.first_seq = Some(r.seq);
                if r.seq != 1 || entry.prev_hash != GENESIS {
                    self.first_link = Some((r.seq, r.id.clone(), entry.prev_hash.clone()));
                }
            }
        }
        if r.action == PURGED
            && let Ok(data) = serde_json::from_str::<serde_json::Value>(&r.data)
            && let (Some(through), Some(hash)) = (data["through_seq"].as_i64(), data["last_hash"].as_str())
        {
            self.purge_anchors.push((through, hash.to_owned()));
        }
        self.report.entries += 1;
        self.report.last_seq = Some(r.seq);
        self.last_hash = Some(entry.hash.clone());
        Ok(())
    }

    /// Ends the check: a chain that does not start at the beginning must
    /// start right after a recorded purge.
    pub fn finish(self) -> Result<ChainReport, ChainBreak> {
        if let Some((seq, id, link)) = self.first_link {
            let anchored = self.purge_anchors.iter().any(|(through, hash)| *through + 1 == seq && *hash == link);
            if !anchored {
                return Err(if seq == 1 { ChainBreak::Unlinked { seq, id } } else { ChainBreak::MissingStart { seq } });
            }
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredAuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let record = AuditRecord {
                    id: format!("e{seq}"),
                    account_id: "acme".into(),
                    seq,
                    actor: "user:1".into(),
                    action: "user.update".into(),
                    subject_type: "user".into(),
                    subject_id: "u1".into(),
                    data: format!("{{\"role\":\"agent{seq}\"}}"),
                    created_at: 1_700_000_000_000_000 + seq,
                };
                let hash = record.hash(&prev);
                let entry = StoredAuditEntry { record, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                entry
            })
            .collect()
    }

    fn verify(entries: &[StoredAuditEntry]) -> Result<ChainReport, ChainBreak> {
        let mut verifier = ChainVerifier::new();
        for e in entries {
            verifier.push(e)?;
        }
        verifier.finish()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let report = verify(&chain(5)).unwrap();
        assert_eq!((report.entries, report.first_seq, report.last_seq), (5, Some(1), Some(5)));
        assert_eq!(verify(&[]).unwrap().entries, 0);
    }

    #[test]
    fn tampering_is_found_where_it_happened() {
        let mut altered = chain(5);
        altered[2].record.data = "{\"role\":\"admin\"}".into();
        assert_eq!(verify(&altered), Err(ChainBreak::Altered { seq: 3, id: "e3".into() }));

        let mut removed = chain(5);
        removed.remove(2);
        assert_eq!(verify(&removed), Err(ChainBreak::Gap { previous: 2, seq: 4 }));

        // An entry rewritten with a fresh hash no longer links to the next.
        let mut rewritten = chain(5);
        rewritten[1].record.actor = "user:evil".into();
        rewritten[1].hash = rewritten[1].record.hash(&rewritten[1].prev_hash);
        assert_eq!(verify(&rewritten), Err(ChainBreak::Unlinked { seq: 3, id: "e3".into() }));

        let headless = chain(5)[2..].to_vec();
        assert_eq!(verify(&headless), Err(ChainBreak::MissingStart { seq: 3 }));
    }

    #[test]
    fn a_recorded_purge_anchors_what_remains() {
        let mut entries = chain(5);
        let anchor = entries[1].hash.clone();
        let remaining = entries.split_off(2);
        let mut purged = remaining.clone();
        // The purge record, appended after what remains.
        let last = purged.last().unwrap().clone();
        let record = AuditRecord {
            id: "e6".into(),
            account_id: "acme".into(),
            seq: 6,
            actor: "system".into(),
            action: PURGED.into(),
            subject_type: "audit_log".into(),
            subject_id: "acme".into(),
            data: format!("{{\"through_seq\":2,\"last_hash\":\"{anchor}\",\"count\":2}}"),
            created_at: 1_700_000_000_000_006,
        };
        let hash = record.hash(&last.hash);
        purged.push(StoredAuditEntry { record, prev_hash: last.hash, hash });
        assert_eq!(verify(&purged).unwrap().first_seq, Some(3));
        assert!(verify(&remaining).is_err(), "without the purge record the start is unexplained");
    }
}
