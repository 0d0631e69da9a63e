//! Hostile mail rendered in the agent workspace, in real Chromium: names,
//! subjects, text and HTML bodies built to run a script (classic payloads,
//! event handlers, `javascript:` links, mutation-XSS shapes) or to call home
//! (remote images). Each payload would set `window.__xss` if it ran; after
//! rendering every conversation and clicking every link, nothing has, and no
//! dangerous element or attribute is left in the page.

use serde_json::json;

use crate::browser::Browser;
use crate::support::{INBOX_ADDRESS, rig, send_mail};

/// Each sets `window.__xss` to its number if it ever runs.
const PAYLOADS: &[&str] = &[
    r#"<script>window.__xss=1</script>"#,
    r#"<img src=x onerror="window.__xss=2">"#,
    r#"<svg onload="window.__xss=3"><circle r=1></circle></svg>"#,
    r#"<a href="javascript:window.__xss=4">open</a>"#,
    r#"<iframe srcdoc="<script>parent.__xss=5</script>"></iframe>"#,
    r#"<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=6"></style></mglyph></table></mtext></math>"#,
    r#"<details open ontoggle="window.__xss=7"><summary>x</summary></details>"#,
    r#""><script>window.__xss=8</script>"#,
    r#"<form><button formaction="javascript:window.__xss=9">send</button></form>"#,
    r#"<meta http-equiv="refresh" content="0;url=javascript:window.__xss=10">"#,
    r#"<object data="javascript:window.__xss=11"></object><embed src="javascript:window.__xss=12">"#,
    r#"<noscript><p title="</noscript><img src=x onerror=window.__xss=13>"></noscript>"#,
    r#"<a href="&#106;avascript:window.__xss=14">encoded</a><a href="jav&#x09;ascript:window.__xss=15">tab</a>"#,
    r#"<div style="background:url(javascript:window.__xss=16)">styled</div><style>*{background:url("javascript:window.__xss=17")}</style>"#,
    r#"<img src="https://tracker.example/open.gif?u=1"><img srcset="https://tracker.example/2x.gif 2x">"#,
    r#"<base href="javascript:window.__xss=18//"><a href="/x">relative</a>"#,
    r#"<input autofocus onfocus="window.__xss=19"><select onchange="window.__xss=20"></select>"#,
    r#"<a href="data:text/html,<script>alert(21)</script>">data</a>"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mail_never_runs_in_the_workspace() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    for (n, payload) in PAYLOADS.iter().enumerate() {
        let boundary = format!("b{n}");
        let raw = format!(
            "From: \"{payload}\" <sender{n}@example.com>\r\nTo: {INBOX_ADDRESS}\r\nSubject: {payload}\r\nMessage-ID: <xss-{n}@example.com>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain {payload}\r\n\
             --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>html {n}</p>{payload}</body></html>\r\n--{boundary}--\r\n"
        );
        let sent = send_mail(rig.smtp_port(), &format!("sender{n}@example.com"), &[INBOX_ADDRESS], raw.as_bytes(), false, &[]);
        assert_eq!(sent.data, 250, "payload {n}: {sent:?}");
    }
    let conversations = rig.conversations().await;
    assert_eq!(conversations.len(), PAYLOADS.len());

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.screenshot("xss-inbox").await;
    assert_eq!(browser.js("return window.__xss === undefined").await, json!(true), "the inbox ran a payload");
    for conversation in &conversations {
        let id = conversation["id"].as_str().unwrap();
        browser.client.goto(&rig.app.url(&format!("/conversations/{id}"))).await.unwrap();
        browser.wait_for("the conversation", "document.querySelector('.timeline .message')").await;
        // Follow every link and press every button inside the message.
        browser
            .js("document.querySelectorAll('.timeline .body a, .timeline .body button').forEach(e => { try { e.click() } catch (_) {} })")
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let left = browser
            .js(r#"const bad = [];
                   document.querySelectorAll('.timeline .body *').forEach(e => {
                     if (['SCRIPT','IFRAME','OBJECT','EMBED','FORM','META','BASE','STYLE','SVG','MATH','INPUT','SELECT','BUTTON'].includes(e.tagName.toUpperCase())) bad.push(e.tagName);
                     for (const a of e.attributes) {
                       if (a.name.startsWith('on') || a.name === 'srcdoc' || a.name === 'formaction' || a.name === 'style') bad.push(e.tagName + '@' + a.name);
                       if (/^\s*(javascript|data:text)/i.test(a.value)) bad.push(e.tagName + '@' + a.name + '=' + a.value);
                     }
                     if (e.tagName === 'IMG' && /^https?:/i.test(e.getAttribute('src') || '')) bad.push('remote image');
                     if (e.getAttribute('srcset')) bad.push('srcset');
                   });
                   return { xss: window.__xss === undefined ? null : window.__xss, bad, url: location.pathname };"#)
            .await;
        assert_eq!(left["xss"], json!(null), "a payload ran: {left}");
        assert_eq!(left["bad"], json!([]), "dangerous markup left in the page: {left}");
        assert!(left["url"].as_str().unwrap().starts_with("/conversations/"), "a link navigated away: {left}");
    }
    browser.screenshot("xss-conversation").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_images_show_and_attachments_download() {
    let rig = rig(threadline_testkit::Backend::Sqlite).await;
    // A 1×1 PNG, inline by Content-ID, and a PDF attachment.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let raw = format!(
        "From: Irene <irene@example.com>\r\nTo: {INBOX_ADDRESS}\r\nSubject: Screenshot\r\nMessage-ID: <inline-1@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Ecco l'errore:</p><img src=\"cid:shot@example.com\" alt=\"screenshot\">\r\n\
         --R\r\nContent-Type: image/png\r\nContent-ID: <shot@example.com>\r\nContent-Disposition: inline; filename=\"shot.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--R--\r\n\
         --M\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"fattura.pdf\"\r\n\r\n%PDF-1.4 test\r\n--M--\r\n"
    );
    let sent = send_mail(rig.smtp_port(), "irene@example.com", &[INBOX_ADDRESS], raw.as_bytes(), false, &[]);
    assert_eq!(sent.data, 250, "{sent:?}");
    let conversation = rig.conversation_of("inline-1@example.com").await;

    let browser = Browser::launch().await;
    browser.sign_in(&rig.app.url(""), "admin@acme.example", "correct horse battery").await;
    browser.client.goto(&rig.app.url(&format!("/conversations/{conversation}"))).await.unwrap();
    browser
        .wait_for(
            "the inline image, loaded",
            "document.querySelector('.body img') && document.querySelector('.body img').naturalWidth == 1",
        )
        .await;
    let src = browser.js("return document.querySelector('.body img').getAttribute('src')").await;
    assert!(src.as_str().unwrap().starts_with("/api/v1/attachments/"), "{src}");
    let files = browser.js("return [...document.querySelectorAll('.attachments a.file')].map(a => a.innerText)").await;
    assert_eq!(files, json!(["fattura.pdf"]), "the inline image is not listed as a file");
    let href = browser.js("return document.querySelector('.attachments a.file').getAttribute('href')").await;
    let (status, _) = rig.app.call(reqwest::Method::GET, href.as_str().unwrap(), None).await;
    assert_eq!(status, 200, "the file downloads");
    browser.screenshot("email-inline-image").await;
    browser.close().await;
}
