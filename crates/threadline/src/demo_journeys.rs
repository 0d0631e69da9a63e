//! The demo shop's journeys — the two of the seeds: a visitor who keeps
//! returning to the pricing page gets a call from sales; an abandoned cart
//! is followed by an e-mail after an hour and a WhatsApp template after a
//! day unless the customer orders — with four weeks of site activity
//! imported as history and the runs it led to, so the funnels and the
//! tasks in the inbox are not empty.

use rand::Rng;
use rand::rngs::StdRng;
use threadline_domain::channel::Channel;
use threadline_domain::identity::Region;
use threadline_domain::ids::{AccountId, ContactId, TeamId};
use threadline_domain::journey::JourneySpec;
use threadline_domain::tracking::{Call, CallKind, parse_call};
use threadline_store::{Effect, Journey, Next, SourceContext, Store};
use time::{Duration, OffsetDateTime};

/// A demo customer: their record and the address they shop with.
pub struct Shopper {
    pub contact_id: ContactId,
    pub email: String,
    pub italian: bool,
}

fn call(kind: CallKind, body: serde_json::Value, at: OffsetDateTime) -> anyhow::Result<Call> {
    let mut call = parse_call(body, Some(kind), None, at).map_err(|e| anyhow::anyhow!("{e}"))?;
    call.occurred_at = at;
    Ok(call)
}

/// Seeds the journeys and their history; returns the shop's tracking write key.
pub async fn seed(store: &Store, account_id: AccountId, sales: TeamId, shoppers: &[Shopper], rng: &mut StdRng) -> anyhow::Result<String> {
    let now = threadline_store::now();
    let write_key = threadline_server::auth::new_token("tlw_");
    let source = store
        .create_tracking_source(
            account_id,
            "Bottega Aurora shop",
            "server",
            &threadline_server::auth::hash_token(&write_key),
            &write_key[..10],
            "demo",
        )
        .await?;
    let context = SourceContext { account_id, source_id: source.id, region: Region::default(), trusted: true };
    store
        .create_template(
            account_id,
            threadline_store::NewTemplate {
                channel: Channel::Whatsapp,
                name: "cart_reminder".into(),
                language: "it".into(),
                category: "marketing".into(),
                body: "Ciao {{1}}, il tuo carrello su Bottega Aurora ti aspetta ancora.".into(),
                variables: 1,
            },
        )
        .await?;

    // The journeys, live.
    let mut cart_spec: serde_json::Value =
        threadline_server::web::journeys::starters().into_iter().find(|(k, _)| *k == "abandoned_cart").map(|(_, s)| s).unwrap_or_default();
    cart_spec["time_zone"] = "Europe/Rome".into();
    let cart_spec: JourneySpec = serde_json::from_value(cart_spec)?;
    let mut pricing_spec: serde_json::Value =
        threadline_server::web::journeys::starters().into_iter().find(|(k, _)| *k == "pricing_visits").map(|(_, s)| s).unwrap_or_default();
    pricing_spec["steps"][0]["team_id"] = sales.to_string().into();
    let pricing_spec: JourneySpec = serde_json::from_value(pricing_spec)?;
    let cart = store.create_journey(account_id, "Carrello abbandonato / Abandoned cart", &cart_spec, "demo").await?;
    let cart = store.set_journey_status(account_id, cart.id, "live", "demo").await?;
    let pricing = store.create_journey(account_id, "Pagina prezzi / Pricing page → call", &pricing_spec, "demo").await?;
    let pricing = store.set_journey_status(account_id, pricing.id, "live", "demo").await?;

    // Four weeks of activity, imported as history (journeys do not act on
    // it): pages, carts, checkouts and orders.
    let mut calls = Vec::new();
    let mut checkouts = Vec::new();
    let mut pricing_runs = Vec::new();
    for (n, shopper) in shoppers.iter().enumerate().take(120) {
        let user = format!("shop-{n}");
        let day0 = now - Duration::days(rng.gen_range(1..28)) - Duration::minutes(rng.gen_range(0..600));
        calls.push(call(CallKind::Identify, serde_json::json!({ "userId": user, "traits": { "email": shopper.email } }), day0)?);
        let mut at = day0;
        let mut pricing_visits = Vec::new();
        for _ in 0..rng.gen_range(1..7) {
            at += Duration::minutes(rng.gen_range(5..2000));
            if at > now {
                break;
            }
            let path = ["/", "/pricing", "/borse", "/scarpe", "/pricing", "/contatti"][rng.gen_range(0..6)];
            if path == "/pricing" {
                pricing_visits.push(at);
            }
            calls.push(call(
                CallKind::Page,
                serde_json::json!({ "userId": user, "properties": { "path": path, "url": format!("https://bottega-aurora.example{path}") } }),
                at,
            )?);
        }
        // A third pricing visit within a week would have called sales.
        if pricing_visits.len() >= 3 && pricing_visits[2] - pricing_visits[0] <= Duration::days(7) {
            pricing_runs.push((shopper.contact_id, pricing_visits[2]));
        }
        if rng.gen_bool(0.45) && at < now - Duration::hours(2) {
            let product = ["Borsa Aurora", "Sandali Riva", "Foulard Seta"][rng.gen_range(0..3)];
            at += Duration::minutes(2);
            calls.push(call(
                CallKind::Track,
                serde_json::json!({ "userId": user, "event": "Product Added", "properties": { "name": product, "price": 89 } }),
                at,
            )?);
            at += Duration::minutes(3);
            calls.push(call(CallKind::Track, serde_json::json!({ "userId": user, "event": "Checkout Started" }), at)?);
            let ordered = rng.gen_bool(0.4).then(|| at + Duration::minutes(rng.gen_range(20..2500)));
            if let Some(order_at) = ordered.filter(|t| *t < now) {
                calls.push(call(
                    CallKind::Track,
                    serde_json::json!({ "userId": user, "event": "Order Completed",
                                        "properties": { "order_id": format!("A-{}", 2000 + n), "total": 89, "currency": "EUR" } }),
                    order_at,
                )?);
            }
            checkouts.push((shopper.contact_id, at, ordered.filter(|t| *t < now), shopper.italian));
        }
    }
    for chunk in calls.chunks(200) {
        store.record_calls(&context, chunk, now, false).await?;
    }

    // What the journeys did then.
    for (contact_id, at) in pricing_runs {
        if let Some(run) = start(store, account_id, &pricing, &pricing_spec, contact_id, at).await? {
            let effect = Effect::Task {
                kind: threadline_domain::journey::TaskKind::Call,
                title: format!("Chiamare / Call: {} visite alla pagina prezzi / pricing visits", 3),
                team_id: Some(sales),
                assignee_id: None,
                due_at: at + Duration::hours(4),
            };
            store.apply_step(account_id, &run, "call", "done", None, None, effect, Next::Complete, at).await?;
        }
    }
    // Sales called the customers of more than three days ago.
    for task in store.tasks(account_id, true, None, None, 500).await? {
        if task.created_at < now - Duration::days(3) {
            store.set_task_done(account_id, task.id, true, "demo").await?;
        }
    }
    for (contact_id, at, ordered, italian) in checkouts {
        let Some(run) = start(store, account_id, &cart, &cart_spec, contact_id, at).await? else { continue };
        let hour = at + Duration::hours(1);
        if hour > now {
            // Still in its first hour: the server's engine takes it from here.
            continue;
        }
        if ordered.is_some_and(|o| o < hour) {
            store.end_run(account_id, run.id, "converted", "goal reached: track `Order Completed`").await?;
            continue;
        }
        let run = step(store, account_id, run, "wait-1h", "done", None, Next::Step("email".into()), hour).await?;
        let run = step(store, account_id, run, "email", "sent", Some(Channel::Email), Next::Step("wait-order".into()), hour).await?;
        let day = hour + Duration::hours(23);
        match ordered {
            Some(order) if order < day => {
                store.end_run(account_id, run.id, "converted", "goal reached: track `Order Completed`").await?;
            }
            _ if day > now => {
                store.park_run(account_id, &run, "wait-order", day).await?;
            }
            _ => {
                let run = step(store, account_id, run, "wait-order", "timeout", None, Next::Step("whatsapp".into()), day).await?;
                let channel = if italian { Channel::Whatsapp } else { Channel::Sms };
                step(store, account_id, run, "whatsapp", "sent", Some(channel), Next::Complete, day).await?;
            }
        }
    }
    // Segments over the same events; the server's first sweep fills them.
    for (key, name) in
        [("pricing", "Prezzi due volte in 7 giorni / Pricing twice in 7 days"), ("abandoners", "Carrelli abbandonati / Cart abandoners")]
    {
        let spec = threadline_server::web::segments::starters().into_iter().find(|(k, _)| *k == key).map(|(_, s)| s).unwrap_or_default();
        store.create_segment(account_id, name, &serde_json::from_value(spec)?, "demo").await?;
    }
    Ok(write_key)
}

async fn start(
    store: &Store,
    account_id: AccountId,
    journey: &Journey,
    spec: &JourneySpec,
    contact_id: ContactId,
    at: OffsetDateTime,
) -> anyhow::Result<Option<threadline_store::JourneyRun>> {
    let first = spec.steps.first().map(|s| s.id.clone()).unwrap_or_default();
    Ok(store.start_run(account_id, journey, spec.reentry, &first, contact_id, None, at).await?)
}

#[allow(clippy::too_many_arguments)]
async fn step(
    store: &Store,
    account_id: AccountId,
    run: threadline_store::JourneyRun,
    step_id: &str,
    outcome: &str,
    channel: Option<Channel>,
    next: Next,
    at: OffsetDateTime,
) -> anyhow::Result<threadline_store::JourneyRun> {
    store.apply_step(account_id, &run, step_id, outcome, None, channel, Effect::None, next, at).await?;
    Ok(store.journey_run(account_id, run.id).await?)
}
