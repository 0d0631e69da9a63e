//! Demo data: "Bottega Aurora", a shop selling in Italy and the UK, with a
//! few hundred customers who write on email, WhatsApp, SMS, web chat and
//! Telegram — often more than one — and whose calls, orders and visits sit
//! in the same timeline. Deterministic (fixed seed), so two runs look alike.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use threadline_domain::channel::Channel;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::interaction::InteractionKind;
use threadline_domain::message::MessageKind;
use threadline_domain::order::{OrderCustomer, OrderItem, OrderStatus, Shipment};
use threadline_domain::role::Role;
use threadline_domain::role::Scope;
use threadline_server::auth::{hash_password, hash_token, new_token};
use threadline_server::secrets::SecretBox;
use threadline_store::{InboundMessage, Inbox, NewInteraction, OrderOrigin, OutboundMessage, Store};

const IT_FIRST: &[&str] = &[
    "Giulia",
    "Marco",
    "Francesca",
    "Luca",
    "Chiara",
    "Alessandro",
    "Sara",
    "Matteo",
    "Elena",
    "Davide",
    "Martina",
    "Niccolò",
    "Federica",
    "Lorenzo",
    "Valentina",
    "Giorgio",
];
const IT_LAST: &[&str] = &[
    "Rossi", "Bianchi", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa",
    "Giordano", "Mancini", "Lombardi",
];
const EN_FIRST: &[&str] = &["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Noah", "Emily", "Jack", "Sophie", "Charlie", "Grace"];
const EN_LAST: &[&str] = &["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans", "Thomas"];

const IT_MOBILE_PREFIXES: &[&str] = &["320", "328", "329", "333", "335", "338", "339", "340", "347", "348", "349", "366", "380", "392"];
const IT_OPENERS: &[&str] = &[
    "Buongiorno, il mio ordine #{order} non è ancora arrivato. Potete verificare?",
    "Salve, vorrei restituire le scarpe dell'ordine #{order}, la taglia è sbagliata.",
    "Ciao! Il pagamento con carta è stato rifiutato ma l'importo risulta addebitato.",
    "Avete ancora disponibile la giacca blu in taglia M?",
    "Ho ricevuto un articolo danneggiato, allego la foto. Come procedo?",
    "Posso cambiare l'indirizzo di consegna dell'ordine #{order}?",
];
const IT_FOLLOWUPS: &[&str] = &[
    "Vi scrivo anche qui perché non ho ricevuto risposta alla mail.",
    "Grazie, aspetto vostre notizie.",
    "Il corriere dice che il pacco è in giacenza, cosa devo fare?",
    "Perfetto, grazie mille per l'aiuto!",
];
const EN_OPENERS: &[&str] = &[
    "Hi, my order #{order} still hasn't arrived. Could you check?",
    "Hello, I'd like to return the boots from order #{order}, wrong size.",
    "My card payment was declined but the money left my account.",
    "Is the blue jacket still available in size M?",
    "The item arrived damaged, photo attached. What should I do?",
];
const EN_FOLLOWUPS: &[&str] = &[
    "Writing here as well since I got no reply to my email.",
    "Thanks, I'll wait to hear from you.",
    "The courier says the parcel is held at the depot, what now?",
    "Brilliant, thanks a lot for your help!",
];
const IT_REPLIES: &[&str] = &[
    "Buongiorno, abbiamo verificato: il pacco è in consegna e arriverà entro domani.",
    "Nessun problema, le abbiamo inviato l'etichetta per il reso via email.",
    "Ci scusiamo per il disagio: il rimborso è stato avviato oggi.",
];
const EN_REPLIES: &[&str] = &[
    "Hi, we checked: the parcel is out for delivery and will arrive tomorrow.",
    "No problem, we've emailed you the return label.",
    "Sorry for the trouble: the refund was started today.",
];

/// Creates the demo account, its users and inboxes, and `contacts` customers.
/// What the demo shop sells: (name, price in euros).
const DEMO_PRODUCTS_IT: &[(&str, i64)] = &[("Borsa Aurora", 89), ("Sandali Riva", 64), ("Foulard Seta", 39), ("Stivali Dolomiti", 149)];
const DEMO_PRODUCTS_EN: &[(&str, i64)] = &[("Aurora bag", 89), ("Riva sandals", 64), ("Silk scarf", 39), ("Dolomiti boots", 149)];

pub async fn seed(store: &Store, _secrets: &SecretBox, contacts: usize) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(2026);
    let account = store.create_account("Bottega Aurora", "IT").await?;
    let password = "threadline-demo";
    let admin =
        store.create_user(account.id, "admin@demo.threadline.local", "Anna Admin", Role::Admin, Some(hash(password)?), "demo").await?;
    let agents = [
        store.create_user(account.id, "paolo@demo.threadline.local", "Paolo Ferri", Role::Agent, Some(hash(password)?), "demo").await?,
        store.create_user(account.id, "emma@demo.threadline.local", "Emma Clarke", Role::Agent, Some(hash(password)?), "demo").await?,
        store
            .create_user(account.id, "sofia@demo.threadline.local", "Sofia Moretti", Role::Supervisor, Some(hash(password)?), "demo")
            .await?,
    ];
    // Customers rate resolved cases (asked on their own channel).
    let csat: threadline_domain::survey::SurveySpec = serde_json::from_value(serde_json::json!({ "kind": "csat", "throttle_days": 0 }))?;
    let survey = store.create_survey(account.id, "Soddisfazione / Satisfaction", &csat, "demo").await?;
    let token = new_token("tl_");
    store.create_api_token(&admin, "demo token", &hash_token(&token), &token[..10], &[Scope::Api, Scope::Integration], "demo").await?;
    let billing = store.create_team(account.id, "Billing", Some("Payments and refunds".into())).await?;
    let sales = store.create_team(account.id, "Sales", Some("Calls to customers the journeys point out".into())).await?;
    let mut shoppers = Vec::new();
    let logistics = store.create_team(account.id, "Logistics", Some("Shipping and returns".into())).await?;
    // Routing: each team's queue goes to its members, least busy first;
    // Paolo and Sofia speak Italian, Emma English.
    for (agent, team, skills) in [
        (&agents[0], &billing, vec![("language:it", 5), ("category:billing", 4)]),
        (&agents[0], &logistics, vec![("language:it", 5), ("category:shipping", 3)]),
        (&agents[1], &billing, vec![("language:en", 5), ("category:billing", 3)]),
        (&agents[1], &logistics, vec![("language:en", 5), ("category:returns", 4)]),
        (&agents[2], &logistics, vec![("language:it", 4), ("language:en", 3), ("category:shipping", 5)]),
    ] {
        store.set_team_member(account.id, team.id, agent.id, true).await?;
        let mut routing = store.user(account.id, agent.id).await?.routing;
        routing.skills.extend(skills.into_iter().map(|(k, v)| (k.to_owned(), v)));
        store.set_agent_routing(account.id, agent.id, &routing).await?;
    }
    for team in [&billing, &logistics] {
        let routing = threadline_store::TeamRouting { auto_assign: true, ..Default::default() };
        store.set_team_routing(account.id, team.id, &routing, "demo").await?;
    }
    for (name, category, team) in
        [("Payments", "billing", &billing), ("Deliveries", "shipping", &logistics), ("Returns", "returns", &logistics)]
    {
        let rule = threadline_store::NewRoutingRule {
            name: name.into(),
            conditions: threadline_store::RuleConditions { category: Some(category.into()), ..Default::default() },
            team_id: team.id,
            priority: None,
        };
        store.create_routing_rule(account.id, &rule, None, "demo").await?;
    }
    let openings: Vec<serde_json::Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
        .iter()
        .map(|d| serde_json::json!({ "day": d, "open": "09:00", "close": "18:00" }))
        .collect();
    let policy: threadline_domain::sla::SlaPolicy = serde_json::from_value(serde_json::json!({
        "targets": {
            "urgent": { "first_response_secs": 900, "resolution_secs": 4 * 3600 },
            "high": { "first_response_secs": 3600, "next_response_secs": 3600 },
            "normal": { "first_response_secs": 4 * 3600, "next_response_secs": 8 * 3600 }
        },
        "business_hours": { "time_zone": "Europe/Rome", "openings": openings },
        "escalations": [{ "target": "first_response", "action": "raise_priority" }, { "action": "notify_supervisors" }]
    }))?;
    store.save_sla_policy(account.id, None, "Standard", &policy, true, "demo").await?;
    // One message, every channel and both languages.
    let translations: std::collections::BTreeMap<String, String> = [(
        "it".to_owned(),
        "Ciao {{contact.first_name}}, il tuo ordine è partito oggi: arriverà in 2-3 giorni lavorativi. {{agent.first_name}}".to_owned(),
    )]
    .into();
    let mapping = threadline_domain::canned::WhatsappMapping {
        name: "order_shipped".into(),
        variables: vec!["contact.first_name".into(), "agent.first_name".into()],
    };
    store
        .save_canned_response(
            account.id,
            threadline_store::NewCanned {
                shortcut: "shipped",
                title: "Order shipped / Ordine spedito",
                body: "Hi {{contact.first_name}}, your order left today and arrives in 2-3 working days. {{agent.first_name}}",
                translations: &translations,
                whatsapp_template: Some(&mapping),
            },
        )
        .await?;
    // Rules: refund requests are urgent for Billing; a low score is called back.
    for (name, spec) in [
        (
            "Refunds are urgent",
            serde_json::json!({ "when": "message_received", "matching": "any",
                "conditions": [ { "field": "message.text", "op": "contains", "value": "rimborso" },
                                { "field": "message.text", "op": "contains", "value": "refund" } ],
                "actions": [ { "type": "add_label", "label": "refund" }, { "type": "set_priority", "priority": "urgent" },
                             { "type": "assign", "team_id": billing.id } ] }),
        ),
        (
            "Low scores are called back",
            serde_json::json!({ "when": "survey_answered",
                "conditions": [ { "field": "survey.score", "op": "less_than", "value": 3 } ],
                "actions": [ { "type": "note", "text": "Low score: call the customer back today." },
                             { "type": "notify", "team_id": billing.id, "title": "Call back a customer who rated us low", "due_in_minutes": 240 } ] }),
        ),
    ] {
        let spec: threadline_domain::automation::RuleSpec = serde_json::from_value(spec)?;
        store.create_rule(account.id, name, &spec, true, "demo").await?;
    }
    let prices: threadline_domain::workload::UnitCosts = serde_json::from_value(serde_json::json!({
        "currency": "EUR",
        "channels": {
            "sms": { "message": 0.075, "agent_minute": 0.45 },
            "whatsapp": { "message": 0.05, "agent_minute": 0.45 },
            "email": { "message": 0.0, "agent_minute": 0.45 },
            "web_chat": { "message": 0.0, "agent_minute": 0.45 }
        }
    }))?;
    store.set_unit_costs(account.id, &prices, "demo").await?;
    for (language, title, body) in ARTICLES {
        let draft = threadline_domain::knowledge::ArticleDraft {
            kind: threadline_domain::knowledge::ArticleKind::Article,
            language: (*language).into(),
            title: (*title).into(),
            body: (*body).into(),
            keywords: Vec::new(),
            published: true,
        };
        store.create_article(account.id, &draft).await?;
    }

    let settings = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
    // The shop's domain is the demo account's, as an operator would assign
    // it: mail to support@ reaches the inbox without a verification code.
    store.assign_domain(account.id, "bottega-aurora.example", "demo").await?;
    let email = store
        .create_inbox(
            account.id,
            Channel::Email,
            "support@bottega-aurora.example",
            settings(&[("address", "support@bottega-aurora.example")]),
            None,
            "demo",
        )
        .await?;
    let whatsapp = store
        .create_inbox(account.id, Channel::Whatsapp, "WhatsApp Italia", settings(&[("phone_number", "+39 02 1234 5678")]), None, "demo")
        .await?;
    let sms =
        store.create_inbox(account.id, Channel::Sms, "SMS UK", settings(&[("phone_number", "+44 20 7946 0000")]), None, "demo").await?;
    let web = store
        .create_inbox(
            account.id,
            Channel::WebChat,
            "Web chat",
            settings(&[
                ("title", "Bottega Aurora"),
                ("greeting", "Ciao! Come possiamo aiutarti? / Hi! How can we help?"),
                ("color", "#0b7a5c"),
            ]),
            None,
            "demo",
        )
        .await?;
    // Threadline's bot answers the web chat first, from the articles above.
    let bot = threadline_domain::bot::InboxBot {
        mode: threadline_domain::bot::BotMode::Builtin,
        agent_bot_id: None,
        settings: Default::default(),
    };
    store.set_inbox_bot(account.id, web.id, Some(&bot), "demo").await?;
    let telegram =
        store.create_inbox(account.id, Channel::Telegram, "Telegram bot", settings(&[("bot", "@BottegaAuroraBot")]), None, "demo").await?;
    let region = Region::default();
    let triager = threadline_domain::triage::Triager::default();

    for n in 0..contacts {
        let italian = rng.gen_bool(0.7);
        let (first, last) = if italian {
            (*IT_FIRST.choose(&mut rng).unwrap_or(&"Giulia"), *IT_LAST.choose(&mut rng).unwrap_or(&"Rossi"))
        } else {
            (*EN_FIRST.choose(&mut rng).unwrap_or(&"Oliver"), *EN_LAST.choose(&mut rng).unwrap_or(&"Smith"))
        };
        let name = format!("{first} {last}");
        let mail = format!("{}.{}{}@example.{}", ascii(first), ascii(last), n, if italian { "it" } else { "co.uk" });
        let phone = if italian {
            format!("+39 {} {:03} {:04}", IT_MOBILE_PREFIXES.choose(&mut rng).unwrap_or(&"333"), rng.gen_range(0..1000), n)
        } else {
            format!("+44 7911 1{:05}", n)
        };
        let email_id = NormalizedIdentity::parse(IdentityKind::Email, &mail, region)?;
        let phone_id = NormalizedIdentity::parse(IdentityKind::Phone, &phone, region)?;
        let wa_id = NormalizedIdentity::parse(IdentityKind::Whatsapp, &phone, region)?;
        let order = 1000 + n;
        let (openers, followups, replies) =
            if italian { (IT_OPENERS, IT_FOLLOWUPS, IT_REPLIES) } else { (EN_OPENERS, EN_FOLLOWUPS, EN_REPLIES) };
        let first_channel: &Inbox = if italian {
            [&email, &whatsapp, &web].choose(&mut rng).copied().unwrap_or(&email)
        } else {
            [&email, &sms, &web].choose(&mut rng).copied().unwrap_or(&email)
        };
        let second_channel: &Inbox = if italian {
            [&whatsapp, &telegram, &email].choose(&mut rng).copied().unwrap_or(&whatsapp)
        } else {
            [&sms, &email].choose(&mut rng).copied().unwrap_or(&sms)
        };
        let identity_for = |inbox: &Inbox| -> Vec<NormalizedIdentity> {
            match inbox.channel {
                Channel::Email => vec![email_id.clone(), phone_id.clone()],
                Channel::Whatsapp => vec![wa_id.clone(), phone_id.clone(), email_id.clone()],
                Channel::Sms => vec![phone_id.clone(), email_id.clone()],
                Channel::Telegram => {
                    vec![NormalizedIdentity { kind: IdentityKind::Telegram, value: format!("{}", 500_000 + n) }, email_id.clone()]
                }
                _ => vec![NormalizedIdentity { kind: IdentityKind::WebVisitor, value: format!("visitor-{n}") }, email_id.clone()],
            }
        };
        let text = openers.choose(&mut rng).unwrap_or(&openers[0]).replace("{order}", &order.to_string());
        let inbound = InboundMessage {
            inbox_id: first_channel.id,
            channel: first_channel.channel,
            sender_name: Some(name.clone()),
            identities: identity_for(first_channel),
            text,
            html: None,
            provider_message_id: Some(format!("demo-{n}-1")),
            attachments: Vec::new(),
            ..InboundMessage::new(first_channel.id, first_channel.channel)
        };
        let inbound = read(inbound, &triager);
        let (outcome, _) = store.ingest_inbound(&account, &inbound, None).await?;
        let contact_id = outcome.contact_id;
        shoppers.push(crate::demo_journeys::Shopper { contact_id, email: mail.clone(), italian });
        let conversation_id = outcome.conversation.id;
        if rng.gen_bool(0.6) {
            // The same customer comes back on another channel: same conversation.
            let inbound = InboundMessage {
                inbox_id: second_channel.id,
                channel: second_channel.channel,
                sender_name: Some(name.clone()),
                identities: identity_for(second_channel),
                text: followups.choose(&mut rng).unwrap_or(&followups[0]).to_string(),
                html: None,
                provider_message_id: Some(format!("demo-{n}-2")),
                attachments: Vec::new(),
                ..InboundMessage::new(second_channel.id, second_channel.channel)
            };
            let inbound = read(inbound, &triager);
            store.ingest_inbound(&account, &inbound, None).await?;
        }
        let agent = agents.choose(&mut rng).unwrap_or(&agents[0]);
        if rng.gen_bool(0.7) {
            let reply_on = if rng.gen_bool(0.3) { &email } else { second_channel };
            let reply = OutboundMessage {
                delivery: None,
                kind: MessageKind::Message,
                channel: reply_on.channel,
                inbox_id: Some(reply_on.id),
                sender: Some(agent.id),
                bot: None,
                text: replies.choose(&mut rng).unwrap_or(&replies[0]).to_string(),
                html: None,
                subject: None,
                attachments: Vec::new(),
                mentions: Vec::new(),
                choices: Vec::new(),
            };
            store.create_outbound_message(account.id, conversation_id, &reply).await?;
        }
        if rng.gen_bool(0.2) {
            let note = OutboundMessage {
                delivery: None,
                kind: MessageKind::Note,
                channel: Channel::Api,
                inbox_id: None,
                sender: Some(agent.id),
                bot: None,
                text: if italian { "Cliente abituale, offrire spedizione gratuita." } else { "Loyal customer, offer free shipping." }
                    .into(),
                html: None,
                subject: None,
                attachments: Vec::new(),
                mentions: Vec::new(),
                choices: Vec::new(),
            };
            store.create_outbound_message(account.id, conversation_id, &note).await?;
        }
        let changes = threadline_store::ConversationChanges {
            assignee_id: rng.gen_bool(0.6).then_some(Some(agent.id)),
            team_id: rng.gen_bool(0.2).then_some(Some(billing.id)),
            status: rng.gen_bool(0.3).then_some(threadline_domain::conversation::ConversationStatus::Resolved),
            category: outcome.conversation.category.is_none().then(|| Some(demo_category(&outcome.message.text).to_owned())),
            labels: rng.gen_bool(0.3).then(|| vec![if italian { "italia" } else { "uk" }.to_string()]),
            ..Default::default()
        };
        let resolved = changes.status.is_some();
        let updated = store.update_conversation(account.id, conversation_id, changes, "demo").await?;
        if resolved {
            survey_demo(store, account.id, &survey, &updated, italian, &mut rng).await?;
        }
        // Spread over the past six weeks, on working days mostly, in the
        // shop's hours, answered minutes to hours later: reports show weeks.
        let mut days_ago = rng.gen_range(1..42);
        let weekday = (threadline_store::now() - time::Duration::days(days_ago)).weekday();
        if matches!(weekday, time::Weekday::Saturday | time::Weekday::Sunday) && rng.gen_bool(0.7) {
            days_ago = (days_ago + 2).min(41);
        }
        let today = threadline_store::now().replace_time(time::Time::MIDNIGHT);
        let started_at = today - time::Duration::days(days_ago) + time::Duration::minutes(rng.gen_range(7 * 60..18 * 60));
        let answered_after = time::Duration::minutes(*[4, 9, 15, 25, 40, 70, 130, 300].choose(&mut rng).unwrap_or(&15));
        store.backdate_conversation(account.id, conversation_id, started_at, answered_after).await?;
        // The order the customer writes about, as the shop reported it:
        // placed a few days before they wrote, shipped, often delivered.
        let placed_at = started_at - time::Duration::days(rng.gen_range(2..7)) - time::Duration::minutes(rng.gen_range(0..600));
        let shipped_at = placed_at + time::Duration::hours(rng.gen_range(20..48));
        let delivered = rng.gen_bool(0.6) && shipped_at + time::Duration::days(3) < threadline_store::now();
        let product = if italian { DEMO_PRODUCTS_IT } else { DEMO_PRODUCTS_EN }.choose(&mut rng).copied().unwrap_or(("Borsa Aurora", 89));
        let quantity = rng.gen_range(1..3);
        let (carrier, tracking) = if italian {
            ("BRT", format!("0{}{:06}", 57_000 + n, rng.gen_range(0..1_000_000)))
        } else {
            ("Royal Mail", format!("RM{:09}GB", 100_000_000 + n))
        };
        let tracking_url = if italian {
            format!("https://vas.brt.it/vas/sped_det_show.hsm?Nspediz={tracking}")
        } else {
            format!("https://www.royalmail.com/track-your-item#/tracking-results/{tracking}")
        };
        let facts = threadline_domain::order::OrderFacts {
            external_id: format!("demo-{order}"),
            number: format!("#{order}"),
            status: if delivered { OrderStatus::Delivered } else { OrderStatus::Shipped },
            currency: "EUR".into(),
            total: format!("{}.00", product.1 * quantity),
            customer: OrderCustomer {
                email: Some(mail.clone()),
                phone: Some(phone.clone()),
                name: Some(name.clone()),
                reference: None,
                postcode: Some(if italian { format!("20{:03}", 100 + n % 60) } else { format!("SW1A {}AA", n % 9 + 1) }),
            },
            items: vec![OrderItem { name: product.0.into(), sku: None, quantity, price: format!("{}.00", product.1) }],
            shipments: vec![Shipment {
                id: None,
                carrier: Some(carrier.into()),
                tracking_number: Some(tracking),
                tracking_url: Some(tracking_url),
                status: delivered.then(|| "delivered".to_owned()),
                shipped_at: Some(shipped_at),
            }],
            refunds: Vec::new(),
            placed_at,
            updated_at: if delivered { shipped_at + time::Duration::days(2) } else { shipped_at },
        };
        store.record_order(account.id, OrderOrigin::Api, &facts, region, facts.updated_at).await?;
        if rng.gen_bool(0.3) {
            store
                .record_interaction(
                    account.id,
                    contact_id,
                    NewInteraction {
                        kind: InteractionKind::Call,
                        conversation_id: Some(conversation_id),
                        summary: Some(if italian { "Chiamata in entrata, 4 min" } else { "Inbound call, 4 min" }.into()),
                        data: serde_json::json!({ "direction": "inbound", "duration_secs": rng.gen_range(60..600) }),
                        occurred_at: None,
                    },
                )
                .await?;
        }
        if rng.gen_bool(0.25) {
            store
                .record_interaction(
                    account.id,
                    contact_id,
                    NewInteraction {
                        kind: InteractionKind::PageView,
                        conversation_id: None,
                        summary: Some("/pricing".into()),
                        data: serde_json::json!({ "url": "https://bottega-aurora.example/pricing" }),
                        occurred_at: None,
                    },
                )
                .await?;
        }
    }
    store.set_team_member(account.id, sales.id, agents[2].id, true).await?;
    let write_key = crate::demo_journeys::seed(store, account.id, sales.id, &shoppers, &mut rng).await?;
    println!("demo data: account \"{}\" with {contacts} contacts", account.name);
    println!("  sign in as admin@demo.threadline.local (or paolo@, emma@, sofia@) with password: {password}");
    println!("  API token (shown once): {token}");
    println!("  tracking write key (Segment-compatible, POST /v1/track…): {write_key}");
    println!("  reports: /reports (six weeks of conversations)");
    println!("  journeys: /journeys (abandoned cart, pricing page → call), with four weeks of history");
    println!("  chat as a customer (Threadline's bot answers first): open /widget/{}/try on this server", web.id);
    println!("  the help pages: /help/{}", web.id);
    Ok(())
}

/// The survey of a resolved demo case, sent on its channel and (mostly)
/// answered, as customers do: mostly satisfied, a few not.
async fn survey_demo(
    store: &Store,
    account_id: threadline_domain::ids::AccountId,
    survey: &threadline_store::Survey,
    conversation: &threadline_domain::conversation::Conversation,
    italian: bool,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let channel = conversation.channel.unwrap_or(Channel::Api);
    let request = threadline_store::NewSurveyRequest {
        account_id,
        survey_id: survey.id,
        kind: survey.spec.kind,
        conversation_id: conversation.id,
        contact_id: conversation.contact_id,
        channel: channel.as_str().to_owned(),
        agent_id: conversation.assignee_id,
        team_id: conversation.team_id,
        token_hash: hash_token(&new_token("demo-survey-")),
        expires_at: threadline_store::now() + time::Duration::hours(72),
    };
    let Some(request_id) = store.claim_survey_request(&request).await? else { return Ok(()) };
    let prompt = OutboundMessage {
        delivery: None,
        kind: MessageKind::Message,
        channel,
        inbox_id: None,
        sender: None,
        bot: None,
        text: survey.spec.prompt(italian),
        html: None,
        subject: None,
        attachments: Vec::new(),
        mentions: Vec::new(),
        choices: Vec::new(),
    };
    let message = store.create_outbound_message(account_id, conversation.id, &prompt).await?;
    store.survey_request_sent(account_id, &request_id, Ok(message.id)).await?;
    if rng.gen_bool(0.7) {
        let score = *[5, 5, 5, 5, 4, 4, 4, 3, 2, 1].choose(rng).unwrap_or(&5);
        store.answer_survey(account_id, &request_id, score).await?;
    }
    Ok(())
}

/// What an agent would label a demo opener that no rule recognised.
fn demo_category(text: &str) -> &'static str {
    let text = text.to_lowercase();
    if text.contains("dispon") || text.contains("available") {
        "sales"
    } else if text.contains("danneggiat") || text.contains("damaged") {
        "returns"
    } else {
        "shipping"
    }
}

/// The demo's messages are read as the server reads them (the default
/// rules; the demo's history is stored directly, without the server). The
/// demo's history is people's, not the bot's.
fn read(mut inbound: InboundMessage, triager: &threadline_domain::triage::Triager) -> InboundMessage {
    inbound.triage = Some(triager.triage(&inbound.text));
    inbound.bot_first = false;
    inbound
}

/// The shop's help articles, in Italian and English.
const ARTICLES: &[(&str, &str, &str)] = &[
    (
        "it",
        "Tempi e costi di spedizione",
        "Spediamo entro 24 ore dai giorni feriali. La consegna in Italia richiede 2-3 giorni lavorativi ed è gratuita sopra i 50 euro; sotto costa 4,90 euro.",
    ),
    (
        "it",
        "Come fare un reso",
        "Hai 30 giorni dalla consegna per restituire un articolo non usato. Dalla pagina dell'ordine scegli \"Reso\", stampa l'etichetta e consegna il pacco al corriere: il rimborso arriva entro 5 giorni dal ricevimento.",
    ),
    (
        "it",
        "Cambio taglia",
        "Per cambiare taglia apri la pagina dell'ordine e scegli \"Cambio\": ti spediamo la nuova taglia appena riceviamo quella da cambiare, senza costi.",
    ),
    (
        "it",
        "Dov'è il mio ordine?",
        "Il numero di tracciamento è nell'email di conferma della spedizione. Se il pacco non è arrivato dopo 5 giorni lavorativi scrivici il numero d'ordine.",
    ),
    (
        "it",
        "Metodi di pagamento",
        "Accettiamo carte Visa, Mastercard e American Express, PayPal e bonifico. Un pagamento rifiutato non viene addebitato: l'importo bloccato torna disponibile in pochi giorni.",
    ),
    ("it", "Orari dei negozi", "I negozi di Milano, Torino e Bologna sono aperti dal lunedì al sabato dalle 10 alle 19:30."),
    (
        "en",
        "Shipping times and costs",
        "We ship within 24 hours on working days. UK delivery takes 3-5 working days and is free over 50 euros; below that it costs 6.90 euros.",
    ),
    (
        "en",
        "How to return an item",
        "You have 30 days from delivery to return an unused item. On the order page choose \"Return\", print the label and hand the parcel to the courier: the refund arrives within 5 days of us receiving it.",
    ),
    (
        "en",
        "Where is my order?",
        "The tracking number is in the shipping confirmation email. If the parcel has not arrived after 5 working days, write to us with the order number.",
    ),
    (
        "en",
        "Payment methods",
        "We accept Visa, Mastercard and American Express, PayPal and bank transfer. A declined payment is not charged: the held amount is released within a few days.",
    ),
];

fn hash(password: &str) -> anyhow::Result<String> {
    hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))
}

fn ascii(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'ò' => Some('o'),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
