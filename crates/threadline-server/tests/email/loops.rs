//! Bounces mark the reply failed; automatic acknowledgements are sent to
//! people only — never to auto-replies, lists, mailer daemons or ourselves.

use serde_json::json;

use crate::email_tests;
use crate::support::{INBOX_ADDRESS, Rig, eventually, header, mail, rig_with, send_mail};

email_tests!(a_bounce_marks_the_reply_failed);

async fn a_bounce_marks_the_reply_failed(rig: Rig) {
    let first = mail("ghost@example.com", INBOX_ADDRESS, "Domanda", "ghost-1@example.com", "", "Ciao");
    assert_eq!(rig.send("ghost@example.com", &[INBOX_ADDRESS], &first).data, 250);
    let conversation = rig.conversation_of("ghost-1@example.com").await;
    let (_, reply) = rig.app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "Risposta" })).await;
    let out = rig.relay.wait_for(1, 15).await;
    let our_id = header(&out[0], "Message-ID").unwrap();
    let reply_url = format!("/api/v1/messages/{}", reply["id"].as_str().unwrap());
    eventually("the reply is sent", async || rig.app.get(&reply_url).await.1["delivery_status"] == "sent").await;

    // The customer's server bounces it later (RFC 3464 report, null sender).
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {INBOX_ADDRESS}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <dsn-1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"RB\"\r\n\r\n--RB\r\nContent-Type: text/plain\r\n\r\n\
This is the mail system. Your message could not be delivered.\r\n\r\n--RB\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; ghost@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <ghost@example.com>: Recipient address rejected: User unknown\r\n\r\n\
--RB\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Bottega Aurora <{INBOX_ADDRESS}>\r\nTo: ghost@example.com\r\nMessage-ID: {our_id}\r\nSubject: Re: Domanda\r\n\r\n--RB--\r\n"
    );
    let sent = rig.send("", &[INBOX_ADDRESS], &dsn);
    assert_eq!(sent.data, 250, "{sent:?}");
    let (_, failed) = rig.app.get(&reply_url).await;
    assert_eq!(failed["delivery_status"], "failed", "{failed}");
    let reason = failed["delivery_error"].as_str().unwrap();
    assert!(reason.contains("5.1.1") && reason.contains("User unknown"), "{reason}");
    assert_eq!(rig.messages(&conversation).await.len(), 2, "the bounce itself is not a customer message");
    assert_eq!(rig.relay.messages().len(), 1, "nobody answers a bounce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_go_to_people_only() {
    let rig = rig_with(
        threadline_testkit::Backend::Sqlite,
        json!({ "auto_reply": "Abbiamo ricevuto il tuo messaggio: ti rispondiamo entro un giorno lavorativo." }),
        |_| {},
    )
    .await;
    let person = mail("giulia@example.com", INBOX_ADDRESS, "Reso", "person-1@example.com", "", "Vorrei fare un reso.");
    assert_eq!(rig.send("giulia@example.com", &[INBOX_ADDRESS], &person).data, 250);
    let out = rig.relay.wait_for(1, 15).await;
    assert_eq!(out.len(), 1, "a person gets the acknowledgement");
    assert_eq!(header(&out[0], "Auto-Submitted").as_deref(), Some("auto-replied"), "{}", out[0]);
    assert_eq!(header(&out[0], "Subject").as_deref(), Some("Re: Reso"));
    assert_eq!(header(&out[0], "In-Reply-To").as_deref(), Some("<person-1@example.com>"));
    let conversation = rig.conversation_of("person-1@example.com").await;
    let ack = rig.messages(&conversation).await.into_iter().find(|m| m["direction"] == "outbound").unwrap();
    assert_eq!(ack["sender_kind"], "system");

    // Each of these opens a conversation, is stored and flagged, and gets no answer.
    let machines = [
        ("ooo@example.com", "ooo-1@example.com", "Auto-Submitted: auto-replied\r\n", "Sono fuori ufficio."),
        ("news@list.example.com", "bulk-1@example.com", "Precedence: bulk\r\n", "Offerte della settimana"),
        ("dev@list.example.org", "list-1@example.org", "List-Id: Dev <dev.list.example.org>\r\n", "Weekly digest"),
        ("MAILER-DAEMON@mx.example.net", "daemon-1@example.net", "", "Delivery delayed"),
        ("vacation@example.com", "ms-1@example.com", "X-Auto-Response-Suppress: All\r\n", "Out of office"),
    ];
    for (from, id, headers, body) in machines {
        let raw = mail(from, INBOX_ADDRESS, "Automatic", id, headers, body);
        assert_eq!(rig.send(from, &[INBOX_ADDRESS], &raw).data, 250);
        let conversation = rig.conversation_of(id).await;
        let stored = rig.messages(&conversation).await;
        assert!(stored[0]["automated"].is_string(), "{id} is flagged: {}", stored[0]);
    }
    // A null envelope sender (a bounce or notification) is never answered either.
    let notice = mail("notify@example.com", INBOX_ADDRESS, "Notice", "null-1@example.com", "", "Notification");
    let sent = send_mail(rig.smtp_port(), "", &[INBOX_ADDRESS], notice.as_bytes(), false, &[]);
    assert_eq!(sent.data, 250, "{sent:?}");
    assert!(rig.messages(&rig.conversation_of("null-1@example.com").await).await[0]["automated"].is_string());

    // Our own acknowledgement, coming back to the inbox (a forwarding loop):
    // recognised and not stored again.
    let loop_back = out[0].replace("\r\n", "\n").replace('\n', "\r\n");
    assert_eq!(rig.send(INBOX_ADDRESS, &[INBOX_ADDRESS], &loop_back).data, 250);

    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(rig.relay.messages().len(), 1, "only the person was acknowledged");
    let total: usize = {
        let mut n = 0;
        for c in rig.conversations().await {
            n += rig.messages(c["id"].as_str().unwrap()).await.len();
        }
        n
    };
    assert_eq!(total, 2 + 5 + 1, "the person's mail and the acknowledgement, five machines, one notice; the loop was dropped");
}
