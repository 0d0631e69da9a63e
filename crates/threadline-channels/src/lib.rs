//! Threadline's messaging channels, and the shops whose orders come in.
//!
//! One module per messaging provider, each implementing [`ChannelAdapter`]; the
//! [`registry`] is the one place that lists them. [`shops`] reads order
//! webhooks (Shopify, WooCommerce); [`push`] describes push notifications
//! (FCM, APNs). Adapters do no I/O: they
//! read webhooks and describe HTTP requests, and the server runs them.

pub mod adapter;
pub mod email;
pub mod meta;
pub mod push;
pub mod registry;
pub mod shops;
pub mod telegram;
pub mod twilio;
pub mod whatsapp;

pub use adapter::{
    Acknowledgement, ChannelAdapter, Choice, ConfigError, FilePart, HttpRequest, InboxConfig, IncomingMessage, MediaRef, MediaStep,
    Outgoing, OutgoingMedia, ProviderEndpoints, RequestBody, SendError, SendReceipt, StatusReport, TemplateSend, WebhookError,
    WebhookEvent, WebhookRequest,
};
pub use registry::{adapter_for, capabilities_for};

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
