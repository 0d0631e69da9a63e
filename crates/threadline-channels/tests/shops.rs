//! The shops' documented order webhooks (`fixtures/shopify`,
//! `fixtures/woocommerce`; see the fixtures' README for their sources),
//! signed as the shops sign them, read into orders.

use std::path::Path;

use http::{HeaderMap, HeaderValue};
use threadline_channels::WebhookRequest;
use threadline_channels::shops::{ShopError, ShopEvent, ShopKind, sign, woocommerce};
use threadline_domain::order::OrderStatus;
use time::macros::datetime;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn shopify(topic: &str, body: &[u8], secret: &str) -> HeaderMap {
    headers(&[
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Hmac-Sha256", &sign(secret, body)),
        ("X-Shopify-Shop-Domain", "snowdevil.myshopify.com"),
        ("X-Shopify-Webhook-Id", "545ebdd4-b7be-4d3d-b14e-54aa78e0e0f9"),
    ])
}

fn read(kind: ShopKind, headers: &HeaderMap, body: &[u8], secret: &str) -> Result<ShopEvent, ShopError> {
    let request = WebhookRequest { headers, query: "", body };
    kind.verify(&request, secret)?;
    kind.parse_delivery(&request)
}

#[test]
fn shopify_sample_order_reads_whole() {
    let body = fixture("shopify/orders_create.json");
    let event = read(ShopKind::Shopify, &shopify("orders/create", &body, "hush"), &body, "hush").unwrap();
    let ShopEvent::Order(order) = event else { panic!("{event:?}") };
    assert_eq!((order.external_id.as_str(), order.number.as_str()), ("820982911946154508", "#9999"));
    // The documented sample is a cancelled, voided order.
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!((order.currency.as_str(), order.total.as_str()), ("USD", "404.95"));
    assert_eq!(order.customer.email.as_deref(), Some("jon@example.com"), "the checkout's address before the account's");
    assert_eq!(order.customer.name.as_deref(), Some("John Smith"));
    assert_eq!(order.customer.reference.as_deref(), Some("115310627314723954"));
    assert_eq!(order.customer.postcode.as_deref(), Some("40003"));
    assert_eq!(order.items.len(), 5);
    assert_eq!((order.items[0].name.as_str(), order.items[0].price.as_str()), ("Aviator sunglasses", "89.99"));
    assert_eq!(order.placed_at, datetime!(2022-01-01 00:00 UTC));
}

#[test]
fn shopify_statuses_follow_payment_and_fulfilment() {
    let mut sample: serde_json::Value = serde_json::from_slice(&fixture("shopify/orders_create.json")).unwrap();
    // The sample, paid and not cancelled.
    sample["cancelled_at"] = serde_json::Value::Null;
    sample["cancel_reason"] = serde_json::Value::Null;
    sample["financial_status"] = "paid".into();
    let status = |v: &serde_json::Value| {
        let body = serde_json::to_vec(v).unwrap();
        match read(ShopKind::Shopify, &shopify("orders/updated", &body, "k"), &body, "k").unwrap() {
            ShopEvent::Order(o) => (o.status, o.shipments.len()),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(status(&sample), (OrderStatus::Processing, 0));
    sample["financial_status"] = "pending".into();
    assert_eq!(status(&sample), (OrderStatus::Pending, 0));
    // Fulfilled, with the documented fulfilment embedded as the order resource embeds it.
    sample["financial_status"] = "paid".into();
    sample["fulfillment_status"] = "fulfilled".into();
    sample["fulfillments"] =
        serde_json::json!([serde_json::from_slice::<serde_json::Value>(&fixture("shopify/fulfillments_create.json")).unwrap()]);
    assert_eq!(status(&sample), (OrderStatus::Shipped, 1));
    sample["fulfillments"][0]["shipment_status"] = "delivered".into();
    assert_eq!(status(&sample), (OrderStatus::Delivered, 1));
    sample["financial_status"] = "refunded".into();
    assert_eq!(status(&sample), (OrderStatus::Refunded, 1));
}

#[test]
fn shopify_fulfilments_are_shipments_and_refunds_are_refunds() {
    let body = fixture("shopify/fulfillments_create.json");
    let event = read(ShopKind::Shopify, &shopify("fulfillments/create", &body, "k"), &body, "k").unwrap();
    let ShopEvent::Shipment { order_external_id, shipment } = event else { panic!("{event:?}") };
    assert_eq!(order_external_id, "820982911946154508");
    assert_eq!(shipment.id.as_deref(), Some("123456"));
    assert_eq!(shipment.carrier.as_deref(), Some("UPS"));
    assert_eq!(shipment.tracking_number.as_deref(), Some("1z827wk74630"));
    assert!(shipment.tracking_url.unwrap().starts_with("https://www.ups.com/WebTracking"));

    let body = fixture("shopify/refunds_create.json");
    let event = read(ShopKind::Shopify, &shopify("refunds/create", &body, "k"), &body, "k").unwrap();
    let ShopEvent::Refund { order_external_id, refund } = event else { panic!("{event:?}") };
    assert_eq!(order_external_id, "820982911946154508");
    assert_eq!(refund.id.as_deref(), Some("890088186047892319"));
    assert_eq!(refund.amount, "75.00", "the refund transaction's amount, not the line's subtotal");
    assert_eq!(refund.reason.as_deref(), Some("Things were damaged"));
    assert!(refund.refunded_at.is_some());
    // A refund whose transaction failed gave nothing back.
    let mut failed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    failed["transactions"][0]["status"] = "failure".into();
    let failed = serde_json::to_vec(&failed).unwrap();
    assert!(matches!(read(ShopKind::Shopify, &shopify("refunds/create", &failed, "k"), &failed, "k").unwrap(), ShopEvent::Ignored(_)));
    // A note longer than an order may hold is cut, so the order stays storable.
    let mut long: serde_json::Value = serde_json::from_slice(&body).unwrap();
    long["note"] = "lungo ".repeat(200).into();
    let long = serde_json::to_vec(&long).unwrap();
    let ShopEvent::Refund { refund, .. } = read(ShopKind::Shopify, &shopify("refunds/create", &long, "k"), &long, "k").unwrap() else {
        panic!()
    };
    assert!(refund.reason.unwrap().chars().count() <= threadline_domain::order::MAX_TEXT);
}

#[test]
fn shopify_deliveries_with_a_wrong_or_missing_signature_are_refused() {
    let body = fixture("shopify/orders_create.json");
    let signed_with_other = shopify("orders/create", &body, "someone else's secret");
    assert!(matches!(read(ShopKind::Shopify, &signed_with_other, &body, "hush"), Err(ShopError::Signature(_))));
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'9').unwrap();
    tampered[at] = b'8';
    assert!(matches!(read(ShopKind::Shopify, &shopify("orders/create", &body, "hush"), &tampered, "hush"), Err(ShopError::Signature(_))));
    let unsigned = headers(&[("X-Shopify-Topic", "orders/create")]);
    assert!(matches!(read(ShopKind::Shopify, &unsigned, &body, "hush"), Err(ShopError::Signature(_))));
}

#[test]
fn malformed_shop_orders_are_refused_with_the_field_named() {
    let body = br##"{"id": 1, "name": "#1", "currency": "USD", "total_price": "ten", "created_at": "2026-12-01T10:00:00Z"}"##;
    let error = read(ShopKind::Shopify, &shopify("orders/create", body, "k"), body, "k").unwrap_err();
    assert_eq!(error, ShopError::Malformed("total_price: not an amount".into()));
    let body = b"not json";
    assert!(matches!(read(ShopKind::Shopify, &shopify("orders/create", body, "k"), body, "k"), Err(ShopError::Malformed(_))));
}

fn woo(topic: &str, body: &[u8], secret: &str) -> HeaderMap {
    headers(&[
        ("X-WC-Webhook-Source", "http://example.com/"),
        ("X-WC-Webhook-Topic", topic),
        ("X-WC-Webhook-Resource", "order"),
        ("X-WC-Webhook-Event", topic.split('.').nth(1).unwrap_or("")),
        ("X-WC-Webhook-Signature", &sign(secret, body)),
        ("X-WC-Webhook-ID", "142"),
        ("X-WC-Webhook-Delivery-ID", "c3e1b6a1f0d5"),
    ])
}

#[test]
fn woocommerce_sample_order_reads_whole() {
    let body = fixture("woocommerce/order_727.json");
    let event = read(ShopKind::WooCommerce, &woo("order.created", &body, "wc-secret"), &body, "wc-secret").unwrap();
    let ShopEvent::Order(order) = event else { panic!("{event:?}") };
    assert_eq!((order.external_id.as_str(), order.number.as_str(), order.status), ("727", "727", OrderStatus::Processing));
    assert_eq!((order.currency.as_str(), order.total.as_str()), ("USD", "29.35"));
    assert_eq!(order.customer.email.as_deref(), Some("john.doe@example.com"));
    assert_eq!(order.customer.phone.as_deref(), Some("(555) 555-5555"));
    assert_eq!(order.customer.name.as_deref(), Some("John Doe"));
    assert_eq!(order.customer.reference, None, "customer 0 is a guest");
    assert_eq!(order.customer.postcode.as_deref(), Some("94103"));
    assert_eq!(order.items.len(), 2);
    assert_eq!((order.items[0].quantity, order.items[0].price.as_str()), (2, "3"));
    assert_eq!(order.placed_at, datetime!(2017-03-22 19:28:02 UTC), "the _gmt time, read as UTC");
    assert_eq!(order.updated_at, datetime!(2017-03-22 19:28:08 UTC));
}

#[test]
fn woocommerce_statuses_and_tracked_parcels() {
    let mut sample: serde_json::Value = serde_json::from_slice(&fixture("woocommerce/order_727.json")).unwrap();
    let read_status = |v: &serde_json::Value| {
        let body = serde_json::to_vec(v).unwrap();
        match read(ShopKind::WooCommerce, &woo("order.updated", &body, "s"), &body, "s").unwrap() {
            ShopEvent::Order(o) => (o.status, o.shipments),
            other => panic!("{other:?}"),
        }
    };
    for (woo_status, ours) in [
        ("pending", OrderStatus::Pending),
        ("on-hold", OrderStatus::OnHold),
        ("completed", OrderStatus::Shipped),
        ("cancelled", OrderStatus::Cancelled),
        ("refunded", OrderStatus::Refunded),
        ("failed", OrderStatus::Failed),
    ] {
        sample["status"] = woo_status.into();
        assert_eq!(read_status(&sample).0, ours, "{woo_status}");
    }
    // A parcel recorded by the Shipment Tracking extension.
    sample["status"] = "processing".into();
    sample["meta_data"].as_array_mut().unwrap().push(serde_json::json!({
        "id": 13107, "key": "_wc_shipment_tracking_items",
        "value": [{ "tracking_provider": "DHL", "tracking_number": "JD014600003828", "custom_tracking_link": "",
                    "date_shipped": "1490212088", "tracking_id": "9a8b" }]
    }));
    let (status, shipments) = read_status(&sample);
    assert_eq!(status, OrderStatus::Shipped);
    assert_eq!((shipments[0].carrier.as_deref(), shipments[0].tracking_number.as_deref()), (Some("DHL"), Some("JD014600003828")));
    assert_eq!(shipments[0].tracking_url, None);
    // Its refunds, as the order lists them (the total negative).
    sample["refunds"] =
        serde_json::json!([{ "id": 726, "reason": "", "total": "-10.00" }, { "id": 727, "reason": "Broken lid", "total": "-5.5" }]);
    let body = serde_json::to_vec(&sample).unwrap();
    let ShopEvent::Order(order) = read(ShopKind::WooCommerce, &woo("order.updated", &body, "s"), &body, "s").unwrap() else { panic!() };
    let refunds: Vec<_> = order.refunds.iter().map(|r| (r.id.as_deref(), r.amount.as_str(), r.reason.as_deref())).collect();
    assert_eq!(refunds, [(Some("726"), "10.00", None), (Some("727"), "5.5", Some("Broken lid"))]);
    assert_eq!(order.refunded().as_deref(), Some("15.50"));
}

#[test]
fn woocommerce_ping_is_answered_and_bad_signatures_refused() {
    let ping = String::from_utf8(fixture("woocommerce/ping.form")).unwrap();
    let ping = ping.trim_end().as_bytes();
    let form = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
    assert!(woocommerce::is_ping(&WebhookRequest { headers: &form, query: "", body: ping }));
    assert!(matches!(read(ShopKind::WooCommerce, &form, ping, "s").unwrap(), ShopEvent::Ignored(_)));

    let body = fixture("woocommerce/order_727.json");
    assert!(matches!(read(ShopKind::WooCommerce, &woo("order.created", &body, "other"), &body, "s"), Err(ShopError::Signature(_))));
    // A body that only looks like a ping but names a topic is checked like any delivery.
    let fake = headers(&[("X-WC-Webhook-Topic", "order.created")]);
    assert!(matches!(read(ShopKind::WooCommerce, &fake, ping, "s"), Err(ShopError::Signature(_))));
    let deleted = br#"{"id": 727}"#;
    assert!(matches!(read(ShopKind::WooCommerce, &woo("order.deleted", deleted, "s"), deleted, "s").unwrap(), ShopEvent::Ignored(_)));
}
