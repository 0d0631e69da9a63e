//! One message, every channel: a canned response rendered as each channel
//! would carry it for a customer — in their language, with its variables
//! filled; on email as HTML under the inbox's signature; on SMS with the
//! segments it costs; on WhatsApp as text inside the 24 hours and as its
//! mapped approved template outside them. The API's preview and the
//! workspace's preview page show this; rules send the same.

use serde::Serialize;
use threadline_domain::canned::{Values, fill, variant};
use threadline_domain::channel::Channel;
use threadline_domain::sms::SmsCost;
use threadline_store::{CannedResponse, Inbox};

use crate::channels::reply::ReplyContext;

/// What goes out on WhatsApp.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WhatsappRendering {
    /// `text` (the window is open), `template` (closed, and a template is
    /// mapped), `nothing` (closed, and none is).
    pub sends: &'static str,
    /// Whether the customer wrote on WhatsApp in the last 24 hours (unknown without a customer).
    pub window_open: Option<bool>,
    pub template: Option<String>,
    pub variables: Vec<String>,
}

/// The message on one channel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelRendering {
    pub channel: Channel,
    pub text: String,
    /// Email: the HTML body as sent, with the inbox's signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// SMS: its cost in segments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsCost>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappRendering>,
    /// With a customer: whether this channel can reach them now, and why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The renderings, and the language chosen.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rendering {
    /// The language whose text was used (`null`: the default body).
    pub language: Option<String>,
    pub channels: Vec<ChannelRendering>,
}

/// The channels shown without a customer.
pub const PREVIEW_CHANNELS: [Channel; 5] = [Channel::Email, Channel::Sms, Channel::Whatsapp, Channel::WebChat, Channel::Telegram];

/// `canned` on each channel: for a customer (`context`: the channels they
/// can be reached on, and whether each allows it now), or on the usual
/// channels without one.
pub fn render(
    canned: &CannedResponse,
    language: Option<&str>,
    values: &Values<'_>,
    context: Option<&ReplyContext>,
    inboxes: &[Inbox],
    now: time::OffsetDateTime,
) -> Rendering {
    let (used, body) = variant(&canned.body, &canned.translations, language);
    let used = used.map(str::to_owned);
    let text = fill(body, values);
    let options = context.map(|c| c.options(now));
    let channels: Vec<Channel> = match &options {
        Some(options) => options.iter().map(|o| o.channel).collect(),
        None => PREVIEW_CHANNELS.to_vec(),
    };
    let rendered = channels
        .into_iter()
        .map(|channel| {
            let option = options.as_ref().and_then(|o| o.iter().find(|o| o.channel == channel));
            let mut out = ChannelRendering {
                channel,
                text: text.clone(),
                html: None,
                sms: None,
                whatsapp: None,
                allowed: option.map(|o| o.allowed || o.template_allowed),
                reason: option.and_then(|o| o.reason.clone()),
            };
            match channel {
                Channel::Email => {
                    let inbox = option.and_then(|o| o.inbox_id).and_then(|id| inboxes.iter().find(|i| i.id == id));
                    let inbox = inbox.or_else(|| inboxes.iter().find(|i| i.channel == Channel::Email));
                    let signature = inbox.and_then(|i| i.settings.get("signature")).and_then(|v| v.as_str());
                    out.html = Some(threadline_channels::email::bodies(&text, None, signature).1);
                }
                Channel::Sms => out.sms = Some(threadline_domain::sms::cost(&text)),
                Channel::Whatsapp => {
                    let window_open = option.map(|o| o.allowed);
                    let mapping = canned.whatsapp_template.as_ref();
                    let sends = match (window_open, mapping) {
                        (Some(false), Some(_)) => "template",
                        (Some(false), None) => "nothing",
                        _ => "text",
                    };
                    out.whatsapp = Some(WhatsappRendering {
                        sends,
                        window_open,
                        template: mapping.map(|m| m.name.clone()),
                        variables: mapping.map(|m| m.values(values)).unwrap_or_default(),
                    });
                }
                _ => {}
            }
            out
        })
        .collect();
    Rendering { language: used, channels: rendered }
}
