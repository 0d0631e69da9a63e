//! A stand-in for Twilio Voice's side of a call: it sends the webhooks
//! Twilio sends (its documented parameters, signed with
//! `X-Twilio-Signature`) and executes the TwiML answered — `Say`, `Play`,
//! `Pause`, `Gather` (keys or speech from the caller's script), `Redirect`,
//! `Enqueue` (calling the `waitUrl` as time passes, then the `action`),
//! `Leave`, `Record` (and its transcription callback), `Dial` (answered or
//! not, with its recording status callback) and `Hangup` — until
//! the call ends, then reports the final status.

use std::collections::VecDeque;

use quick_xml::events::Event;

/// What the caller does when asked.
#[derive(Debug, Clone)]
pub enum Input {
    Digits(String),
    Speech(String),
    /// Says nothing.
    Silence,
}

/// A caller and what they will do.
#[derive(Debug, Clone)]
pub struct CallScript {
    pub call_sid: String,
    pub from: String,
    pub to: String,
    pub inputs: VecDeque<Input>,
    /// Seconds that pass between two calls of the queue's `waitUrl`.
    pub wait_step_secs: u64,
    /// The voicemail left when recorded: (recording URL, seconds, transcript).
    pub voicemail: Option<(String, u64, Option<String>)>,
    /// A `<Dial>`led number answers: (seconds talked, recording URL).
    pub dial_answer: Option<(u64, String)>,
}

impl CallScript {
    pub fn new(call_sid: &str, from: &str, to: &str, inputs: Vec<Input>) -> CallScript {
        CallScript {
            call_sid: call_sid.into(),
            from: from.into(),
            to: to.into(),
            inputs: inputs.into(),
            wait_step_secs: 30,
            voicemail: None,
            dial_answer: None,
        }
    }
}

/// What happened in a call.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    /// Every `Say`, as (language, words).
    pub said: Vec<(String, String)>,
    pub played: Vec<String>,
    /// The queue joined, if any.
    pub enqueued: Option<String>,
    /// Position announcements heard while waiting.
    pub waits: usize,
    /// Numbers `<Dial>`led.
    pub dialled: Vec<String>,
    pub recorded: bool,
    /// Webhooks sent, and their HTTP statuses.
    pub requests: Vec<(String, u16)>,
}

impl CallLog {
    pub fn heard(&self, words: &str) -> bool {
        self.said.iter().any(|(_, said)| said.contains(words))
    }
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The verbs of a TwiML document.
fn parse(xml: &str) -> Vec<Node> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node { name: "root".into(), attrs: Vec::new(), text: String::new(), children: Vec::new() }];
    let node = |e: &quick_xml::events::BytesStart<'_>| Node {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs: e
            .attributes()
            .flatten()
            .map(|a| {
                let raw = String::from_utf8_lossy(&a.value).into_owned();
                let value = quick_xml::escape::unescape(&raw).map(|v| v.into_owned()).unwrap_or(raw);
                (String::from_utf8_lossy(a.key.as_ref()).into_owned(), value)
            })
            .collect(),
        text: String::new(),
        children: Vec::new(),
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => stack.push(node(&e)),
            Ok(Event::Empty(e)) => {
                let n = node(&e);
                stack.last_mut().expect("a parent").children.push(n);
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map(|t| t.into_owned()).unwrap_or_default();
                stack.last_mut().expect("a parent").text.push_str(&text);
            }
            // `&amp;`, `&apos;`…: the text's entities, one event each.
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().map(|n| n.into_owned()).unwrap_or_default();
                let text = quick_xml::escape::unescape(&format!("&{name};")).map(|t| t.into_owned()).unwrap_or_default();
                stack.last_mut().expect("a parent").text.push_str(&text);
            }
            Ok(Event::End(_)) => {
                let done = stack.pop().expect("an open element");
                stack.last_mut().expect("a parent").children.push(done);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("the answer is not TwiML ({e}): {xml}"),
        }
    }
    let root = stack.pop().expect("the root");
    let response = root.children.into_iter().find(|n| n.name == "Response").unwrap_or_else(|| panic!("no <Response>: {xml}"));
    response.children
}

/// Places calls against a voice inbox's webhook.
pub struct VoiceCaller {
    client: reqwest::Client,
    auth_token: String,
    account_sid: String,
}

enum Next {
    /// Go on with the next verb of the current document.
    Continue,
    /// A new document replaces the current one.
    Document(Vec<Node>),
    Hangup,
}

impl VoiceCaller {
    pub fn new(account_sid: &str, auth_token: &str) -> VoiceCaller {
        VoiceCaller { client: reqwest::Client::new(), auth_token: auth_token.into(), account_sid: account_sid.into() }
    }

    /// Sends one signed webhook; the answer's status and body.
    pub async fn post(&self, url: &str, script: &CallScript, status: &str, extra: &[(&str, String)]) -> (u16, String) {
        let mut params: Vec<(String, String)> = vec![
            ("AccountSid".into(), self.account_sid.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("CallSid".into(), script.call_sid.clone()),
            ("CallStatus".into(), status.into()),
            ("Direction".into(), "inbound".into()),
            ("From".into(), script.from.clone()),
            ("To".into(), script.to.clone()),
        ];
        params.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
        let signature = threadline_channels::twilio::signature(&self.auth_token, url, &params);
        let response =
            self.client.post(url).header("X-Twilio-Signature", signature).form(&params).send().await.expect("the webhook is sent");
        let code = response.status().as_u16();
        (code, response.text().await.unwrap_or_default())
    }

    /// Places a call to `url` (the inbox's voice URL) and follows it to its end.
    pub async fn call(&self, url: &str, mut script: CallScript) -> CallLog {
        let mut log = CallLog::default();
        let (code, body) = self.post(url, &script, "ringing", &[]).await;
        log.requests.push((url.to_owned(), code));
        assert_eq!(code, 200, "the call's first webhook: {body}");
        let mut document: VecDeque<Node> = parse(&body).into();
        let mut steps = 0;
        let started = std::time::Instant::now();
        'call: while let Some(verb) = document.pop_front() {
            steps += 1;
            assert!(steps < 200, "the call never ends: {log:?}");
            match self.execute(&verb, &mut script, &mut log).await {
                Next::Continue => {}
                Next::Document(verbs) => document = verbs.into(),
                Next::Hangup => break 'call,
            }
        }
        let duration = started.elapsed().as_secs().max(1).to_string();
        let status_url = format!("{}?step=status", url.split('?').next().unwrap_or(url));
        let (code, _) = self.post(&status_url, &script, "completed", &[("CallDuration", duration)]).await;
        log.requests.push((status_url, code));
        log
    }

    async fn follow(&self, url: &str, script: &CallScript, log: &mut CallLog, extra: &[(&str, String)]) -> Vec<Node> {
        let (code, body) = self.post(url, script, "in-progress", extra).await;
        log.requests.push((url.to_owned(), code));
        assert_eq!(code, 200, "{url}: {body}");
        parse(&body)
    }

    async fn execute(&self, verb: &Node, script: &mut CallScript, log: &mut CallLog) -> Next {
        match verb.name.as_str() {
            "Say" => log.said.push((verb.attr("language").unwrap_or("en-US").to_owned(), verb.text.trim().to_owned())),
            "Play" => log.played.push(verb.text.trim().to_owned()),
            "Pause" => {}
            "Gather" => {
                for prompt in &verb.children {
                    Box::pin(self.execute(prompt, script, log)).await;
                }
                let action = verb.attr("action").expect("a Gather with an action").to_owned();
                match script.inputs.pop_front() {
                    Some(Input::Digits(d)) => return Next::Document(self.follow(&action, script, log, &[("Digits", d)]).await),
                    Some(Input::Speech(s)) => {
                        let extra = [("SpeechResult", s), ("Confidence", "0.92".to_owned())];
                        return Next::Document(self.follow(&action, script, log, &extra).await);
                    }
                    // No input: Twilio goes on with the next verb.
                    Some(Input::Silence) | None => {}
                }
            }
            "Redirect" => return Next::Document(self.follow(verb.text.trim(), script, log, &[]).await),
            "Enqueue" => {
                log.enqueued = Some(verb.text.trim().to_owned());
                let wait_url = verb.attr("waitUrl").expect("an Enqueue with a waitUrl").to_owned();
                let mut waited = 0u64;
                let result = loop {
                    let extra =
                        [("QueuePosition", "1".to_owned()), ("QueueTime", waited.to_string()), ("CurrentQueueSize", "1".to_owned())];
                    let verbs = self.follow(&wait_url, script, log, &extra).await;
                    log.waits += 1;
                    let mut left = false;
                    for v in &verbs {
                        if v.name == "Leave" {
                            left = true;
                        } else {
                            Box::pin(self.execute(v, script, log)).await;
                        }
                    }
                    if left {
                        break "leave";
                    }
                    waited += script.wait_step_secs;
                    if log.waits > 50 {
                        break "hangup";
                    }
                };
                if let Some(action) = verb.attr("action") {
                    let extra = [("QueueResult", result.to_owned()), ("QueueTime", waited.to_string())];
                    return Next::Document(self.follow(action, script, log, &extra).await);
                }
            }
            "Record" => {
                let Some((url, secs, transcript)) = script.voicemail.clone() else { return Next::Hangup };
                log.recorded = true;
                let recording = format!("RE{}", &script.call_sid.trim_start_matches("CA"));
                let extra = [("RecordingUrl", url.clone()), ("RecordingSid", recording.clone()), ("RecordingDuration", secs.to_string())];
                let action = verb.attr("action").expect("a Record with an action").to_owned();
                let after = self.follow(&action, script, log, &extra).await;
                if let (Some(callback), Some(text)) = (verb.attr("transcribeCallback"), transcript) {
                    let extra = [
                        ("RecordingSid", recording),
                        ("RecordingUrl", url),
                        ("TranscriptionSid", format!("TR{}", script.call_sid.trim_start_matches("CA"))),
                        ("TranscriptionStatus", "completed".to_owned()),
                        ("TranscriptionText", text),
                    ];
                    let (code, body) = self.post(callback, script, "completed", &extra).await;
                    log.requests.push((callback.to_owned(), code));
                    assert_eq!(code, 200, "the transcription callback: {body}");
                }
                return Next::Document(after);
            }
            "Dial" => {
                let number = verb.children.iter().find(|c| c.name == "Number").map(|n| n.text.trim().to_owned()).unwrap_or_default();
                log.dialled.push(number);
                let (status, secs, recording) = match &script.dial_answer {
                    Some((secs, url)) => ("completed", *secs, Some(url.clone())),
                    None => ("no-answer", 0, None),
                };
                let recording_sid = format!("RE{}", script.call_sid.trim_start_matches("CA"));
                if let (Some(callback), Some(url)) = (verb.attr("recordingStatusCallback"), recording) {
                    let extra = [
                        ("RecordingSid", recording_sid),
                        ("RecordingUrl", url),
                        ("RecordingStatus", "completed".to_owned()),
                        ("RecordingDuration", secs.to_string()),
                        ("RecordingChannels", "2".to_owned()),
                        ("RecordingSource", "DialVerb".to_owned()),
                    ];
                    let (code, body) = self.post(callback, script, "in-progress", &extra).await;
                    log.requests.push((callback.to_owned(), code));
                    assert_eq!(code, 200, "the recording status callback: {body}");
                }
                if let Some(action) = verb.attr("action") {
                    let extra = [("DialCallStatus", status.to_owned()), ("DialCallDuration", secs.to_string())];
                    return Next::Document(self.follow(action, script, log, &extra).await);
                }
            }
            "Hangup" => return Next::Hangup,
            other => panic!("a verb the stand-in does not know: {other}"),
        }
        Next::Continue
    }
}
