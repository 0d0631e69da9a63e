//! A customer writes, the agent answers, the customer answers the answer —
//! by headers, by reply address, after resolution — and it all stays one
//! conversation. Email also continues a conversation begun elsewhere.

use serde_json::json;

use crate::email_tests;
use crate::support::{INBOX_ADDRESS, Rig, eventually, header, mail};

email_tests!(a_reply_threads_both_ways, the_reply_address_survives_a_client_that_drops_headers, email_continues_another_channel);

async fn a_reply_threads_both_ways(rig: Rig) {
    let first = mail(
        "Giulia Bianchi <giulia@example.com>",
        INBOX_ADDRESS,
        "Ordine A-1042",
        "first-1042@example.com",
        "",
        "Buongiorno, il mio ordine A-1042 non è ancora arrivato.",
    );
    let sent = rig.send("giulia@example.com", &[INBOX_ADDRESS], &first);
    assert_eq!((sent.mail, sent.rcpt.clone(), sent.data), (250, vec![250], 250), "{sent:?}");

    let conversation = rig.conversation_of("first-1042@example.com").await;
    let messages = rig.messages(&conversation).await;
    assert_eq!(messages.len(), 1);
    let received = &messages[0];
    assert_eq!(received["channel"], "email");
    assert_eq!(received["subject"], "Ordine A-1042");
    assert_eq!(received["text"], "Buongiorno, il mio ordine A-1042 non è ancora arrivato.");
    let (_, contact) = rig.app.get(&format!("/api/v1/contacts/{}", received["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["name"], "Giulia Bianchi");

    // The agent answers with formatting; it leaves through the relay.
    let (status, reply) = rig
        .app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({ "text": "Ciao Giulia, arriva domani.", "html": "<p>Ciao Giulia, arriva <b>domani</b>.</p><script>x()</script>" }),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["channel"], "email");
    assert_eq!(reply["subject"], "Re: Ordine A-1042");
    let out = rig.relay.wait_for(1, 15).await;
    assert_eq!(out.len(), 1, "the reply reached the relay");
    let raw = &out[0];
    assert_eq!(header(raw, "In-Reply-To").as_deref(), Some("<first-1042@example.com>"), "{raw}");
    assert_eq!(header(raw, "References").as_deref(), Some("<first-1042@example.com>"), "{raw}");
    assert_eq!(header(raw, "Subject").as_deref(), Some("Re: Ordine A-1042"));
    assert_eq!(header(raw, "To").as_deref(), Some("giulia@example.com"));
    let reply_to = header(raw, "Reply-To").expect("a reply address");
    assert!(reply_to.starts_with("aiuto+c") && reply_to.ends_with("@bottega.example"), "{reply_to}");
    assert!(raw.contains("multipart/alternative") && raw.contains("text/html"), "{raw}");
    assert!(raw.contains("<b>domani</b>") && !raw.contains("<script"), "the agent's HTML, sanitised: {raw}");
    assert!(raw.contains("Bottega Aurora — assistenza") || raw.contains("Bottega Aurora =E2=80=94 assistenza"), "signature: {raw}");
    let our_id = header(raw, "Message-ID").unwrap();
    eventually("the reply is marked sent", async || {
        let (_, m) = rig.app.get(&format!("/api/v1/messages/{}", reply["id"].as_str().unwrap())).await;
        m["delivery_status"] == "sent"
    })
    .await;

    // The case is resolved; the customer answers the reply from her mail
    // client (which sets In-Reply-To): the same conversation reopens.
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    let answer = mail(
        "giulia@example.com",
        INBOX_ADDRESS,
        "Re: Ordine A-1042",
        "answer-1042@example.com",
        &format!("In-Reply-To: {our_id}\r\nReferences: <first-1042@example.com> {our_id}\r\n"),
        "Grazie! Non c'è fretta.\r\n\r\nOn Mon, 23 Nov 2026 at 11:00, Bottega Aurora <aiuto@bottega.example> wrote:\r\n> Ciao Giulia, arriva domani.",
    );
    assert_eq!(rig.send("giulia@example.com", &[INBOX_ADDRESS], &answer).data, 250);
    assert_eq!(rig.conversation_of("answer-1042@example.com").await, conversation, "the answer joined its thread");
    let (_, c) = rig.app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(c["status"], "open", "answering a resolved case reopens it");
    let messages = rig.messages(&conversation).await;
    let last = messages.last().unwrap();
    assert_eq!(last["text"], "Grazie! Non c'è fretta.", "the quoted history is apart");
    assert!(last["quoted_text"].as_str().unwrap().contains("arriva domani"));

    // The next reply carries the whole thread.
    let (status, _) =
        rig.app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "Perfetto, buona giornata!" })).await;
    assert_eq!(status, 201);
    let out = rig.relay.wait_for(2, 15).await;
    let second = out.iter().find(|m| m.contains("Perfetto, buona giornata")).expect("the second reply");
    assert_eq!(header(second, "In-Reply-To").as_deref(), Some("<answer-1042@example.com>"));
    assert_eq!(
        header(second, "References").as_deref(),
        Some(format!("<first-1042@example.com> {our_id} <answer-1042@example.com>").as_str())
    );
}

async fn the_reply_address_survives_a_client_that_drops_headers(rig: Rig) {
    let first = mail("ana@example.com", INBOX_ADDRESS, "Fattura", "fattura-1@example.com", "", "Mi mandate la fattura?");
    assert_eq!(rig.send("ana@example.com", &[INBOX_ADDRESS], &first).data, 250);
    let conversation = rig.conversation_of("fattura-1@example.com").await;
    rig.app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "Eccola in allegato." })).await;
    let out = rig.relay.wait_for(1, 15).await;
    let reply_to = header(&out[0], "Reply-To").expect("a reply address");
    rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;

    // No In-Reply-To, no References, a new subject: only the address ties
    // it to the conversation — which reopens instead of a new one starting.
    let bare = mail("ana@example.com", &reply_to, "ricevuta", "bare-1@example.com", "", "Ricevuta, grazie.");
    assert_eq!(rig.send("ana@example.com", &[&reply_to], &bare).data, 250);
    assert_eq!(rig.conversation_of("bare-1@example.com").await, conversation);

    // A made-up tag is not trusted: without it the usual rule applies
    // (the case was resolved again, so a new conversation starts).
    rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    let forged = reply_to.replacen("+c", "+c0", 1);
    let forged_mail = mail("ana@example.com", &forged, "altro", "forged-1@example.com", "", "Un'altra domanda.");
    assert_eq!(rig.send("ana@example.com", &[&forged], &forged_mail).data, 250);
    assert_ne!(rig.conversation_of("forged-1@example.com").await, conversation);

    // Someone else writing to the tagged address does not land in Ana's case.
    rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    let intruder = mail("mallory@example.net", &reply_to, "ciao", "intruder-1@example.net", "", "Fammi vedere.");
    assert_eq!(rig.send("mallory@example.net", &[&reply_to], &intruder).data, 250);
    assert_ne!(rig.conversation_of("intruder-1@example.net").await, conversation);
}

async fn email_continues_another_channel(rig: Rig) {
    // The customer first wrote through an integration (API channel).
    let api_inbox = rig.app.create_inbox("api", "App").await;
    let first = rig.app.inbound(&api_inbox, json!([{ "kind": "email", "value": "Luca@Example.com" }]), "Il pagamento non passa").await;
    let conversation = first["conversation"]["id"].as_str().unwrap().to_owned();
    // Then emails, without any threading header: the same conversation.
    let later = mail("Luca <luca@example.com>", INBOX_ADDRESS, "pagamento", "pay-1@example.com", "", "Vi mando lo screenshot per email.");
    assert_eq!(rig.send("luca@example.com", &[INBOX_ADDRESS], &later).data, 250);
    assert_eq!(rig.conversation_of("pay-1@example.com").await, conversation);
    let messages = rig.messages(&conversation).await;
    let channels: Vec<&str> = messages.iter().map(|m| m["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["api", "email"]);
}
