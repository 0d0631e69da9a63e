//! The push services' documented answers (`fixtures/fcm`, `fixtures/apns`)
//! read as Threadline acts on them.

use threadline_domain::push::{PushOutcome, apns_outcome, fcm_outcome};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fcm_answers_from_its_documentation() {
    assert_eq!(
        fcm_outcome(200, &fixture("fcm/send_response.json")),
        PushOutcome::Sent("projects/myproject-b5ae1/messages/0:1500415314455276%31bd1c9631bd1c96".into())
    );
    // A token FCM no longer knows, or never did: the device is forgotten.
    assert!(matches!(fcm_outcome(404, &fixture("fcm/error_unregistered.json")), PushOutcome::Gone(r) if r.contains("UNREGISTERED")));
    assert!(matches!(fcm_outcome(400, &fixture("fcm/error_invalid_token.json")), PushOutcome::Gone(_)));
    // A bad payload is not the device's fault: it is kept.
    assert!(
        matches!(fcm_outcome(400, &fixture("fcm/error_invalid_data.json")), PushOutcome::Refused(r) if r.contains("message.data[0].value"))
    );
}

#[test]
fn apns_answers_from_its_documentation() {
    assert!(matches!(apns_outcome(400, &fixture("apns/error_bad_device_token.json"), None), PushOutcome::Gone(_)));
    assert!(
        matches!(apns_outcome(410, &fixture("apns/error_unregistered.json"), None), PushOutcome::Gone(r) if r == "APNs answered 410 Unregistered")
    );
    assert!(matches!(apns_outcome(403, &fixture("apns/error_expired_provider_token.json"), None), PushOutcome::Unauthorized(_)));
    assert_eq!(
        apns_outcome(200, b"", Some("EC1BF194-B3B2-424A-89A9-5A918A6E6B5D")),
        PushOutcome::Sent("EC1BF194-B3B2-424A-89A9-5A918A6E6B5D".into())
    );
}
