//! Orders from the shop: Shopify's and WooCommerce's documented webhook
//! payloads (`threadline-channels/fixtures`), signed as the shops sign
//! them and sent to the server, the order API, and visits recorded in the shop.

use reqwest::Method;
use serde_json::{Value, json};
use threadline_channels::shops::sign;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    shopify_orders_land_on_their_customer_once_and_in_order,
    woocommerce_is_answered_on_saving_its_webhook_and_its_orders_make_customers,
    shop_webhooks_are_refused_without_their_signature_or_shop,
    the_order_api_records_checks_and_keeps_orders_to_their_account,
    erasure_and_export_cover_orders,
    shop_staff_record_visits_on_the_customers_timeline,
    a_return_moves_along_its_workflow_and_the_customer_is_told_each_step,
    a_returning_customer_is_known_by_the_shops_customer_id,
);

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../threadline-channels/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Shopify's sample order, as a paid order not cancelled (the documented
/// sample is cancelled and voided), at the given update time.
fn paid_shopify_order(updated_at: &str) -> Value {
    let mut order = fixture("shopify/orders_create.json");
    order["cancelled_at"] = Value::Null;
    order["cancel_reason"] = Value::Null;
    order["financial_status"] = "paid".into();
    order["updated_at"] = updated_at.into();
    order
}

async fn connect(app: &TestApp, kind: &str, secret: Option<&str>) -> (String, String) {
    let mut body = json!({ "kind": kind, "name": format!("{kind} shop") });
    if let Some(secret) = secret {
        body["secret"] = secret.into();
    }
    let (status, source) = app.post("/api/v1/orders/sources", body).await;
    assert_eq!(status, 201, "{source}");
    let url = source["webhook_url"].as_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/hooks/orders/{}", source["id"].as_str().unwrap())), "{url}");
    (source["id"].as_str().unwrap().to_owned(), source["secret"].as_str().unwrap().to_owned())
}

/// Delivers a body as Shopify does.
async fn shopify(app: &TestApp, source: &str, secret: &str, topic: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = app
        .client
        .post(app.url(&format!("/hooks/orders/{source}")))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Hmac-Sha256", sign(secret, &bytes))
        .header("X-Shopify-Shop-Domain", "snowdevil.myshopify.com")
        .header("X-Shopify-Webhook-Id", uuid::Uuid::now_v7().to_string())
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn woocommerce(app: &TestApp, source: &str, secret: &str, topic: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = app
        .client
        .post(app.url(&format!("/hooks/orders/{source}")))
        .header("Content-Type", "application/json")
        .header("X-WC-Webhook-Source", "http://example.com/")
        .header("X-WC-Webhook-Topic", topic)
        .header("X-WC-Webhook-Resource", "order")
        .header("X-WC-Webhook-Event", topic.split('.').nth(1).unwrap_or(""))
        .header("X-WC-Webhook-Signature", sign(secret, &bytes))
        .header("X-WC-Webhook-ID", "142")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn orders_of(app: &TestApp, contact: &str) -> Vec<Value> {
    let (status, orders) = app.get(&format!("/api/v1/contacts/{contact}/orders")).await;
    assert_eq!(status, 200, "{orders}");
    orders.as_array().unwrap().clone()
}

async fn order_events(app: &TestApp, contact: &str) -> Vec<String> {
    let (status, page) = app.get(&format!("/api/v1/contacts/{contact}/events?limit=200")).await;
    assert_eq!(status, 200, "{page}");
    let mut names: Vec<String> = page["data"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap_or("").to_owned()).collect();
    names.reverse();
    names
}

async fn shopify_orders_land_on_their_customer_once_and_in_order(app: TestApp) {
    // Jon wrote in before he bought: the order joins his record.
    let inbox = app.create_inbox("email", "Support").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "jon@example.com" }]), "Do you ship to Kentucky?").await;
    let jon = outcome["contact_id"].as_str().unwrap().to_owned();
    let (source, secret) = connect(&app, "shopify", Some("shpss_client_secret_0123")).await;

    let placed = paid_shopify_order("2021-12-31T19:00:00-05:00");
    let (status, body) = shopify(&app, &source, &secret, "orders/create", &placed).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stored")), "{body}");
    let orders = orders_of(&app, &jon).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = &orders[0];
    assert_eq!(
        (order["number"].as_str(), order["status"].as_str(), order["source"].as_str()),
        (Some("#9999"), Some("processing"), Some("shopify"))
    );
    assert_eq!((order["total"].as_str(), order["currency"].as_str()), (Some("404.95"), Some("USD")));
    assert_eq!(order["items"].as_array().unwrap().len(), 5);
    assert_eq!(order_events(&app, &jon).await, ["Order Completed"]);

    // Shopify delivers at least once: the same delivery again, and the
    // same order through another topic, store nothing new.
    let (status, body) = shopify(&app, &source, &secret, "orders/create", &placed).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("unchanged")), "{body}");
    let (_, body) = shopify(&app, &source, &secret, "orders/paid", &placed).await;
    assert_eq!(body["outcome"], "unchanged");

    // Shipped: the documented fulfilment, on its own.
    let (status, body) = shopify(&app, &source, &secret, "fulfillments/create", &fixture("shopify/fulfillments_create.json")).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stored")), "{body}");
    let order = &orders_of(&app, &jon).await[0];
    assert_eq!(order["status"], "shipped");
    assert_eq!(
        (order["shipments"][0]["carrier"].as_str(), order["shipments"][0]["tracking_number"].as_str()),
        (Some("UPS"), Some("1z827wk74630"))
    );
    assert_eq!(order_events(&app, &jon).await, ["Order Completed", "Order Shipped"]);

    // The order's own update a day later, with the parcel delivered.
    let mut delivered = paid_shopify_order("2022-01-02T10:00:00-05:00");
    delivered["fulfillment_status"] = "fulfilled".into();
    let mut parcel = fixture("shopify/fulfillments_create.json");
    parcel["shipment_status"] = "delivered".into();
    delivered["fulfillments"] = json!([parcel]);
    let (_, body) = shopify(&app, &source, &secret, "orders/updated", &delivered).await;
    assert_eq!(body["outcome"], "stored", "{body}");
    assert_eq!(orders_of(&app, &jon).await[0]["status"], "delivered");
    assert_eq!(order_events(&app, &jon).await, ["Order Completed", "Order Shipped", "Order Delivered"]);

    // An older version arriving late changes nothing.
    let (status, body) = shopify(&app, &source, &secret, "orders/updated", &paid_shopify_order("2022-01-01T09:00:00-05:00")).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stale")), "{body}");
    assert_eq!(orders_of(&app, &jon).await[0]["status"], "delivered");

    // Part of it refunded (the documented refund, 75.00 of 404.95): an
    // event with the amount and reason; the order stays delivered.
    let mut refund = fixture("shopify/refunds_create.json");
    // (Dated after the delivery: events are in the order they happened.)
    refund["processed_at"] = "2022-01-03T09:00:00-05:00".into();
    let (status, body) = shopify(&app, &source, &secret, "refunds/create", &refund).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stored")), "{body}");
    let (_, body) = shopify(&app, &source, &secret, "refunds/create", &refund).await;
    assert_eq!(body["outcome"], "unchanged", "a redelivered refund");
    let order = &orders_of(&app, &jon).await[0];
    assert_eq!((order["status"].as_str(), order["refunds"][0]["amount"].as_str()), (Some("delivered"), Some("75.00")), "{order}");
    assert_eq!(order_events(&app, &jon).await, ["Order Completed", "Order Shipped", "Order Delivered", "Order Refunded"]);
    let (_, events) = app.get(&format!("/api/v1/contacts/{jon}/events?limit=1")).await;
    let refunded = &events["data"][0]["properties"];
    assert_eq!((refunded["refund_amount"].as_str(), refunded["reason"].as_str()), (Some("75.00"), Some("Things were damaged")), "{events}");
    // The rest: the order is refunded, said once.
    let mut rest = refund.clone();
    rest["id"] = json!(890088186047892320u64);
    rest["transactions"][0]["amount"] = "329.95".into();
    let (_, body) = shopify(&app, &source, &secret, "refunds/create", &rest).await;
    assert_eq!(body["outcome"], "stored", "{body}");
    assert_eq!(orders_of(&app, &jon).await[0]["status"], "refunded");
    assert_eq!(order_events(&app, &jon).await, ["Order Completed", "Order Shipped", "Order Delivered", "Order Refunded", "Order Refunded"]);

    // Topics not read, and a parcel or refund for an order never seen, are
    // acknowledged (or Shopify would retry them) and store nothing.
    let (status, body) = shopify(&app, &source, &secret, "orders/delete", &json!({ "id": 820982911946154508u64 })).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));
    let mut stray_refund = refund.clone();
    stray_refund["order_id"] = json!(1234567890123456789u64);
    let (_, body) = shopify(&app, &source, &secret, "refunds/create", &stray_refund).await;
    assert_eq!(body["outcome"], "unknown_order");
    let mut stray = fixture("shopify/fulfillments_create.json");
    stray["order_id"] = json!(1234567890123456789u64);
    let (status, body) = shopify(&app, &source, &secret, "fulfillments/create", &stray).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("unknown_order")));
    assert_eq!(orders_of(&app, &jon).await.len(), 1);

    // The order is Jon's in the workspace too: his panel shows it, with the parcel.
    let session = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": "admin@acme.example", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 200);
    let cookie = session.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let conversation = outcome["conversation"]["id"].as_str().unwrap();
    let page = app.client.get(app.url(&format!("/conversations/{conversation}"))).header("Cookie", cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("#9999") && page.contains("UPS 1z827wk74630") && page.contains(r#"<span class="order-status">refunded</span>"#),
        "the panel shows the order and its parcel"
    );
    let (_, sources) = app.get("/api/v1/orders/sources").await;
    assert!(sources[0]["last_used_at"].is_string(), "{sources}");
}

async fn woocommerce_is_answered_on_saving_its_webhook_and_its_orders_make_customers(app: TestApp) {
    // No secret given: Threadline makes one to paste into WooCommerce.
    let (source, secret) = connect(&app, "woocommerce", None).await;
    assert!(secret.len() >= 32, "{secret}");

    // WooCommerce's ping when the webhook is saved: unsigned, answered 200.
    let response = app
        .client
        .post(app.url(&format!("/hooks/orders/{source}")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("webhook_id=142")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let order = fixture("woocommerce/order_727.json");
    let (status, body) = woocommerce(&app, &source, &secret, "order.created", &order).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stored")), "{body}");
    let (_, page) = app.get("/api/v1/contacts?q=john.doe@example.com").await;
    let john = &page["data"][0];
    assert_eq!(john["name"], "John Doe", "a customer made from the order: {page}");
    let john = john["id"].as_str().unwrap();
    let orders = orders_of(&app, john).await;
    assert_eq!((orders[0]["number"].as_str(), orders[0]["status"].as_str()), (Some("727"), Some("processing")));
    assert_eq!(orders[0]["placed_at"], "2017-03-22T19:28:02Z");

    // Completed in WooCommerce: shipped, one event; then deleted: kept.
    let mut completed = order.clone();
    completed["status"] = "completed".into();
    completed["date_modified_gmt"] = "2017-03-23T08:00:00".into();
    let (_, body) = woocommerce(&app, &source, &secret, "order.updated", &completed).await;
    assert_eq!(body["outcome"], "stored");
    assert_eq!(order_events(&app, john).await, ["Order Completed", "Order Shipped"]);
    let (status, body) = woocommerce(&app, &source, &secret, "order.deleted", &json!({ "id": 727 })).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));
    assert_eq!(orders_of(&app, john).await[0]["status"], "shipped");
}

async fn shop_webhooks_are_refused_without_their_signature_or_shop(app: TestApp) {
    let (source, secret) = connect(&app, "shopify", Some("the-right-secret")).await;
    let order = paid_shopify_order("2021-12-31T19:00:00-05:00");
    let (status, body) = shopify(&app, &source, "a-wrong-secret", "orders/create", &order).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
    let unsigned = app
        .client
        .post(app.url(&format!("/hooks/orders/{source}")))
        .header("X-Shopify-Topic", "orders/create")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let (status, body) = shopify(&app, &source, &secret, "orders/create", &json!({ "id": 1, "name": "#1", "total_price": "1.00" })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("created_at"), "the missing field is named: {body}");
    let (_, page) = app.get("/api/v1/contacts?q=jon@example.com").await;
    assert!(page["data"].as_array().unwrap().is_empty(), "nothing stored: {page}");

    // Unknown and disconnected shops are not found.
    let (status, _) = shopify(&app, &uuid::Uuid::now_v7().to_string(), &secret, "orders/create", &order).await;
    assert_eq!(status, 404);
    let (status, _) = shopify(&app, "not-an-id", &secret, "orders/create", &order).await;
    assert_eq!(status, 404);
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/orders/sources/{source}"), None).await;
    assert_eq!(status, 200);
    let (status, _) = shopify(&app, &source, &secret, "orders/create", &order).await;
    assert_eq!(status, 404);

    // Shopify needs its client secret; kinds are checked.
    let (status, body) = app.post("/api/v1/orders/sources", json!({ "kind": "shopify", "name": "Shop" })).await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("secret")), "{body}");
    let (status, body) = app.post("/api/v1/orders/sources", json!({ "kind": "magento", "name": "Shop" })).await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("kind")), "{body}");
    // Agents do not connect shops.
    let (_, agent) = app.create_user("agent@example.com", "Agent", "agent").await;
    let (status, _) = app.call_as(&agent, Method::GET, "/api/v1/orders/sources", None).await;
    assert_eq!(status, 403);
}

async fn the_order_api_records_checks_and_keeps_orders_to_their_account(app: TestApp) {
    let order = json!({
        "external_id": "A-1001",
        "number": "1001",
        "status": "processing",
        "currency": "EUR",
        "total": "59.90",
        "customer": { "email": "Maria.Rossi@Example.it", "name": "Maria Rossi", "postcode": "20121" },
        "items": [{ "name": "Tazza", "sku": "T-1", "quantity": 2, "price": "29.95" }],
        "placed_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z"
    });
    let (status, recorded) = app.put("/api/v1/orders", order.clone()).await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["events"], json!(["Order Completed"]));
    let id = recorded["order"]["id"].as_str().unwrap().to_owned();
    let maria = recorded["order"]["contact_id"].as_str().unwrap().to_owned();
    let (status, again) = app.put("/api/v1/orders", order.clone()).await;
    assert_eq!((status, again["outcome"].as_str()), (200, Some("unchanged")));
    let (_, contact) = app.get(&format!("/api/v1/contacts/{maria}")).await;
    assert_eq!(contact["name"], "Maria Rossi");
    assert_eq!(contact["identities"][0]["value"], "maria.rossi@example.it", "{contact}");

    let mut shipped = order.clone();
    shipped["status"] = "shipped".into();
    shipped["updated_at"] = "2026-12-02T09:00:00Z".into();
    shipped["shipments"] =
        json!([{ "carrier": "BRT", "tracking_number": "0123", "tracking_url": "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123" }]);
    let (status, recorded) = app.put("/api/v1/orders", shipped).await;
    assert_eq!((status, recorded["events"].clone()), (200, json!(["Order Shipped"])), "{recorded}");

    // Bad input is refused field by field, and nothing is stored.
    let mut bad = order.clone();
    bad["external_id"] = "B-1".into();
    bad["currency"] = "euro".into();
    bad["total"] = "59,90".into();
    bad["shipments"] = json!([{ "tracking_url": "javascript:alert(1)" }]);
    let (status, body) = app.put("/api/v1/orders", bad).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["currency", "total", "shipments.tracking_url"]);
    let (status, _) = app.put("/api/v1/orders", json!({ "external_id": "C-1" })).await;
    assert_eq!(status, 422);
    assert_eq!(orders_of(&app, &maria).await.len(), 1);

    // Orders are written by integrations, not by an agent's token.
    let (_, agent) = app.create_user("agent@example.com", "Agent", "agent").await;
    let (status, _) = app.call_as(&agent, Method::PUT, "/api/v1/orders", Some(order.clone())).await;
    assert_eq!(status, 403);
    let (status, read) = app.call_as(&agent, Method::GET, &format!("/api/v1/orders/{id}"), None).await;
    assert_eq!((status, read["number"].as_str()), (200, Some("1001")));
    // One `updated_at` (the shop's), not two keys of that name.
    let raw = app.client.get(app.url(&format!("/api/v1/orders/{id}"))).bearer_auth(&agent).send().await.unwrap().text().await.unwrap();
    assert_eq!(raw.matches("\"updated_at\"").count(), 1, "{raw}");
    assert_eq!((read["updated_at"].as_str(), read["stored_at"].is_string()), (Some("2026-12-02T09:00:00Z"), true), "{read}");

    // Another account sees none of it, and its own order with the same
    // external id is its own.
    let (_, _, other) = app.create_account("Other Co", "admin@other.example").await;
    let (status, _) = app.call_as(&other, Method::GET, &format!("/api/v1/orders/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call_as(&other, Method::GET, &format!("/api/v1/contacts/{maria}/orders"), None).await;
    assert_eq!(status, 404);
    let (status, theirs) = app.call_as(&other, Method::PUT, "/api/v1/orders", Some(order)).await;
    assert_eq!(status, 201, "{theirs}");
    assert_ne!(theirs["order"]["contact_id"].as_str().unwrap(), maria);
}

async fn erasure_and_export_cover_orders(app: TestApp) {
    let order = json!({
        "external_id": "E-1", "number": "E-1", "status": "processing", "currency": "EUR", "total": "10.00",
        "customer": { "email": "eve@example.com", "postcode": "Secret-postcode-5521" },
        "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z"
    });
    let (status, recorded) = app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{recorded}");
    let eve = recorded["order"]["contact_id"].as_str().unwrap().to_owned();
    let response = app.client.get(app.url(&format!("/api/v1/contacts/{eve}/export"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let zip = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut orders = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("orders.json").unwrap(), &mut orders).unwrap();
    assert!(orders.contains("Secret-postcode-5521"), "{orders}");
    let (status, report) = app.post(&format!("/api/v1/contacts/{eve}/erase"), json!({})).await;
    assert_eq!((status, report["orders"].as_u64()), (200, Some(1)), "{report}");
    assert!(orders_of(&app, &eve).await.is_empty());
}

/// Shop staff record visits on the customer's record: found by id, or by
/// the phone number or e-mail address they give at the counter (a new
/// customer when nobody has either); the visit joins the timeline.
async fn shop_staff_record_visits_on_the_customers_timeline(app: TestApp) {
    let inbox = app.create_inbox("email", "Support").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "giulia@example.it" }]), "Le scarpe sono strette").await;
    let giulia = outcome["contact_id"].as_str().unwrap().to_owned();
    let (_, agent) = app.create_user("commessa@example.com", "Chiara", "agent").await;

    // At the counter, Giulia gives her e-mail address: her record, not a new one.
    let visit = json!({ "customer": { "email": "Giulia@Example.it", "phone": "+39 347 123 4567" }, "kind": "return",
                        "store": "Milano Centro", "order_number": "#1001", "note": "taglia sbagliata", "language": "it" });
    let (status, recorded) = app.call_as(&agent, Method::POST, "/api/v1/store-visits", Some(visit)).await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["contact_id"], giulia.as_str());
    assert_eq!(recorded["kind"], "shop_visit");
    assert_eq!(recorded["summary"], "Reso in negozio a Milano Centro, ordine #1001: taglia sbagliata");
    assert_eq!(recorded["data"]["recorded_by"]["name"], "Chiara");
    let (_, contact) = app.get(&format!("/api/v1/contacts/{giulia}")).await;
    assert!(
        contact["identities"].as_array().unwrap().iter().any(|i| i["value"] == "+393471234567"),
        "the phone she gave is hers now: {contact}"
    );
    let (_, timeline) = app.get(&format!("/api/v1/contacts/{giulia}/timeline?types=interaction")).await;
    assert_eq!(timeline["data"][0]["summary"], "Reso in negozio a Milano Centro, ordine #1001: taglia sbagliata", "{timeline}");

    // By id, in English; a walk-in nobody knows becomes a customer.
    let (status, _) = app.post("/api/v1/store-visits", json!({ "contact_id": giulia, "kind": "visit", "store": "Brera" })).await;
    assert_eq!(status, 201);
    let (status, walk_in) = app
        .post(
            "/api/v1/store-visits",
            json!({ "customer": { "name": "Luca Neri", "phone": "347 765 4321" }, "kind": "purchase", "store": "Brera" }),
        )
        .await;
    assert_eq!(status, 201, "{walk_in}");
    let (_, luca) = app.get(&format!("/api/v1/contacts/{}", walk_in["contact_id"].as_str().unwrap())).await;
    assert_eq!((luca["name"].as_str(), luca["identities"][0]["value"].as_str()), (Some("Luca Neri"), Some("+393477654321")));

    // Bad input is named, and nothing is recorded.
    for (body, field) in [
        (json!({ "kind": "visit", "store": "Brera" }), "contact_id"),
        (json!({ "customer": { "name": "Nobody" }, "kind": "visit", "store": "Brera" }), "customer"),
        (json!({ "customer": { "email": "not an address" }, "kind": "visit", "store": "Brera" }), "customer.email"),
        (json!({ "contact_id": giulia, "kind": "visit", "store": " " }), "store"),
    ] {
        let (status, body) = app.post("/api/v1/store-visits", body).await;
        assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some(field)), "{body}");
    }
    let (status, _) = app.post("/api/v1/store-visits", json!({ "contact_id": giulia, "kind": "haircut", "store": "Brera" })).await;
    assert_eq!(status, 422);
    // Another account's customer is not found.
    let (_, _, other) = app.create_account("Other Co", "admin@other.example").await;
    let (status, _) = app
        .call_as(&other, Method::POST, "/api/v1/store-visits", Some(json!({ "contact_id": giulia, "kind": "visit", "store": "X" })))
        .await;
    assert_eq!(status, 404);
}

async fn a_return_moves_along_its_workflow_and_the_customer_is_told_each_step(app: TestApp) {
    let inbox = app.create_inbox("api", "App chat").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "maria.rossi@example.it" }]), "Le scarpe sono strette").await;
    let maria = outcome["contact_id"].as_str().unwrap().to_owned();
    let order = json!({
        "external_id": "A-1001", "number": "1001", "status": "delivered", "currency": "EUR", "total": "59.90",
        "customer": { "email": "maria.rossi@example.it" }, "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-03T10:00:00Z"
    });
    let (status, recorded) = app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{recorded}");
    let order_id = recorded["order"]["id"].as_str().unwrap().to_owned();

    let (status, opened) = app
        .post("/api/v1/after-sales", json!({ "contact_id": maria, "order_id": order_id, "kind": "return", "reason": "Wrong size" }))
        .await;
    assert_eq!(status, 201, "{opened}");
    let request = &opened["request"];
    assert_eq!((request["status"].as_str(), request["order_number"].as_str()), (Some("requested"), Some("1001")));
    assert_eq!(opened["customer_told"], true, "{opened}");
    let id = request["id"].as_str().unwrap().to_owned();
    let conversation = request["conversation_id"].as_str().unwrap().to_owned();
    let (_, c) = app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!((c["status"].as_str(), c["category"].as_str()), (Some("open"), Some("after_sales")), "{c}");
    let texts = |page: &Value| -> Vec<(String, String)> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["kind"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap().to_owned()))
            .collect()
    };
    let (_, page) = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    let said = texts(&page);
    assert!(said.iter().any(|(k, t)| k == "note" && t.starts_with("Return request for order 1001: Wrong size (opened by")), "{said:?}");
    // She wrote in Italian: she is told in Italian.
    assert!(
        said.iter().any(|(k, t)| k == "message"
            && t == "La tua richiesta di reso per l'ordine 1001 ci è arrivata: ti scriveremo qui appena sarà approvata."),
        "{said:?}"
    );

    // The workflow: nothing is refunded before it is back.
    let step = |status: &'static str, note: Option<&'static str>| {
        let app = &app;
        let id = id.clone();
        async move { app.post(&format!("/api/v1/after-sales/{id}/status"), json!({ "status": status, "note": note })).await }
    };
    let (status, refused) = step("refunded", None).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["message"], "a return request cannot go from requested to refunded; it can go to: approved, rejected");
    assert_eq!(step("approved", None).await.0, 200);
    let (status, labelled) = step("label_sent", Some("Stampala da https://shop.example/returns/42")).await;
    assert_eq!((status, labelled["customer_told"].as_bool()), (200, Some(true)), "{labelled}");
    assert_eq!(step("received", None).await.0, 200);
    let (status, settled) = step("refunded", None).await;
    assert_eq!((status, settled["request"]["status"].as_str()), (200, Some("refunded")), "{settled}");
    let (_, page) = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=200")).await;
    let said = texts(&page);
    assert!(
        said.iter().any(|(_, t)| t.ends_with("ti abbiamo inviato l'etichetta di reso. Stampala da https://shop.example/returns/42")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|(_, t)| t == "La tua richiesta di reso per l'ordine 1001 è conclusa: abbiamo emesso il rimborso."),
        "{said:?}"
    );
    let (_, c) = app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(c["status"], "resolved", "a settled request resolves its conversation");
    let (status, body) = step("rejected", None).await;
    assert_eq!((status, body["error"]["message"].as_str()), (409, Some("the request is already refunded: nothing more can happen to it")));
    let (_, listed) = app.get("/api/v1/after-sales?status=refunded").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Someone else's order is refused; other accounts see nothing.
    let (_, other_contact) = app.post("/api/v1/contacts", json!({ "name": "Luca" })).await;
    let (status, body) = app
        .post("/api/v1/after-sales", json!({ "contact_id": other_contact["id"], "order_id": order_id, "kind": "exchange", "reason": "x" }))
        .await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("order_id")), "{body}");
    let (status, _) = app.post("/api/v1/after-sales", json!({ "contact_id": maria, "kind": "return", "reason": " " })).await;
    assert_eq!(status, 422);
    let (_, _, other) = app.create_account("Other Co", "admin@other.example").await;
    let (status, _) = app.call_as(&other, Method::GET, &format!("/api/v1/after-sales/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call_as(&other, Method::POST, "/api/v1/after-sales", Some(json!({ "contact_id": maria, "kind": "return", "reason": "x" })))
        .await;
    assert_eq!(status, 404);

    // Deleting the customer takes their requests along.
    let (status, report) = app.call(Method::DELETE, &format!("/api/v1/contacts/{maria}"), None).await;
    assert_eq!(status, 200, "{report}");
    let (_, listed) = app.get("/api/v1/after-sales").await;
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");
}

async fn a_returning_customer_is_known_by_the_shops_customer_id(app: TestApp) {
    let (source, secret) = connect(&app, "shopify", Some("shpss_client_secret_0123")).await;
    let first = paid_shopify_order("2021-12-31T19:00:00-05:00");
    let (status, body) = shopify(&app, &source, &secret, "orders/create", &first).await;
    assert_eq!(status, 200, "{body}");
    let jon = customer_with(&app, "jon@example.com").await;
    let (_, contact) = app.get(&format!("/api/v1/contacts/{jon}")).await;
    let reference = format!("shop:{source}:115310627314723954");
    assert!(
        contact["identities"].as_array().unwrap().iter().any(|i| i["kind"] == "external_id" && i["value"] == reference.as_str()),
        "{contact}"
    );

    // A year later, under a new e-mail address, as the same Shopify customer.
    let mut again = paid_shopify_order("2022-12-31T19:00:00-05:00");
    again["id"] = 820982911946154509u64.into();
    again["name"] = "#10500".into();
    again["email"] = "jon.new@example.com".into();
    again["contact_email"] = "jon.new@example.com".into();
    let (status, body) = shopify(&app, &source, &secret, "orders/create", &again).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("stored")), "{body}");
    assert_eq!(customer_with(&app, "jon.new@example.com").await, jon, "the shop's customer id finds him");
    assert_eq!(orders_of(&app, &jon).await.len(), 2);

    // Another shop numbering its customers the same way is another customer.
    let (other, other_secret) = connect(&app, "shopify", Some("shpss_other_secret_4567")).await;
    let mut elsewhere = paid_shopify_order("2022-06-01T10:00:00-05:00");
    elsewhere["email"] = "someone@example.org".into();
    elsewhere["contact_email"] = "someone@example.org".into();
    elsewhere["customer"]["email"] = "someone@example.org".into();
    let (status, body) = shopify(&app, &other, &other_secret, "orders/create", &elsewhere).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(customer_with(&app, "someone@example.org").await, jon);

    // The order API's customer id is the integrator's own user id.
    let order = json!({ "external_id": "A-7", "number": "7", "status": "processing", "currency": "EUR", "total": "10.00",
                        "customer": { "reference": "user-42", "name": "Ada" }, "items": [],
                        "placed_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z" });
    let (status, recorded) = app.put("/api/v1/orders", order).await;
    assert_eq!(status, 201, "{recorded}");
    let ada = recorded["order"]["contact_id"].as_str().unwrap();
    let (_, contact) = app.get(&format!("/api/v1/contacts/{ada}")).await;
    assert_eq!(contact["identities"][0]["kind"], "external_id");
    assert_eq!(contact["identities"][0]["value"], "user-42");
}

/// The one customer an identity value finds.
async fn customer_with(app: &TestApp, value: &str) -> String {
    let (status, page) = app.get(&format!("/api/v1/contacts?q={value}")).await;
    assert_eq!(status, 200, "{page}");
    let found = page["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{page}");
    found[0]["id"].as_str().unwrap().to_owned()
}
