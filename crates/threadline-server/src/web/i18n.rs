//! The workspace's words in English and Italian. Every string a page shows
//! is a field of [`Texts`], so a missing translation does not compile.
//! The language is the browser's first preference that Threadline speaks
//! (`Accept-Language`), English otherwise.

use threadline_domain::channel::Channel;
use threadline_domain::conversation::{ConversationStatus, Priority};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    It,
}

impl Lang {
    /// The first language of `Accept-Language` that Threadline speaks.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let mut ranked: Vec<(f32, &str)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim();
                let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
                (!tag.is_empty()).then_some((q, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in ranked {
            match tag.split('-').next().map(str::to_ascii_lowercase).as_deref() {
                Some("it") => return Lang::It,
                Some("en") => return Lang::En,
                _ => {}
            }
        }
        Lang::En
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::It => "it",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }

    /// A date and time as people of this language write it.
    pub fn datetime(self, at: OffsetDateTime) -> String {
        let months_en = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let months_it = ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"];
        let month = at.month() as usize - 1;
        match self {
            Lang::En => format!("{} {}, {} {:02}:{:02} UTC", months_en[month], at.day(), at.year(), at.hour(), at.minute()),
            Lang::It => format!("{} {} {}, {:02}:{:02} UTC", at.day(), months_it[month], at.year(), at.hour(), at.minute()),
        }
    }

    /// How long ago, briefly: "5 min", "3 h", "2 d" / "2 g".
    pub fn ago(self, at: OffsetDateTime, now: OffsetDateTime) -> String {
        let minutes = (now - at).whole_minutes().max(0);
        let day = match self {
            Lang::En => "d",
            Lang::It => "g",
        };
        match minutes {
            0 => self.texts().just_now.to_owned(),
            1..=59 => format!("{minutes} min"),
            60..=1439 => format!("{} h", minutes / 60),
            _ => format!("{} {day}", minutes / 1440),
        }
    }

    /// An agent's availability as stored (`online`, `away`, `offline`).
    pub fn presence(self, status: &str) -> &'static str {
        let t = self.texts();
        match status {
            "online" => t.online,
            "away" => t.away,
            _ => t.offline,
        }
    }

    pub fn status(self, status: ConversationStatus) -> &'static str {
        let t = self.texts();
        match status {
            ConversationStatus::Open => t.status_open,
            ConversationStatus::Pending => t.status_pending,
            ConversationStatus::Snoozed => t.status_snoozed,
            ConversationStatus::Resolved => t.status_resolved,
        }
    }

    pub fn priority(self, priority: Priority) -> &'static str {
        let t = self.texts();
        match priority {
            Priority::Low => t.priority_low,
            Priority::Normal => t.priority_normal,
            Priority::High => t.priority_high,
            Priority::Urgent => t.priority_urgent,
        }
    }

    pub fn interaction(self, kind: threadline_domain::interaction::InteractionKind) -> &'static str {
        use threadline_domain::interaction::InteractionKind as K;
        match (kind, self) {
            (K::Call, Lang::En) => "Call",
            (K::Call, Lang::It) => "Chiamata",
            (K::ShopVisit, Lang::En) => "Shop visit",
            (K::ShopVisit, Lang::It) => "Visita in negozio",
            (K::Order, Lang::En) => "Order",
            (K::Order, Lang::It) => "Ordine",
            (K::PageView, Lang::En) => "Page view",
            (K::PageView, Lang::It) => "Pagina vista",
            (K::AppEvent, Lang::En) => "App event",
            (K::AppEvent, Lang::It) => "Evento nell'app",
            (K::SurveyAnswer, Lang::En) => "Survey answer",
            (K::SurveyAnswer, Lang::It) => "Risposta al sondaggio",
        }
    }

    /// A channel's name as agents know it.
    pub fn channel(self, channel: Channel) -> &'static str {
        match (channel, self) {
            (Channel::Email, _) => "Email",
            (Channel::Sms, _) => "SMS",
            (Channel::Whatsapp, _) => "WhatsApp",
            (Channel::Messenger, _) => "Messenger",
            (Channel::Instagram, _) => "Instagram",
            (Channel::Telegram, _) => "Telegram",
            (Channel::WebChat, Lang::En) => "Web chat",
            (Channel::WebChat, Lang::It) => "Chat web",
            (Channel::InApp, Lang::En) => "In-app",
            (Channel::InApp, Lang::It) => "In app",
            (Channel::Api, _) => "API",
            (other, _) => other.as_str(),
        }
    }
}

pub struct Texts {
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub wrong_credentials: &'static str,
    pub inbox: &'static str,
    pub all: &'static str,
    pub mine: &'static str,
    pub unassigned: &'static str,
    pub status: &'static str,
    pub assignee: &'static str,
    pub channel: &'static str,
    pub priority: &'static str,
    pub waiting: &'static str,
    pub no_conversations: &'static str,
    pub unknown_contact: &'static str,
    pub just_now: &'static str,
    pub status_open: &'static str,
    pub status_pending: &'static str,
    pub status_snoozed: &'static str,
    pub status_resolved: &'static str,
    pub priority_low: &'static str,
    pub priority_normal: &'static str,
    pub priority_high: &'static str,
    pub priority_urgent: &'static str,
    pub reply: &'static str,
    pub send: &'static str,
    pub note: &'static str,
    pub reply_on: &'static str,
    pub not_now: &'static str,
    pub resolve: &'static str,
    pub reopen: &'static str,
    pub customer: &'static str,
    pub identities: &'static str,
    pub quoted_history: &'static str,
    pub attachments: &'static str,
    pub automated: &'static str,
    pub problems: &'static str,
    pub failed: &'static str,
    pub back_to_inbox: &'static str,
    pub write_reply: &'static str,
    pub could_not_send: &'static str,
    pub attributes: &'static str,
    pub consents: &'static str,
    pub granted: &'static str,
    pub withdrawn: &'static str,
    pub other_conversations: &'static str,
    pub recent_activity: &'static str,
    pub team: &'static str,
    pub no_team: &'static str,
    pub labels: &'static str,
    pub snooze: &'static str,
    pub template_only: &'static str,
    pub template: &'static str,
    pub variables: &'static str,
    pub inbox_filter: &'static str,
    pub label: &'static str,
    pub admin: &'static str,
    pub inboxes: &'static str,
    pub users: &'static str,
    pub teams: &'static str,
    pub api_tokens: &'static str,
    pub webhooks: &'static str,
    pub name: &'static str,
    pub role: &'static str,
    pub members: &'static str,
    pub last_used: &'static str,
    pub never: &'static str,
    pub connected: &'static str,
    pub by_integration: &'static str,
    pub webhook_url: &'static str,
    pub events: &'static str,
    pub active: &'static str,
    pub inactive: &'static str,
    pub admin_only: &'static str,
    pub typing: &'static str,
    pub canned: &'static str,
    pub search: &'static str,
    pub mentioning_me: &'static str,
    pub online: &'static str,
    pub away: &'static str,
    pub offline: &'static str,
    pub language: &'static str,
    pub browser_language: &'static str,
    pub remove: &'static str,
    pub attribute_name: &'static str,
    pub attribute_value: &'static str,
    pub add: &'static str,
    pub possible_duplicates: &'static str,
    pub merge_here: &'static str,
    pub merge_confirm: &'static str,
    pub not_saved: &'static str,
    pub views: &'static str,
    pub save_view: &'static str,
    pub view_name: &'static str,
    pub delete_view: &'static str,
    pub admin_hint: &'static str,
    pub saved: &'static str,
    pub secret_once: &'static str,
    pub settings: &'static str,
    pub secrets: &'static str,
    pub secrets_keep: &'static str,
    pub save: &'static str,
    pub create: &'static str,
    pub delete: &'static str,
    pub deactivate: &'static str,
    pub revoke: &'static str,
    pub confirm_delete: &'static str,
    pub new_inbox: &'static str,
    pub new_user: &'static str,
    pub new_team: &'static str,
    pub new_token: &'static str,
    pub new_webhook: &'static str,
    pub new_canned: &'static str,
    pub add_member: &'static str,
    pub description: &'static str,
    pub canned_responses: &'static str,
    pub shortcut: &'static str,
    pub title: &'static str,
    pub text: &'static str,
    pub canned_body_hint: &'static str,
    pub events_hint: &'static str,
    pub mentioned_you: &'static str,
    pub open_it: &'static str,
}

pub const EN: Texts = Texts {
    sign_in: "Sign in",
    sign_out: "Sign out",
    email: "Email",
    password: "Password",
    wrong_credentials: "Wrong email or password.",
    inbox: "Inbox",
    all: "All",
    mine: "Mine",
    unassigned: "Unassigned",
    status: "Status",
    assignee: "Assignee",
    channel: "Channel",
    priority: "Priority",
    waiting: "waiting",
    no_conversations: "No conversations here.",
    unknown_contact: "Unknown customer",
    just_now: "now",
    status_open: "Open",
    status_pending: "Pending",
    status_snoozed: "Snoozed",
    status_resolved: "Resolved",
    priority_low: "Low",
    priority_normal: "Normal",
    priority_high: "High",
    priority_urgent: "Urgent",
    reply: "Reply",
    send: "Send",
    note: "Private note",
    reply_on: "Reply on",
    not_now: "not now",
    resolve: "Resolve",
    reopen: "Reopen",
    customer: "Customer",
    identities: "Identities",
    quoted_history: "Quoted history",
    attachments: "Attachments",
    automated: "Automatic message",
    problems: "Could not be read in full",
    failed: "Not delivered",
    back_to_inbox: "Back to the inbox",
    write_reply: "Write your reply…",
    could_not_send: "The message could not be sent",
    attributes: "Attributes",
    consents: "Consents",
    granted: "granted",
    withdrawn: "withdrawn",
    other_conversations: "Other conversations",
    recent_activity: "Recent activity",
    team: "Team",
    no_team: "No team",
    labels: "Labels",
    snooze: "Snooze until tomorrow",
    template_only: "template only",
    template: "Template",
    variables: "Values",
    inbox_filter: "Inbox",
    label: "Label",
    admin: "Administration",
    inboxes: "Inboxes",
    users: "Users",
    teams: "Teams",
    api_tokens: "API tokens",
    webhooks: "Webhooks",
    name: "Name",
    role: "Role",
    members: "Members",
    last_used: "Last used",
    never: "never",
    connected: "Connected to the provider",
    by_integration: "Served by an integration",
    webhook_url: "Webhook URL",
    events: "Events",
    active: "active",
    inactive: "inactive",
    admin_only: "Only administrators can see this page.",
    typing: "is typing…",
    canned: "Canned response",
    search: "Search messages and customers",
    mentioning_me: "Mentioning me",
    online: "online",
    away: "away",
    offline: "offline",
    language: "Language",
    browser_language: "As the browser",
    remove: "Remove",
    attribute_name: "Attribute",
    attribute_value: "Value",
    add: "Add",
    possible_duplicates: "Possibly the same customer",
    merge_here: "Merge into this customer",
    merge_confirm: "Merge this contact into the customer shown? Its identities and conversations move here.",
    not_saved: "Not saved",
    views: "Views",
    save_view: "Save as view",
    view_name: "Name of the view",
    delete_view: "Delete view",
    admin_hint: "Everything here is also in the REST API (see /api/v1/openapi.json).",
    saved: "Saved",
    secret_once: "Copy this secret now: it will not be shown again.",
    settings: "Settings",
    secrets: "Credentials",
    secrets_keep: "Credentials (JSON): empty keeps the current ones",
    save: "Save",
    create: "Create",
    delete: "Delete",
    deactivate: "Deactivate",
    revoke: "Revoke",
    confirm_delete: "Are you sure? This cannot be undone.",
    new_inbox: "New inbox",
    new_user: "New user",
    new_team: "New team",
    new_token: "New API token",
    new_webhook: "New webhook",
    new_canned: "New canned response (the same shortcut replaces it)",
    add_member: "Add member",
    description: "Description",
    canned_responses: "Canned responses",
    shortcut: "Shortcut",
    title: "Title",
    text: "Text",
    canned_body_hint: "Text; variables: {{contact.first_name}}, {{agent.name}}…",
    events_hint: "Event types separated by commas, or * for all",
    mentioned_you: "A colleague mentioned you in a note.",
    open_it: "Open",
};

pub const IT: Texts = Texts {
    sign_in: "Accedi",
    sign_out: "Esci",
    email: "Email",
    password: "Password",
    wrong_credentials: "Email o password errati.",
    inbox: "Posta in arrivo",
    all: "Tutte",
    mine: "Mie",
    unassigned: "Non assegnate",
    status: "Stato",
    assignee: "Assegnatario",
    channel: "Canale",
    priority: "Priorità",
    waiting: "in attesa",
    no_conversations: "Nessuna conversazione.",
    unknown_contact: "Cliente sconosciuto",
    just_now: "ora",
    status_open: "Aperta",
    status_pending: "In sospeso",
    status_snoozed: "Posticipata",
    status_resolved: "Risolta",
    priority_low: "Bassa",
    priority_normal: "Normale",
    priority_high: "Alta",
    priority_urgent: "Urgente",
    reply: "Rispondi",
    send: "Invia",
    note: "Nota privata",
    reply_on: "Rispondi su",
    not_now: "non ora",
    resolve: "Risolvi",
    reopen: "Riapri",
    customer: "Cliente",
    identities: "Identità",
    quoted_history: "Messaggi citati",
    attachments: "Allegati",
    automated: "Messaggio automatico",
    problems: "Non letto per intero",
    failed: "Non consegnato",
    back_to_inbox: "Torna alla posta in arrivo",
    write_reply: "Scrivi la risposta…",
    could_not_send: "Non è stato possibile inviare il messaggio",
    attributes: "Attributi",
    consents: "Consensi",
    granted: "dato",
    withdrawn: "revocato",
    other_conversations: "Altre conversazioni",
    recent_activity: "Attività recenti",
    team: "Team",
    no_team: "Nessun team",
    labels: "Etichette",
    snooze: "Posticipa a domani",
    template_only: "solo modello",
    template: "Modello",
    variables: "Valori",
    inbox_filter: "Casella",
    label: "Etichetta",
    admin: "Amministrazione",
    inboxes: "Caselle",
    users: "Utenti",
    teams: "Team",
    api_tokens: "Token API",
    webhooks: "Webhook",
    name: "Nome",
    role: "Ruolo",
    members: "Membri",
    last_used: "Ultimo uso",
    never: "mai",
    connected: "Collegata al fornitore",
    by_integration: "Gestita da un'integrazione",
    webhook_url: "URL del webhook",
    events: "Eventi",
    active: "attivo",
    inactive: "non attivo",
    admin_only: "Solo gli amministratori possono vedere questa pagina.",
    typing: "sta scrivendo…",
    canned: "Risposta pronta",
    search: "Cerca nei messaggi e nei clienti",
    mentioning_me: "Che mi citano",
    online: "online",
    away: "assente",
    offline: "offline",
    language: "Lingua",
    browser_language: "Come il browser",
    remove: "Rimuovi",
    attribute_name: "Attributo",
    attribute_value: "Valore",
    add: "Aggiungi",
    possible_duplicates: "Forse lo stesso cliente",
    merge_here: "Unisci a questo cliente",
    merge_confirm: "Unire questo contatto al cliente mostrato? Identità e conversazioni passano qui.",
    not_saved: "Non salvato",
    views: "Viste",
    save_view: "Salva come vista",
    view_name: "Nome della vista",
    delete_view: "Elimina vista",
    admin_hint: "Tutto ciò che è qui è anche nella REST API (vedi /api/v1/openapi.json).",
    saved: "Salvato",
    secret_once: "Copia ora questo segreto: non verrà più mostrato.",
    settings: "Impostazioni",
    secrets: "Credenziali",
    secrets_keep: "Credenziali (JSON): vuoto mantiene quelle attuali",
    save: "Salva",
    create: "Crea",
    delete: "Elimina",
    deactivate: "Disattiva",
    revoke: "Revoca",
    confirm_delete: "Sei sicuro? Non si può annullare.",
    new_inbox: "Nuova casella",
    new_user: "Nuovo utente",
    new_team: "Nuovo team",
    new_token: "Nuovo token API",
    new_webhook: "Nuovo webhook",
    new_canned: "Nuova risposta rapida (la stessa scorciatoia la sostituisce)",
    add_member: "Aggiungi membro",
    description: "Descrizione",
    canned_responses: "Risposte rapide",
    shortcut: "Scorciatoia",
    title: "Titolo",
    text: "Testo",
    canned_body_hint: "Testo; variabili: {{contact.first_name}}, {{agent.name}}…",
    events_hint: "Tipi di evento separati da virgole, o * per tutti",
    mentioned_you: "Un collega ti ha menzionato in una nota.",
    open_it: "Apri",
};

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn the_browsers_preference_decides() {
        assert_eq!(Lang::negotiate(Some("it-IT,it;q=0.9,en;q=0.8")), Lang::It);
        assert_eq!(Lang::negotiate(Some("de-DE,en;q=0.5,it;q=0.4")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr, it;q=0.3")), Lang::It);
        assert_eq!(Lang::negotiate(None), Lang::En);
    }

    #[test]
    fn dates_follow_the_language() {
        let at = time::macros::datetime!(2026-11-23 09:05 UTC);
        assert_eq!(Lang::En.datetime(at), "Nov 23, 2026 09:05 UTC");
        assert_eq!(Lang::It.datetime(at), "23 nov 2026, 09:05 UTC");
        assert_eq!(Lang::It.ago(at, at + time::Duration::days(2)), "2 g");
    }
}
