//! Email: reading a customer's mail and writing the agent's reply.
//!
//! - [`parse`]: raw RFC 5322 bytes → the new text, the quoted history, a
//!   sanitised HTML body, attachments and inline images, threading headers,
//!   whether a machine wrote it, and what could not be read. Never fails:
//!   what cannot be parsed is reported in `problems`.
//! - [`quote`]: where the quoted history starts in a reply's text.
//! - [`automated`]: auto-replies, mailing lists and bounces, which Threadline
//!   never answers automatically.
//! - [`bounce`]: delivery status notifications (RFC 3464) for mail we sent.
//! - [`address`]: plus-addressed reply addresses (`support+token@…`).
//! - [`compose`]: the agent's reply as a MIME message.
//!
//! Inbox settings for sending: `address` (the From address), `name` (its
//! display name), `smtp_host`, `smtp_port` (default 587), `smtp_security`
//! (`starttls`, the default; `tls`; or `none` for a relay on a trusted
//! network), `subject`, `signature`. Secrets: `smtp_username`,
//! `smtp_password` when the relay needs them. For receiving by IMAP:
//! `imap_host`, `imap_port`, `imap_security`, `imap_mailbox`, and the secrets
//! `imap_username`, `imap_password`.

pub mod address;
pub mod automated;
pub mod bounce;
pub mod compose;
pub mod parse;
pub mod quote;
mod repair;

pub use compose::{CAPABILITIES, EmailAttachment, EmailReply, bodies, compose, html_body, message_id, notice, reply_subject};
pub use parse::{ParseLimits, ParsedAttachment, ParsedEmail, parse};
