//! Messaging channels end to end over real HTTP: providers' signed webhooks
//! in, replies out through the outbox to a stand-in that speaks each
//! provider's documented API, delivery reports back.

mod browser;
mod support;

mod after_purchase_browser;
mod automation;
mod bad_input;
mod brand_voice;
mod engagement;
mod journey;
mod journey_report;
mod journeys_browser;
mod meta;
mod outbox;
mod portal;
mod privacy;
mod push;
mod reports_browser;
mod rules;
mod rules_browser;
mod scheduled;
mod segments;
mod survey_widgets;
mod telegram;
mod voice;
mod voice_browser;
mod whatsapp;
mod widget;
mod workspace;
