//! The phone as a channel: what a caller hears, decided step by step from
//! the inbox's IVR and the facts of the call, answered as TwiML (the XML
//! Twilio Voice — and the providers that speak it — executes).
//!
//! A call goes: greeting → (closed: the closed message, then voicemail) →
//! (several languages: a language choice) → the menu (keys or speech) →
//! the chosen team's queue, with position announcements and hold music →
//! after the longest wait, voicemail (or, where the IVR offers it, a
//! callback request: one key and an agent calls back). A caller who has an
//! open conversation with a team is told so and queued for that team
//! first. No key or an unknown answer repeats the menu twice, then goes to
//! voicemail.
//!
//! A waiting caller is offered to one agent at a time ([`choose_agent`]):
//! their open conversation's agent first, then whom the team's routing
//! picks — a call fills an agent's voice capacity, and an agent who let
//! this call ring out is passed over.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::channel::Channel;
use crate::ids::{ContactId, ConversationId, InboxId, TaskId, TeamId, UserId};
use crate::routing::{Agent, Decision, Policy, Waiting};
use crate::sla::BusinessHours;
use crate::validation::ValidationErrors;

/// Words in each language the IVR speaks (`it`, `en`).
pub type Words = std::collections::BTreeMap<String, String>;

/// One choice of the menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MenuOption {
    /// The key to press, `0`–`9`.
    pub digit: String,
    /// What is said for it, per language ("per gli ordini").
    pub label: Words,
    /// Words that choose it when spoken, per language.
    #[serde(default)]
    pub words: std::collections::BTreeMap<String, Vec<String>>,
    /// The team whose queue it leads to (none: the inbox's queue).
    #[serde(default)]
    pub team_id: Option<TeamId>,
}

/// A voice inbox's IVR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ivr {
    /// The languages offered, the first the default (`it`, `en`).
    pub languages: Vec<String>,
    pub greeting: Words,
    #[serde(default)]
    pub menu: Vec<MenuOption>,
    /// When the line is open; none: always.
    #[serde(default)]
    pub hours: Option<BusinessHours>,
    /// Said when the line is closed, before voicemail.
    #[serde(default)]
    pub closed: Words,
    /// A recording played while waiting in the queue.
    #[serde(default)]
    pub hold_music_url: Option<String>,
    /// The longest wait in the queue before voicemail, in seconds.
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u64,
    /// Record calls answered by an agent (say so in the greeting).
    #[serde(default)]
    pub record: bool,
    /// After the longest wait, offer a callback (one key) before voicemail.
    #[serde(default)]
    pub callback: bool,
    /// How long an agent's phone rings before the call is offered to the next.
    #[serde(default = "default_ring")]
    pub ring_secs: u32,
}

fn default_max_wait() -> u64 {
    300
}

fn default_ring() -> u32 {
    20
}

pub const LANGUAGES: [&str; 2] = ["it", "en"];

impl Ivr {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.languages.is_empty() || self.languages.iter().any(|l| !LANGUAGES.contains(&l.as_str())) {
            errors.push("ivr.languages", "one or more of it, en");
        }
        for language in &self.languages {
            if self.greeting.get(language).is_none_or(|g| g.trim().is_empty()) {
                errors.push("ivr.greeting", format!("needs words in {language}"));
            }
        }
        let mut digits = std::collections::BTreeSet::new();
        for (i, option) in self.menu.iter().enumerate() {
            let digit_ok = option.digit.len() == 1 && option.digit.chars().all(|c| c.is_ascii_digit());
            if !digit_ok || !digits.insert(option.digit.clone()) {
                errors.push(format!("ivr.menu[{i}].digit"), "one key 0–9, each used once");
            }
            for language in &self.languages {
                if option.label.get(language).is_none_or(|l| l.trim().is_empty()) {
                    errors.push(format!("ivr.menu[{i}].label"), format!("needs words in {language}"));
                }
            }
        }
        if let Some(url) = &self.hold_music_url
            && !url.starts_with("https://")
            && !url.starts_with("http://")
        {
            errors.push("ivr.hold_music_url", "an http(s) address");
        }
        if self.max_wait_secs > 3600 {
            errors.push("ivr.max_wait_secs", "at most 3600");
        }
        if !(5..=120).contains(&self.ring_secs) {
            errors.push("ivr.ring_secs", "5 to 120 seconds");
        }
        if let Some(hours) = &self.hours {
            hours.check("ivr.hours", &mut errors);
        }
        errors.into_result(())
    }

    fn say(&self, words: &Words, language: &str) -> String {
        words.get(language).or_else(|| self.languages.first().and_then(|l| words.get(l))).cloned().unwrap_or_default()
    }

    fn default_language(&self) -> &str {
        self.languages.first().map(String::as_str).unwrap_or("en")
    }
}

/// A step of the call, named in the URL Twilio calls next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The call arrives.
    Start,
    /// The caller chose a language.
    Language,
    /// The menu again (after no answer).
    Menu,
    /// The caller answered the menu.
    Choice,
    /// While waiting in the queue (Twilio's `waitUrl`).
    Wait,
    /// The caller left the queue (Twilio's `<Enqueue action>`).
    Left,
    /// Their voicemail was recorded.
    Recorded,
    /// The caller answered the callback offer.
    Callback,
    /// Click-to-call: the agent answered; the customer is dialled.
    Bridge,
    /// Click-to-call: the customer's leg ended.
    Dialed,
    /// An agent answered the call offered to them: they meet that caller
    /// in a room of their own.
    Answer,
    /// The answered caller, taken out of the queue, joins the agent.
    Join,
}

impl Step {
    pub fn parse(text: &str) -> Option<Step> {
        Some(match text {
            "start" | "" => Step::Start,
            "language" => Step::Language,
            "menu" => Step::Menu,
            "choice" => Step::Choice,
            "wait" => Step::Wait,
            "left" => Step::Left,
            "recorded" => Step::Recorded,
            "callback" => Step::Callback,
            "bridge" => Step::Bridge,
            "dialed" => Step::Dialed,
            "answer" => Step::Answer,
            "join" => Step::Join,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::Language => "language",
            Step::Menu => "menu",
            Step::Choice => "choice",
            Step::Wait => "wait",
            Step::Left => "left",
            Step::Recorded => "recorded",
            Step::Callback => "callback",
            Step::Bridge => "bridge",
            Step::Dialed => "dialed",
            Step::Answer => "answer",
            Step::Join => "join",
        }
    }
}

/// What is known when a step is answered.
#[derive(Debug, Clone, Default)]
pub struct CallFacts {
    /// The line is open now (by the IVR's hours).
    pub open: bool,
    /// The language chosen so far.
    pub language: Option<String>,
    /// The keys pressed (`Digits`) or words said (`SpeechResult`).
    pub digits: Option<String>,
    pub speech: Option<String>,
    /// Menu answers not understood so far.
    pub misses: u32,
    /// The team of the caller's open conversation, if any.
    pub open_conversation_team: Option<TeamId>,
    /// Place in the queue (1 = next), and seconds waited so far.
    pub queue_position: Option<u32>,
    pub queue_secs: u64,
    /// How the caller left the queue (`QueueResult`): `bridged`, `hangup`,
    /// `leave`, `error`…
    pub queue_result: Option<String>,
    /// Click-to-call: the customer's number, and the number shown to them.
    pub dial: Option<String>,
    pub caller_id: Option<String>,
    /// An offered call, answered: the room where the agent meets that
    /// caller (taken out of the queue), and who they are.
    pub room: Option<String>,
    pub caller_name: Option<String>,
    /// Where the recording of an answered call is reported, when the
    /// line records calls.
    pub recording_callback: Option<String>,
}

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say {
        text: String,
        language: String,
    },
    Play {
        url: String,
    },
    Pause {
        secs: u32,
    },
    /// Collects one key or a spoken answer, saying `prompt` meanwhile.
    Gather {
        action: String,
        language: String,
        hints: Vec<String>,
        prompt: Vec<Verb>,
    },
    Redirect {
        url: String,
    },
    Enqueue {
        queue: String,
        wait_url: String,
        action: String,
    },
    /// Leaves the queue (in a `waitUrl` answer).
    Leave,
    Record {
        action: String,
        max_secs: u32,
        transcribe_callback: Option<String>,
    },
    /// Rings a number and joins it to the call, recorded from the answer.
    Dial {
        number: String,
        caller_id: String,
        action: String,
        recording_callback: String,
    },
    /// Joins the call to a two-person conference room (the agent and the
    /// caller they answered), recorded from the start when a callback for
    /// the recording is given; it ends when either leaves.
    Conference {
        room: String,
        recording_callback: Option<String>,
    },
    Hangup,
}

/// What the call does next, and what Threadline notes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub verbs: Vec<Verb>,
    /// The language now spoken (kept for the next step).
    pub language: String,
    /// The queue the caller joins, if this step enqueues them (`None` for the inbox's own).
    pub enqueued: Option<Option<TeamId>>,
    /// The caller goes to voicemail.
    pub voicemail: bool,
    /// The menu was not understood (again).
    pub missed: bool,
    /// The caller asked to be called back.
    pub callback: bool,
}

/// The speech recognition language for a language.
pub fn speech_language(language: &str) -> &'static str {
    match language {
        "it" => "it-IT",
        _ => "en-GB",
    }
}

/// What the IVR says itself, in one language.
struct Texts {
    press: &'static str,
    or_say: &'static str,
    position: &'static str,
    open_conversation: &'static str,
    voicemail: &'static str,
    thanks: &'static str,
    callback_offer: &'static str,
    /// Words that accept the callback when spoken.
    callback_yes: [&'static str; 3],
    callback_booked: &'static str,
}

const IT: Texts = Texts {
    press: "premi",
    or_say: "oppure di'",
    position: "Sei in coda. Prima di te ci sono {n} persone.",
    open_conversation: "Ti passiamo a chi segue la tua richiesta.",
    voicemail: "Lascia un messaggio dopo il segnale: ti richiameremo.",
    thanks: "Grazie, a presto.",
    callback_offer: "Tutti i nostri operatori sono ancora occupati. Per essere richiamato a questo numero premi 1 oppure di' sì; \
                     altrimenti resta in linea per lasciare un messaggio.",
    callback_yes: ["sì", "si", "richiamatemi"],
    callback_booked: "Ti richiameremo a questo numero appena un operatore sarà libero. Grazie, a presto.",
};

const EN: Texts = Texts {
    press: "press",
    or_say: "or say",
    position: "You are in the queue. There are {n} callers ahead of you.",
    open_conversation: "We are putting you through to the team handling your request.",
    voicemail: "Please leave a message after the tone and we will call you back.",
    thanks: "Thank you, goodbye.",
    callback_offer: "All our agents are still busy. To be called back on this number, press 1 or say yes; \
                     or stay on the line to leave a message.",
    callback_yes: ["yes", "call me back", "call back"],
    callback_booked: "We will call you back on this number as soon as an agent is free. Thank you, goodbye.",
};

fn texts(language: &str) -> &'static Texts {
    if language == "it" { &IT } else { &EN }
}

/// The answer to one step. `url(step, language)` makes the URL of a next step.
pub fn answer(ivr: &Ivr, step: Step, facts: &CallFacts, url: &dyn Fn(Step, &str) -> String) -> Answer {
    let mut language = facts.language.clone().filter(|l| ivr.languages.contains(l)).unwrap_or_else(|| ivr.default_language().to_owned());
    let say = |text: String, language: &str| Verb::Say { text, language: speech_language(language).to_owned() };
    let mut out =
        Answer { verbs: Vec::new(), language: language.clone(), enqueued: None, voicemail: false, missed: false, callback: false };
    let voicemail = |verbs: &mut Vec<Verb>, language: &str| {
        verbs.push(Verb::Say { text: texts(language).voicemail.to_owned(), language: speech_language(language).to_owned() });
        verbs.push(Verb::Record {
            action: url(Step::Recorded, language),
            max_secs: 120,
            transcribe_callback: Some(url(Step::Recorded, language)),
        });
    };
    match step {
        Step::Start => {
            out.verbs.push(say(ivr.say(&ivr.greeting, &language), &language));
            if !facts.open {
                let closed = ivr.say(&ivr.closed, &language);
                if !closed.is_empty() {
                    out.verbs.push(say(closed, &language));
                }
                voicemail(&mut out.verbs, &language);
                out.voicemail = true;
            } else if ivr.languages.len() > 1 && facts.language.is_none() {
                let prompt = ivr
                    .languages
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let text =
                            if l == "it" { format!("Per l'italiano premi {}.", i + 1) } else { format!("For English, press {}.", i + 1) };
                        say(text, l)
                    })
                    .collect();
                out.verbs.push(Verb::Gather {
                    action: url(Step::Language, &language),
                    language: speech_language(&language).into(),
                    hints: Vec::new(),
                    prompt,
                });
                out.verbs.push(Verb::Redirect { url: url(Step::Menu, &language) });
            } else {
                out.verbs.extend(menu_or_queue(ivr, facts, &language, url, &mut out.enqueued));
            }
        }
        Step::Language => {
            let chosen =
                facts.digits.as_deref().and_then(|d| d.trim().parse::<usize>().ok()).and_then(|n| ivr.languages.get(n.wrapping_sub(1)));
            let spoken = facts.speech.as_deref().map(str::to_lowercase).and_then(|s| {
                ivr.languages
                    .iter()
                    .find(|l| (l.as_str() == "it" && s.contains("italian")) || (l.as_str() == "en" && s.contains("english")))
            });
            if let Some(chosen) = chosen.or(spoken) {
                language = chosen.clone();
                out.language = language.clone();
            }
            out.verbs.extend(menu_or_queue(ivr, facts, &language, url, &mut out.enqueued));
        }
        Step::Menu => out.verbs.extend(menu_or_queue(ivr, facts, &language, url, &mut out.enqueued)),
        Step::Choice => match chosen_option(ivr, facts, &language) {
            Some(option) => {
                out.verbs.push(Verb::Enqueue {
                    queue: queue_name(option.team_id),
                    wait_url: url(Step::Wait, &language),
                    action: url(Step::Left, &language),
                });
                out.enqueued = Some(option.team_id);
            }
            None if facts.misses >= 2 => {
                voicemail(&mut out.verbs, &language);
                out.voicemail = true;
                out.missed = true;
            }
            None => {
                out.missed = true;
                out.verbs.push(Verb::Redirect { url: url(Step::Menu, &language) });
            }
        },
        Step::Wait => {
            if facts.queue_secs >= ivr.max_wait_secs {
                out.verbs.push(Verb::Leave);
            } else {
                let ahead = facts.queue_position.unwrap_or(1).saturating_sub(1);
                out.verbs.push(say(texts(&language).position.replace("{n}", &ahead.to_string()), &language));
                match &ivr.hold_music_url {
                    Some(music) => out.verbs.push(Verb::Play { url: music.clone() }),
                    None => out.verbs.push(Verb::Pause { secs: 20 }),
                }
            }
        }
        Step::Left => match facts.queue_result.as_deref() {
            // Answered by an agent, or gone: nothing more to say.
            Some("bridged" | "hangup" | "bridging-in-process") => out.verbs.push(Verb::Hangup),
            // Taken out of the queue to meet the agent who answered: that goes on.
            Some("redirected" | "redirected-from-bridged") => {}
            // A callback first; no answer goes on to voicemail.
            _ if ivr.callback => {
                let t = texts(&language);
                out.verbs.push(Verb::Gather {
                    action: url(Step::Callback, &language),
                    language: speech_language(&language).to_owned(),
                    hints: t.callback_yes.iter().map(|w| (*w).to_owned()).collect(),
                    prompt: vec![say(t.callback_offer.to_owned(), &language)],
                });
                voicemail(&mut out.verbs, &language);
            }
            _ => {
                voicemail(&mut out.verbs, &language);
                out.voicemail = true;
            }
        },
        Step::Callback => {
            let t = texts(&language);
            // "No, don't call me back" is no.
            let refused = facts.speech.as_deref().is_some_and(|spoken| says_any(spoken, &["no", "non", "not", "don"]));
            let yes = facts.digits.as_deref().map(str::trim) == Some("1")
                || (!refused && facts.speech.as_deref().is_some_and(|spoken| says_any(spoken, &t.callback_yes)));
            if yes {
                out.callback = true;
                out.verbs.push(say(t.callback_booked.to_owned(), &language));
                out.verbs.push(Verb::Hangup);
            } else {
                voicemail(&mut out.verbs, &language);
            }
        }
        Step::Recorded => {
            out.voicemail = true;
            out.verbs.push(say(texts(&language).thanks.to_owned(), &language));
            out.verbs.push(Verb::Hangup);
        }
        Step::Bridge => match (&facts.dial, &facts.caller_id) {
            (Some(number), Some(caller_id)) => {
                let words = if language == "it" { "Ti mettiamo in contatto con il cliente." } else { "Connecting you to the customer." };
                out.verbs.push(say(words.to_owned(), &language));
                out.verbs.push(Verb::Dial {
                    number: number.clone(),
                    caller_id: caller_id.clone(),
                    action: url(Step::Dialed, &language),
                    recording_callback: format!("{}&recording=1", url(Step::Dialed, &language)),
                });
            }
            _ => out.verbs.push(Verb::Hangup),
        },
        Step::Dialed => out.verbs.push(Verb::Hangup),
        Step::Answer => match &facts.room {
            Some(room) => {
                let who =
                    facts.caller_name.clone().unwrap_or_else(|| if language == "it" { "un cliente".into() } else { "a customer".into() });
                let words = if language == "it" { format!("Chiamata da {who}.") } else { format!("Call from {who}.") };
                out.verbs.push(say(words, &language));
                out.verbs.push(Verb::Conference { room: room.clone(), recording_callback: facts.recording_callback.clone() });
            }
            // The caller has gone (or was taken by someone else).
            None => {
                let words = if language == "it" { "Il cliente ha riagganciato." } else { "The caller has hung up." };
                out.verbs.push(say(words.to_owned(), &language));
                out.verbs.push(Verb::Hangup);
            }
        },
        Step::Join => match &facts.room {
            Some(room) => out.verbs.push(Verb::Conference { room: room.clone(), recording_callback: None }),
            None => out.verbs.push(Verb::Hangup),
        },
    }
    out
}

/// Whether spoken words contain one of `phrases`, as whole words.
fn says_any(spoken: &str, phrases: &[&str]) -> bool {
    let words: Vec<String> =
        spoken.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect();
    let padded = format!(" {} ", words.join(" "));
    phrases.iter().any(|phrase| padded.contains(&format!(" {phrase} ")))
}

/// An agent a call could be offered to: as routing sees them (their load
/// on [`Channel::Voice`] is the calls they are on or being offered), and
/// where their phone rings, if they said.
#[derive(Debug, Clone, PartialEq)]
pub struct CallAgent {
    pub agent: Agent,
    pub phone: Option<String>,
}

/// Who a waiting call is offered to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub agent: UserId,
    pub phone: String,
    pub reason: String,
}

/// The agent to ring for a waiting call: the agent of the caller's open
/// conversation (`preferred`) when they can take it; otherwise the one the
/// team's routing picks for `call` (its strategy and skills; a call fills
/// the agent's voice capacity). Agents without a phone, and those in
/// `declined` (who let this call ring out), are passed over.
pub fn choose_agent(
    policy: &Policy,
    agents: &[CallAgent],
    call: &Waiting,
    preferred: Option<UserId>,
    declined: &[UserId],
) -> Option<Offer> {
    let ringable: Vec<&CallAgent> = agents.iter().filter(|a| a.phone.is_some() && !declined.contains(&a.agent.id)).collect();
    let phone_of = |id: UserId| ringable.iter().find(|a| a.agent.id == id).and_then(|a| a.phone.clone());
    if let Some(first) = preferred.and_then(|id| ringable.iter().find(|a| a.agent.id == id))
        && first.agent.presence == crate::routing::Presence::Online
        && first.agent.has_room(Channel::Voice)
    {
        let phone = first.phone.clone()?;
        return Some(Offer { agent: first.agent.id, phone, reason: format!("{} handles the caller's conversation", first.agent.name) });
    }
    let candidates: Vec<Agent> = ringable.iter().map(|a| a.agent.clone()).collect();
    let waiting = Waiting { channel: Channel::Voice, ..call.clone() };
    match crate::routing::decide(policy, &candidates, &waiting) {
        Decision::Assign { agent, reason } => Some(Offer { agent, phone: phone_of(agent)?, reason }),
        Decision::Wait { .. } => None,
    }
}

/// The room where an agent meets the caller they answered.
pub fn room_name(caller_sid: &str) -> String {
    format!("call-{caller_sid}")
}

/// The queue of a team (or the inbox's own).
pub fn queue_name(team: Option<TeamId>) -> String {
    match team {
        Some(team) => format!("team-{team}"),
        None => "inbox".to_owned(),
    }
}

/// The menu, or straight to the team of the caller's open conversation.
fn menu_or_queue(
    ivr: &Ivr,
    facts: &CallFacts,
    language: &str,
    url: &dyn Fn(Step, &str) -> String,
    enqueued: &mut Option<Option<TeamId>>,
) -> Vec<Verb> {
    let say = |text: String| Verb::Say { text, language: speech_language(language).to_owned() };
    if let Some(team) = facts.open_conversation_team {
        *enqueued = Some(Some(team));
        return vec![
            say(texts(language).open_conversation.to_owned()),
            Verb::Enqueue { queue: queue_name(Some(team)), wait_url: url(Step::Wait, language), action: url(Step::Left, language) },
        ];
    }
    if ivr.menu.is_empty() {
        *enqueued = Some(None);
        return vec![Verb::Enqueue { queue: queue_name(None), wait_url: url(Step::Wait, language), action: url(Step::Left, language) }];
    }
    let Texts { press, or_say, .. } = texts(language);
    let prompt = ivr
        .menu
        .iter()
        .map(|o| {
            let label = ivr.say(&o.label, language);
            let spoken = o.words.get(language).and_then(|w| w.first()).map(|w| format!(" {or_say} \"{w}\"")).unwrap_or_default();
            say(format!("{label}, {press} {}{spoken}.", o.digit))
        })
        .collect();
    let hints = ivr.menu.iter().flat_map(|o| o.words.get(language).cloned().unwrap_or_default()).collect();
    vec![
        Verb::Gather { action: url(Step::Choice, language), language: speech_language(language).to_owned(), hints, prompt },
        // No answer: the menu's answer step with nothing, which repeats it or goes to voicemail.
        Verb::Redirect { url: url(Step::Choice, language) },
    ]
}

fn chosen_option<'a>(ivr: &'a Ivr, facts: &CallFacts, language: &str) -> Option<&'a MenuOption> {
    if let Some(digits) = facts.digits.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        return ivr.menu.iter().find(|o| o.digit == digits);
    }
    let speech = facts.speech.as_deref()?.to_lowercase();
    ivr.menu.iter().find(|o| o.words.get(language).is_some_and(|words| words.iter().any(|w| speech.contains(&w.to_lowercase()))))
}

/// TwiML for `verbs`.
pub fn render(verbs: &[Verb]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for verb in verbs {
        render_verb(verb, &mut xml);
    }
    xml.push_str("</Response>");
    xml
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn render_verb(verb: &Verb, xml: &mut String) {
    match verb {
        Verb::Say { text, language } => xml.push_str(&format!("<Say language=\"{}\">{}</Say>", escape(language), escape(text))),
        Verb::Play { url } => xml.push_str(&format!("<Play>{}</Play>", escape(url))),
        Verb::Pause { secs } => xml.push_str(&format!("<Pause length=\"{secs}\"/>")),
        Verb::Gather { action, language, hints, prompt } => {
            xml.push_str(&format!(
                "<Gather input=\"dtmf speech\" numDigits=\"1\" timeout=\"5\" actionOnEmptyResult=\"false\" action=\"{}\" method=\"POST\" language=\"{}\"",
                escape(action),
                escape(language)
            ));
            if !hints.is_empty() {
                xml.push_str(&format!(" hints=\"{}\"", escape(&hints.join(", "))));
            }
            xml.push('>');
            for verb in prompt {
                render_verb(verb, xml);
            }
            xml.push_str("</Gather>");
        }
        Verb::Redirect { url } => xml.push_str(&format!("<Redirect method=\"POST\">{}</Redirect>", escape(url))),
        Verb::Enqueue { queue, wait_url, action } => xml.push_str(&format!(
            "<Enqueue waitUrl=\"{}\" waitUrlMethod=\"POST\" action=\"{}\" method=\"POST\">{}</Enqueue>",
            escape(wait_url),
            escape(action),
            escape(queue)
        )),
        Verb::Leave => xml.push_str("<Leave/>"),
        Verb::Record { action, max_secs, transcribe_callback } => {
            xml.push_str(&format!("<Record action=\"{}\" method=\"POST\" maxLength=\"{max_secs}\" playBeep=\"true\"", escape(action)));
            if let Some(callback) = transcribe_callback {
                xml.push_str(&format!(" transcribe=\"true\" transcribeCallback=\"{}\"", escape(callback)));
            }
            xml.push_str("/>");
        }
        Verb::Dial { number, caller_id, action, recording_callback } => xml.push_str(&format!(
            "<Dial callerId=\"{}\" action=\"{}\" method=\"POST\" record=\"record-from-answer-dual\" recordingStatusCallback=\"{}\" \
             recordingStatusCallbackMethod=\"POST\"><Number>{}</Number></Dial>",
            escape(caller_id),
            escape(action),
            escape(recording_callback),
            escape(number)
        )),
        Verb::Conference { room, recording_callback } => {
            xml.push_str("<Dial><Conference beep=\"false\" startConferenceOnEnter=\"true\" endConferenceOnExit=\"true\"");
            if let Some(callback) = recording_callback {
                xml.push_str(&format!(
                    " record=\"record-from-start\" recordingStatusCallback=\"{}\" recordingStatusCallbackMethod=\"POST\"",
                    escape(callback)
                ));
            }
            xml.push_str(&format!(">{}</Conference></Dial>", escape(room)));
        }
        Verb::Hangup => xml.push_str("<Hangup/>"),
    }
}

/// A call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Call {
    pub id: String,
    pub inbox_id: InboxId,
    pub call_sid: String,
    pub contact_id: ContactId,
    pub conversation_id: ConversationId,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub from_number: String,
    pub to_number: String,
    pub language: Option<String>,
    pub team_id: Option<TeamId>,
    /// Menu answers not understood.
    pub misses: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub enqueued_at: Option<OffsetDateTime>,
    pub queue_secs: Option<i64>,
    pub voicemail: bool,
    /// When an agent answered it (an offered call).
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// How long the agent and the customer talked.
    pub talk_secs: Option<i64>,
    /// The provider's last status (`ringing`, `in-progress`, `completed`…).
    pub status: String,
    pub duration_secs: Option<i64>,
    /// The agent it is offered to (or was, once answered).
    pub agent_id: Option<UserId>,
    /// The agent's own call while it is offered.
    pub offer_sid: Option<String>,
    /// Agents who let it ring out.
    pub declined: Vec<UserId>,
    /// The `call` task left when the caller asked to be called back.
    pub callback_task_id: Option<TaskId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(it: &str, en: &str) -> Words {
        [("it".to_owned(), it.to_owned()), ("en".to_owned(), en.to_owned())].into()
    }

    fn ivr() -> Ivr {
        Ivr {
            languages: vec!["it".into(), "en".into()],
            greeting: words("Benvenuto da Bottega Aurora.", "Welcome to Bottega Aurora."),
            menu: vec![
                MenuOption {
                    digit: "1".into(),
                    label: words("Per gli ordini", "For orders"),
                    words: [("it".to_owned(), vec!["ordine".to_owned()]), ("en".to_owned(), vec!["order".to_owned()])].into(),
                    team_id: Some(TeamId::new()),
                },
                MenuOption {
                    digit: "2".into(),
                    label: words("Per tutto il resto", "For anything else"),
                    words: Default::default(),
                    team_id: None,
                },
            ],
            hours: None,
            closed: words("Siamo chiusi.", "We are closed."),
            hold_music_url: Some("https://example.com/hold.mp3".into()),
            max_wait_secs: 60,
            record: false,
            callback: false,
            ring_secs: 20,
        }
    }

    fn url(step: Step, language: &str) -> String {
        format!("/hooks/voice/x?step={}&lang={language}", step.as_str())
    }

    #[test]
    fn an_open_line_greets_and_offers_the_languages() {
        let a = answer(&ivr(), Step::Start, &CallFacts { open: true, ..Default::default() }, &url);
        let xml = render(&a.verbs);
        assert!(
            xml.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"it-IT\">Benvenuto da Bottega Aurora.</Say><Gather"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("Per l&apos;italiano premi 1.") && xml.contains("<Say language=\"en-GB\">For English, press 2.</Say>"),
            "{xml}"
        );
        assert!(xml.contains("action=\"/hooks/voice/x?step=language&amp;lang=it\""), "{xml}");
    }

    #[test]
    fn a_closed_line_takes_a_message() {
        let a = answer(&ivr(), Step::Start, &CallFacts { open: false, ..Default::default() }, &url);
        assert!(a.voicemail);
        assert!(matches!(a.verbs.last(), Some(Verb::Record { .. })));
        assert!(render(&a.verbs).contains("Siamo chiusi."));
    }

    #[test]
    fn the_menu_takes_keys_and_words_and_leads_to_a_queue() {
        let i = ivr();
        let team = i.menu[0].team_id;
        let menu = answer(&i, Step::Language, &CallFacts { open: true, digits: Some("2".into()), ..Default::default() }, &url);
        assert_eq!(menu.language, "en");
        let xml = render(&menu.verbs);
        assert!(
            xml.contains("For orders, press 1 or say \"order\".") || xml.contains("For orders, press 1 or say &quot;order&quot;."),
            "{xml}"
        );
        assert!(xml.contains("hints=\"order\""), "{xml}");
        let by_key = answer(
            &i,
            Step::Choice,
            &CallFacts { open: true, language: Some("en".into()), digits: Some("1".into()), ..Default::default() },
            &url,
        );
        assert_eq!(by_key.enqueued, Some(team));
        let by_word = answer(
            &i,
            Step::Choice,
            &CallFacts { open: true, language: Some("it".into()), speech: Some("Il mio Ordine".into()), ..Default::default() },
            &url,
        );
        assert_eq!(by_word.enqueued, Some(team));
        let unknown = answer(&i, Step::Choice, &CallFacts { open: true, digits: Some("7".into()), ..Default::default() }, &url);
        assert!(unknown.missed && !unknown.voicemail && matches!(unknown.verbs[0], Verb::Redirect { .. }));
        let third = answer(&i, Step::Choice, &CallFacts { open: true, misses: 2, ..Default::default() }, &url);
        assert!(third.voicemail, "after two misses, voicemail");
    }

    #[test]
    fn an_open_conversation_goes_to_its_team_first() {
        let team = TeamId::new();
        let a = answer(
            &ivr(),
            Step::Language,
            &CallFacts { open: true, digits: Some("1".into()), open_conversation_team: Some(team), ..Default::default() },
            &url,
        );
        assert_eq!(a.enqueued, Some(Some(team)));
        assert!(render(&a.verbs).contains(&format!(">team-{team}</Enqueue>")));
    }

    #[test]
    fn waiting_announces_the_position_until_the_longest_wait() {
        let i = ivr();
        let a = answer(
            &i,
            Step::Wait,
            &CallFacts { language: Some("it".into()), queue_position: Some(3), queue_secs: 10, ..Default::default() },
            &url,
        );
        let xml = render(&a.verbs);
        assert!(xml.contains("Prima di te ci sono 2 persone.") && xml.contains("<Play>https://example.com/hold.mp3</Play>"), "{xml}");
        let over = answer(&i, Step::Wait, &CallFacts { queue_secs: 60, ..Default::default() }, &url);
        assert_eq!(over.verbs, vec![Verb::Leave]);
        let left = answer(&i, Step::Left, &CallFacts { queue_result: Some("leave".into()), ..Default::default() }, &url);
        assert!(left.voicemail);
        let bridged = answer(&i, Step::Left, &CallFacts { queue_result: Some("bridged".into()), ..Default::default() }, &url);
        assert_eq!(bridged.verbs, vec![Verb::Hangup]);
    }

    #[test]
    fn click_to_call_dials_the_customer_recorded() {
        let facts = CallFacts { dial: Some("+393471112233".into()), caller_id: Some("+390212345678".into()), ..Default::default() };
        let a = answer(&ivr(), Step::Bridge, &facts, &url);
        let xml = render(&a.verbs);
        assert!(xml.contains("Ti mettiamo in contatto con il cliente."), "{xml}");
        assert!(xml.contains("<Dial callerId=\"+390212345678\"") && xml.contains("record=\"record-from-answer-dual\""), "{xml}");
        assert!(xml.contains("<Number>+393471112233</Number></Dial>"), "{xml}");
        assert_eq!(answer(&ivr(), Step::Bridge, &CallFacts::default(), &url).verbs, vec![Verb::Hangup]);
    }

    #[test]
    fn an_answered_call_meets_its_agent_in_a_room_of_their_own() {
        let facts = CallFacts { room: Some("call-CA1".into()), caller_name: Some("Giulia Rossi".into()), ..Default::default() };
        let a = answer(&ivr(), Step::Answer, &CallFacts { language: Some("en".into()), ..facts.clone() }, &url);
        assert_eq!(
            render(&a.verbs).split("<Response>").nth(1).unwrap(),
            "<Say language=\"en-GB\">Call from Giulia Rossi.</Say><Dial><Conference beep=\"false\" startConferenceOnEnter=\"true\" \
             endConferenceOnExit=\"true\">call-CA1</Conference></Dial></Response>"
        );
        let joined = render(&answer(&ivr(), Step::Join, &facts, &url).verbs);
        assert!(joined.ends_with("<Dial><Conference beep=\"false\" startConferenceOnEnter=\"true\" endConferenceOnExit=\"true\">call-CA1</Conference></Dial></Response>"), "{joined}");
        let recorded = CallFacts { recording_callback: Some("/hooks/voice/x?step=dialed&recording=1&for=CA1".into()), ..facts };
        let xml = render(&answer(&ivr(), Step::Answer, &recorded, &url).verbs);
        assert!(
            xml.contains(
                " record=\"record-from-start\" recordingStatusCallback=\"/hooks/voice/x?step=dialed&amp;recording=1&amp;for=CA1\""
            ) && xml.ends_with(">call-CA1</Conference></Dial></Response>"),
            "{xml}"
        );
        // The caller went meanwhile: the agent is told, and the call ends.
        let gone = answer(&ivr(), Step::Answer, &CallFacts { language: Some("en".into()), ..Default::default() }, &url);
        assert!(render(&gone.verbs).contains("The caller has hung up.") && gone.verbs.last() == Some(&Verb::Hangup));
        // Taken out of the queue: the queue's own callback adds nothing.
        let redirected = answer(&ivr(), Step::Left, &CallFacts { queue_result: Some("redirected".into()), ..Default::default() }, &url);
        assert!(redirected.verbs.is_empty() && !redirected.voicemail);
    }

    fn agent(name: &str, online: bool, phone: Option<&str>, calls: u32) -> CallAgent {
        use crate::routing::Presence;
        CallAgent {
            agent: Agent {
                id: UserId::new(),
                name: name.into(),
                presence: if online { Presence::Online } else { Presence::Offline },
                skills: Default::default(),
                capacity: Default::default(),
                load: [(Channel::Voice, calls), (Channel::Email, 4)].into(),
                last_assigned_at: None,
            },
            phone: phone.map(str::to_owned),
        }
    }

    fn waiting_call(language: &str) -> Waiting {
        Waiting {
            id: crate::ids::ConversationId::new(),
            channel: Channel::Voice,
            priority: crate::conversation::Priority::Normal,
            queued_at: time::OffsetDateTime::UNIX_EPOCH,
            requirements: vec![crate::routing::Requirement { skill: format!("language:{language}"), min_level: 1 }],
        }
    }

    #[test]
    fn a_waiting_call_rings_one_free_agent_at_a_time() {
        use crate::routing::{SkillsPolicy, Strategy};
        let least_busy = Policy { strategy: Strategy::LeastBusy, skills: SkillsPolicy::default() };
        let agents = [
            agent("Anna", false, Some("+391"), 0),
            agent("Bruno", true, Some("+392"), 1),
            agent("Carla", true, None, 0),
            agent("Dario", true, Some("+394"), 0),
            agent("Elsa", true, Some("+395"), 0),
        ];
        let (bruno, dario, elsa) = (agents[1].agent.id, agents[3].agent.id, agents[4].agent.id);
        let call = waiting_call("it");
        let first = choose_agent(&least_busy, &agents, &call, None, &[]).unwrap();
        assert_eq!((first.agent, first.phone.as_str()), (dario, "+394"), "offline, on a call, and without a phone are passed over");
        let next = choose_agent(&least_busy, &agents, &call, None, &[dario]).unwrap();
        assert_eq!(next.agent, elsa, "who let it ring out is passed over");
        assert_eq!(choose_agent(&least_busy, &agents, &call, None, &[dario, elsa]), None, "nobody else can take it");
        assert_eq!(choose_agent(&least_busy, &agents, &call, Some(elsa), &[]).unwrap().agent, elsa, "the conversation's agent first");
        let busy = choose_agent(&least_busy, &agents, &call, Some(bruno), &[]).unwrap();
        assert_eq!(busy.agent, dario, "unless their call fills their voice capacity");

        // Routing by skills: the Italian speaker, though another is free.
        let mut skilled = agents.clone();
        skilled[4].agent.skills.insert("language:it".into(), 3);
        let skills = Policy { strategy: Strategy::Skills, skills: SkillsPolicy::default() };
        let offer = choose_agent(&skills, &skilled, &call, None, &[]).unwrap();
        assert_eq!(offer.agent, elsa, "{}", offer.reason);
        assert!(offer.reason.contains("language:it 3"), "{}", offer.reason);
    }

    #[test]
    fn after_the_longest_wait_a_caller_can_ask_to_be_called_back() {
        let mut i = ivr();
        i.callback = true;
        let left = answer(
            &i,
            Step::Left,
            &CallFacts { language: Some("en".into()), queue_result: Some("leave".into()), ..Default::default() },
            &url,
        );
        let xml = render(&left.verbs);
        assert!(xml.contains("action=\"/hooks/voice/x?step=callback&amp;lang=en\"") && xml.contains("press 1 or say yes"), "{xml}");
        assert!(xml.ends_with("<Record action=\"/hooks/voice/x?step=recorded&amp;lang=en\" method=\"POST\" maxLength=\"120\" playBeep=\"true\" transcribe=\"true\" transcribeCallback=\"/hooks/voice/x?step=recorded&amp;lang=en\"/></Response>"), "no answer: voicemail: {xml}");
        assert!(!left.voicemail && !left.callback);
        for (digits, speech) in [(Some("1"), None), (None, Some("Yes please."))] {
            let facts = CallFacts {
                language: Some("en".into()),
                digits: digits.map(Into::into),
                speech: speech.map(Into::into),
                ..Default::default()
            };
            let yes = answer(&i, Step::Callback, &facts, &url);
            assert!(yes.callback && !yes.voicemail, "{digits:?} {speech:?}");
            assert!(render(&yes.verbs).contains("We will call you back on this number") && yes.verbs.last() == Some(&Verb::Hangup));
        }
        let italian = CallFacts { language: Some("it".into()), speech: Some("Sì, richiamatemi".into()), ..Default::default() };
        assert!(answer(&i, Step::Callback, &italian, &url).callback);
        let refusal = CallFacts { language: Some("en".into()), speech: Some("No, don't call me back".into()), ..Default::default() };
        assert!(!answer(&i, Step::Callback, &refusal, &url).callback);
        let no = answer(
            &i,
            Step::Callback,
            &CallFacts { digits: Some("2".into()), speech: Some("yesterday".into()), ..Default::default() },
            &url,
        );
        assert!(!no.callback && matches!(no.verbs.last(), Some(Verb::Record { .. })), "anything else: voicemail");
        let recorded = answer(&i, Step::Recorded, &CallFacts::default(), &url);
        assert!(recorded.voicemail);
        i.ring_secs = 2;
        assert!(i.validate().is_err());
    }

    #[test]
    fn words_are_escaped_in_twiml() {
        let xml = render(&[Verb::Say { text: "<Hangup/> & \"x\"".into(), language: "en-GB".into() }]);
        assert!(xml.contains("&lt;Hangup/&gt; &amp; &quot;x&quot;"), "{xml}");
    }

    #[test]
    fn an_ivr_is_checked() {
        let mut bad = ivr();
        bad.languages = vec!["fr".into()];
        bad.menu[1].digit = "1".into();
        bad.hold_music_url = Some("ftp://x".into());
        let fields: Vec<String> = bad.validate().unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert!(fields.contains(&"ivr.languages".to_owned()) && fields.contains(&"ivr.menu[1].digit".to_owned()), "{fields:?}");
        assert!(fields.contains(&"ivr.hold_music_url".to_owned()));
        assert!(ivr().validate().is_ok());
    }
}
