//! A Message-ID names one mail: delivered again, it is stored once; reused
//! by a sender for a different mail, the new mail is kept too, and says so.

use crate::email_tests;
use crate::support::{INBOX_ADDRESS, Rig, mail};

email_tests!(a_reused_message_id_with_new_content_is_a_new_message);

async fn a_reused_message_id_with_new_content_is_a_new_message(rig: Rig) {
    let first = mail("Ada <ada@example.com>", INBOX_ADDRESS, "Ordine 7", "same-id@example.com", "", "Dov'è il mio ordine 7?");
    let again = mail(
        "Ada <ada@example.com>",
        INBOX_ADDRESS,
        "Ordine 7",
        "same-id@example.com",
        "Received: from relay2.example.com\r\n",
        "Dov'è il mio ordine 7?",
    );
    let other = mail("Ada <ada@example.com>", INBOX_ADDRESS, "Ordine 7", "same-id@example.com", "", "Annullate l'ordine 7, per favore.");
    for raw in [&first, &again, &other, &other] {
        let sent = rig.send("ada@example.com", &[INBOX_ADDRESS], raw);
        assert_eq!(sent.data, 250, "{sent:?}");
    }
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), 1);
    let messages = rig.messages(conversations[0]["id"].as_str().unwrap()).await;
    let texts: Vec<&str> = messages.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Dov'è il mio ordine 7?", "Annullate l'ordine 7, per favore."], "redeliveries stored once, the reuse kept");
    assert!(messages[0]["problems"].as_array().unwrap().is_empty());
    let problems = messages[1]["problems"].to_string();
    assert!(problems.contains("reuses the Message-ID"), "{problems}");
    assert!(
        messages[1]["attachments"].as_array().unwrap().iter().any(|a| a["filename"] == "original.eml"),
        "the reused one keeps its original: {}",
        messages[1]
    );
}
