//! The email channel end to end: customers' mail into Threadline's SMTP
//! listener (sent with Python's smtplib) and from a real IMAP server
//! (Debian's dovecot), replies out to a real SMTP server (aiosmtpd), on
//! SQLite and PostgreSQL.

#[path = "../channels/browser.rs"]
mod browser;
mod support;

mod duplicates;
mod egress;
mod imap;
mod listener;
mod loops;
mod proof;
mod threading;
mod xss;
