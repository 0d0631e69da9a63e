//! The customer portal on the help pages, on both databases: a customer
//! signs in with a code sent by e-mail (a real SMTP server) or by SMS (the
//! Twilio stand-in), sees their orders and conversations, and opens a
//! return with photos that the team handles in the workspace — the customer
//! told at each step. Unknown addresses learn nothing; codes run out.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    a_customer_signs_in_by_email_and_opens_a_return_with_photos,
    phone_codes_go_by_sms_and_run_out,
    the_portal_keeps_customers_to_their_own_records,
    one_client_address_is_slowed_down
);

/// A browser without JavaScript: cookies kept by hand, redirects not followed.
struct Visitor {
    client: reqwest::Client,
    base: String,
    inbox: String,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: u16,
    location: Option<String>,
    html: String,
}

impl Page {
    /// The value of the form field `name` on the page.
    fn field(&self, name: &str) -> String {
        let at = self.html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no field {name}: {}", self.html));
        let rest = &self.html[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Visitor {
    fn new(rig: &Rig, inbox: &str) -> Visitor {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Visitor { client, base: rig.app.url(""), inbox: inbox.to_owned(), cookies: Vec::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/help/{}/account{path}", self.base.trim_end_matches('/'), self.inbox)
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
        let response = request.header(COOKIE, cookie).header("Accept-Language", "en").send().await.unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let location = response.headers().get(LOCATION).map(|l| l.to_str().unwrap().to_owned());
        Page { status, location, html: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.url(path));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(self.url(path)).form(form);
        self.send(request).await
    }

    /// Asks for a code for `address` from a fresh sign-in form.
    async fn ask_code(&mut self, address: &str) -> Page {
        let form = self.get("").await;
        let token = form.field("form_token");
        self.post("/code", &[("address", address), ("form_token", &token)]).await
    }

    async fn try_code(&mut self, after: &Page, code: &str) -> Page {
        let (token, address) = (after.field("form_token"), after.field("address"));
        self.post("/verify", &[("address", &address), ("form_token", &token), ("code", code)]).await
    }

    async fn open_request(&mut self, csrf: &str, fields: &[(&str, &str)], photos: Vec<(&str, Vec<u8>)>) -> Page {
        let mut form = reqwest::multipart::Form::new().text("csrf", csrf.to_owned());
        for (name, value) in fields {
            form = form.text((*name).to_owned(), (*value).to_owned());
        }
        for (name, bytes) in photos {
            form = form.part("photos", reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str("image/jpeg").unwrap());
        }
        let request = self.client.post(self.url("/requests")).multipart(form);
        self.send(request).await
    }
}

/// A small real PNG (1×1, red).
pub fn png() -> Vec<u8> {
    let hex = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082";
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// The sentence of a mail that gives the code (its headers hold other digits).
fn sentence(mail: &str) -> &str {
    let end = mail.find("valid for").unwrap_or_else(|| panic!("no code sentence in {mail}"));
    let start = mail[..end].rfind("sign-in code for").unwrap();
    &mail[start..end]
}

/// The 6-digit code in a message.
fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    for start in 0..digits.len().saturating_sub(5) {
        let window = &digits[start..start + 6];
        let before = start.checked_sub(1).map(|i| digits[i]);
        let after = digits.get(start + 6).copied();
        if window.iter().all(char::is_ascii_digit)
            && !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(|c| c.is_ascii_digit())
        {
            return window.iter().collect();
        }
    }
    panic!("no code in: {text}");
}

pub async fn email_inbox(rig: &Rig, smtp: &threadline_testkit::SmtpSink) -> String {
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "email", "name": "Assistenza", "settings": {
                "address": "aiuto@bottega.example", "name": "Bottega Aurora", "smtp_host": "127.0.0.1",
                "smtp_port": smtp.addr.port(), "smtp_security": "none" } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    inbox["id"].as_str().unwrap().to_owned()
}

async fn record_order(rig: &Rig, customer: Value, number: &str) -> Value {
    let order = json!({ "external_id": format!("A-{number}"), "number": number, "status": "shipped", "currency": "EUR", "total": "59.90",
                        "customer": customer,
                        "items": [{ "name": "Tazza Aurora", "quantity": 2, "price": "29.95" }],
                        "shipments": [{ "carrier": "BRT", "tracking_number": "0123",
                                        "tracking_url": "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123" }],
                        "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z" });
    let (status, recorded) = rig.app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{recorded}");
    recorded["order"].clone()
}

/// The code in the latest sign-in mail to `to`, once `count` mails arrived.
async fn mailed_code(smtp: &threadline_testkit::SmtpSink, count: usize, to: &str) -> String {
    let mails = smtp.wait_for(count, 10).await;
    let mail = mails
        .iter()
        .map(|m| mail_text(m))
        .rfind(|m| m.contains(&format!("To: {to}")) && m.contains("Subject: Your sign-in code"))
        .unwrap_or_else(|| panic!("no sign-in code to {to} in {mails:?}"));
    code_in(sentence(&mail))
}

fn mail_text(mail: &str) -> String {
    // Quoted-printable soft breaks aside, the text part is readable as is.
    mail.replace("=\r\n", "").replace("=\n", "")
}

async fn a_customer_signs_in_by_email_and_opens_a_return_with_photos(rig: Rig) {
    let smtp = threadline_testkit::SmtpSink::start().await;
    let inbox = email_inbox(&rig, &smtp).await;
    let order = record_order(&rig, json!({ "email": "maria.rossi@example.it", "name": "Maria Rossi" }), "1001").await;
    let maria = order["contact_id"].as_str().unwrap().to_owned();
    let mut visitor = Visitor::new(&rig, &inbox);

    // The help pages lead to the portal; it asks who you are.
    let help = rig.http.get(rig.app.url(&format!("/help/{inbox}"))).send().await.unwrap().text().await.unwrap();
    assert!(help.contains(&format!("href=\"/help/{inbox}/account\"")), "{help}");
    let first = visitor.get("").await;
    assert_eq!(first.status, 200);
    assert!(first.html.contains("Send me a code"), "{}", first.html);

    // An unknown address gets the same answer as a known one, and no mail.
    let unknown = visitor.ask_code("nobody@example.com").await;
    assert_eq!(unknown.status, 200);
    assert!(unknown.html.contains("If nobody@example.com is one of our customers&#39; addresses"), "{}", unknown.html);
    let known = visitor.ask_code("  Maria.Rossi@Example.it ").await;
    assert_eq!(known.status, 200);
    assert!(known.html.contains("If maria.rossi@example.it is one of our customers&#39; addresses"), "{}", known.html);
    let mails = smtp.wait_for(1, 10).await;
    assert_eq!(mails.len(), 1, "only the known address was written to");
    let mail = mail_text(&mails[0]);
    assert!(mail.contains("To: maria.rossi@example.it"), "{mail}");
    assert!(mail.contains("Subject: Your sign-in code for Acme Italia"), "{mail}");
    assert!(mail.contains("Auto-Submitted: auto-"), "no auto-responder answers it: {mail}");
    let code = code_in(sentence(&mail));

    // A wrong code uses a try; the right one signs her in, once.
    let wrong = visitor.try_code(&known, if code == "000000" { "111111" } else { "000000" }).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.html.contains("That code is not right. Tries left: 4."), "{}", wrong.html);
    let signed_in = visitor.try_code(&wrong, &code).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.html);
    assert_eq!(signed_in.location.as_deref(), Some(format!("/help/{inbox}/account").as_str()));
    assert!(visitor.cookies.iter().any(|(n, _)| n == "threadline_portal"));

    // Her page: the order with its parcel, and the request form.
    let home = visitor.get("").await;
    assert_eq!(home.status, 200);
    assert!(home.html.contains("Hello Maria Rossi"), "{}", home.html);
    assert!(home.html.contains("<strong>1001</strong>") && home.html.contains("2 × Tazza Aurora"), "{}", home.html);
    assert!(home.html.contains("href=\"https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123\""), "{}", home.html);
    let csrf = home.field("csrf");

    // A file that is not a photo is refused by name, and nothing is opened.
    let order_id = order["id"].as_str().unwrap();
    let fields = [("kind", "return"), ("order", order_id), ("reason", "La tazza è arrivata rotta")];
    let refused = visitor.open_request(&csrf, &fields, vec![("rotta.jpg", png()), ("fattura.jpg", b"%PDF-1.7 not a photo".to_vec())]).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("fattura.jpg is not a photo"), "{}", refused.html);
    let (_, requests) = rig.app.get("/api/v1/after-sales").await;
    assert_eq!(requests.as_array().unwrap().len(), 0, "{requests}");
    // Without the form's token, nothing either.
    let forged = visitor.open_request("forged", &fields, vec![]).await;
    assert_eq!(forged.status, 403);

    let opened = visitor.open_request(&csrf, &fields, vec![("rotta.jpg", png())]).await;
    assert_eq!(opened.status, 303, "{}", opened.html);
    let after = visitor.get("?received=1").await;
    assert!(after.html.contains("We received your request"), "{}", after.html);
    assert!(after.html.contains("Return · order 1001"), "{}", after.html);

    // In the workspace: a return request in its own conversation, her words
    // and photo as her message, the team's note, and her notice by e-mail.
    let (_, requests) = rig.app.get("/api/v1/after-sales").await;
    let request = requests[0].clone();
    assert_eq!((request["kind"].as_str(), request["status"].as_str()), (Some("return"), Some("requested")), "{request}");
    assert_eq!(request["order_number"], "1001");
    assert_eq!(request["contact_id"], maria.as_str());
    let conversation = request["conversation_id"].as_str().unwrap().to_owned();
    let messages = rig.messages(&conversation).await;
    let hers: Vec<&Value> = messages.iter().filter(|m| m["direction"] == "inbound").collect();
    assert_eq!(hers.len(), 1, "{messages:?}");
    assert_eq!(hers[0]["text"], "La tazza è arrivata rotta");
    assert_eq!(hers[0]["channel"], "email");
    assert_eq!(hers[0]["attachments"][0]["content_type"], "image/png", "{}", hers[0]);
    assert_eq!(hers[0]["attachments"][0]["filename"], "rotta.jpg");
    assert!(
        messages.iter().any(|m| m["kind"] == "note" && m["text"].as_str().unwrap().contains("opened by the customer, on the help pages"))
    );
    let mails = smtp.wait_for(2, 10).await;
    assert_eq!(mails.len(), 2, "she is told the request was received");
    assert!(mails.iter().any(|m| m.contains("To: maria.rossi@example.it") && !m.contains("sign-in code")));

    // The team approves it; she is told again, and sees it on the portal.
    let (status, moved) =
        rig.app.post(&format!("/api/v1/after-sales/{}/status", request["id"].as_str().unwrap()), json!({ "status": "approved" })).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(smtp.wait_for(3, 10).await.len(), 3);
    let home = visitor.get("").await;
    assert!(home.html.contains("approved"), "{}", home.html);
    let thread = visitor.get(&format!("/conversations/{conversation}")).await;
    assert_eq!(thread.status, 200);
    assert!(thread.html.contains("La tazza è arrivata rotta") && thread.html.contains("rotta.jpg"), "{}", thread.html);
    assert!(!thread.html.contains("opened by the customer"), "the team's notes stay in the team: {}", thread.html);

    // Signing out ends the session, cookie or not.
    let stolen = visitor.cookies.clone();
    let out = visitor.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(visitor.get("").await.html.contains("Send me a code"));
    visitor.cookies = stolen;
    assert!(visitor.get("").await.html.contains("Send me a code"), "the old cookie no longer opens the page");
}

async fn phone_codes_go_by_sms_and_run_out(mut rig: Rig) {
    // More tries than one client address may make by default.
    rig.app.restart(|s| s.portal_rate_per_minute = 100).await;
    let smtp = threadline_testkit::SmtpSink::start().await;
    let help = email_inbox(&rig, &smtp).await;
    let mut visitor = Visitor::new(&rig, &help);
    // No SMS inbox yet: codes by text message cannot be sent, and the page says so.
    let (status, contact) = rig
        .app
        .post("/api/v1/contacts", json!({ "name": "Giulia Verdi", "identities": [{ "kind": "whatsapp", "value": "+39 333 123 4567" }] }))
        .await;
    assert_eq!(status, 201, "{contact}");
    let no_way = visitor.ask_code("333 123 4567").await;
    assert_eq!(no_way.status, 422);
    assert!(no_way.html.contains("We cannot send codes by text message"), "{}", no_way.html);

    rig.sms_inbox().await;
    // Her WhatsApp number is her phone: the code goes there by SMS.
    let asked = visitor.ask_code("333 123 4567").await;
    assert_eq!(asked.status, 200, "{}", asked.html);
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].field("To").as_deref(), Some("+393331234567"));
    let body = sends[0].field("Body").unwrap();
    assert!(body.starts_with("Your sign-in code for Acme Italia is "), "{body}");
    let first = code_in(&body);

    // Five wrong tries spend the code: even the right one no longer opens.
    let wrong = if first == "000000" { "111111" } else { "000000" };
    let mut page = asked;
    for left in (0..5).rev() {
        page = visitor.try_code(&page, wrong).await;
        assert!(page.html.contains(&format!("Tries left: {left}.")), "{}", page.html);
    }
    let spent = visitor.try_code(&page, &first).await;
    assert_eq!(spent.status, 401);
    assert!(spent.html.contains("That code has expired or was used up"), "{}", spent.html);

    // A new code works, and replaces the one before it.
    visitor.ask_code("+39 333 1234567").await;
    let second = code_in(&rig.provider.wait_for_sends(2, 10).await[1].field("Body").unwrap());
    visitor.ask_code("+39 333 1234567").await;
    let third = code_in(&rig.provider.wait_for_sends(3, 10).await[2].field("Body").unwrap());
    // Three codes in 15 minutes: a fourth is not sent, and the page does not say why.
    let mut page = visitor.ask_code("+393331234567").await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("is one of our customers"), "{}", page.html);
    assert_eq!(rig.provider.sends().len(), 3, "no fourth text");
    if second != third {
        page = visitor.try_code(&page, &second).await;
        assert!(page.html.contains("That code is not right"), "an earlier code stops working: {}", page.html);
    }
    let signed_in = visitor.try_code(&page, &third).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.html);
    assert!(visitor.get("").await.html.contains("Hello Giulia Verdi"));
}

async fn the_portal_keeps_customers_to_their_own_records(rig: Rig) {
    let smtp = threadline_testkit::SmtpSink::start().await;
    let inbox = email_inbox(&rig, &smtp).await;
    let hers = record_order(&rig, json!({ "email": "maria.rossi@example.it", "name": "Maria Rossi" }), "1001").await;
    let other = record_order(&rig, json!({ "email": "paolo.neri@example.it", "name": "Paolo Neri" }), "1002").await;
    // Paolo has a conversation; Maria must not see it.
    let paolo = rig.app.inbound(&inbox, json!([{ "kind": "email", "value": "paolo.neri@example.it" }]), "Dov'è il mio ordine?").await;
    let paolos = paolo["conversation"]["id"].as_str().unwrap().to_owned();

    let mut visitor = Visitor::new(&rig, &inbox);
    let asked = visitor.ask_code("maria.rossi@example.it").await;
    let code = mailed_code(&smtp, 1, "maria.rossi@example.it").await;
    let signed_in = visitor.try_code(&asked, &code).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.html);
    let home = visitor.get("").await;
    assert!(home.html.contains("1001") && !home.html.contains("1002"), "{}", home.html);
    assert!(!home.html.contains("Dov"), "{}", home.html);
    assert_eq!(visitor.get(&format!("/conversations/{paolos}")).await.status, 404);
    // Another customer's order cannot be named in a request.
    let csrf = home.field("csrf");
    let page =
        visitor.open_request(&csrf, &[("kind", "return"), ("order", other["id"].as_str().unwrap()), ("reason", "Rotta")], vec![]).await;
    assert_eq!(page.status, 422, "{}", page.html);
    assert!(page.html.contains("is not one of this customer"), "{}", page.html);
    let (_, requests) = rig.app.get("/api/v1/after-sales").await;
    assert_eq!(requests.as_array().unwrap().len(), 0);

    // Her cookie means nothing on another account's help pages.
    let (_, _, token) = rig.app.create_account("Altro Negozio", "admin@altro.example").await;
    let (status, other_inbox) =
        rig.app.call_as(&token, reqwest::Method::POST, "/api/v1/inboxes", Some(json!({ "channel": "web_chat", "name": "Chat" }))).await;
    assert_eq!(status, 201, "{other_inbox}");
    visitor.inbox = other_inbox["id"].as_str().unwrap().to_owned();
    let elsewhere = visitor.get("").await;
    assert!(elsewhere.html.contains("Send me a code") && !elsewhere.html.contains("Maria"), "{}", elsewhere.html);

    // Erasing her record signs her out.
    visitor.inbox = inbox.clone();
    let id = hers["contact_id"].as_str().unwrap();
    let (status, erased) = rig.app.post(&format!("/api/v1/contacts/{id}/erase"), json!({})).await;
    assert_eq!(status, 200, "{erased}");
    assert!(visitor.get("").await.html.contains("Send me a code"));
}

async fn one_client_address_is_slowed_down(mut rig: Rig) {
    let smtp = threadline_testkit::SmtpSink::start().await;
    rig.app.restart(|s| s.portal_rate_per_minute = 2).await;
    let inbox = email_inbox(&rig, &smtp).await;
    let mut visitor = Visitor::new(&rig, &inbox);
    for address in ["a@example.com", "b@example.com"] {
        assert_eq!(visitor.ask_code(address).await.status, 200);
    }
    let slowed = visitor.ask_code("c@example.com").await;
    assert_eq!(slowed.status, 429);
    assert!(slowed.html.contains("Too many tries from here"), "{}", slowed.html);
}
