//! Reading an existing mailbox on a real IMAP server (dovecot): everything
//! already there, then new mail as it arrives (IDLE), nothing twice across
//! a restart, and the messages left unread for the people who share it.

use serde_json::json;
use threadline_testkit::ImapServer;

use crate::email_tests;
use crate::support::{Rig, eventually, mail};

email_tests!(a_mailbox_is_read_once_and_kept_up_with);

async fn stored_count(rig: &Rig) -> usize {
    let mut n = 0;
    for c in rig.conversations().await {
        n += rig.messages(c["id"].as_str().unwrap()).await.iter().filter(|m| m["direction"] == "inbound").count();
    }
    n
}

async fn a_mailbox_is_read_once_and_kept_up_with(rig: Rig) {
    let imap = ImapServer::start().await;
    let to = "info@negozio.example";
    imap.append(&mail("anna@example.com", to, "Orari", "imap-1@example.com", "", "Siete aperti sabato?"));
    imap.append(&mail("bruno@example.com", to, "Taglie", "imap-2@example.com", "", "Avete la M?"));

    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "email", "name": "Negozio", "settings": {
                "address": to, "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_security": "none" },
                "secrets": { "imap_username": imap.username, "imap_password": imap.password } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");

    eventually("the two waiting messages are stored", async || stored_count(&rig).await == 2).await;
    // The inbox says how reading the mailbox goes.
    let inbox_url = format!("/api/v1/inboxes/{}", inbox["id"].as_str().unwrap());
    eventually("the mailbox is shown as read and waiting", async || {
        let (_, view) = rig.app.get(&inbox_url).await;
        view["mailbox"]["state"] == "waiting" && view["mailbox"]["idle"] == true && view["mailbox"]["messages_stored"] == 2
    })
    .await;
    let conversation = rig.conversation_of("imap-1@example.com").await;
    assert_eq!(rig.messages(&conversation).await[0]["text"], "Siete aperti sabato?");

    // New mail while connected arrives without waiting for a poll.
    imap.append(&mail(
        "anna@example.com",
        to,
        "Re: Orari",
        "imap-3@example.com",
        "In-Reply-To: <imap-1@example.com>\r\n",
        "E la domenica?",
    ));
    eventually("the new message is stored", async || stored_count(&rig).await == 3).await;
    assert_eq!(rig.conversation_of("imap-3@example.com").await, conversation);

    // After a restart nothing is read twice, and what came meanwhile is read.
    let mut rig = rig;
    rig.app.restart(|_| {}).await;
    imap.append(&mail("carla@example.com", to, "Spedizione", "imap-4@example.com", "", "Spedite in Svizzera?"));
    eventually("the message sent during the restart is stored", async || stored_count(&rig).await == 4).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(stored_count(&rig).await, 4, "nothing was stored twice");
    assert_eq!(imap.unseen(), 4, "messages are read with BODY.PEEK and stay unread");

    // A wrong password is shown on the inbox, not only in the logs.
    let (status, wrong) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "email", "name": "Sbagliata", "settings": {
                "address": "altro@negozio.example", "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_security": "none" },
                "secrets": { "imap_username": imap.username, "imap_password": "not-the-password" } }),
        )
        .await;
    assert_eq!(status, 201, "{wrong}");
    let wrong_url = format!("/api/v1/inboxes/{}", wrong["id"].as_str().unwrap());
    eventually("the failing login is shown", async || {
        let (_, view) = rig.app.get(&wrong_url).await;
        view["mailbox"]["state"] == "failing" && view["mailbox"]["last_error"].as_str().is_some_and(|e| e.contains("logging in"))
    })
    .await;
}
