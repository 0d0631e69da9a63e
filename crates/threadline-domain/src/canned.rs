//! Canned responses: answers agents reuse, with named variables filled in
//! for the conversation at hand — `{{contact.name}}`,
//! `{{contact.first_name}}`, `{{agent.name}}`, `{{agent.first_name}}`, and
//! the customer's latest order from the shop: `{{order.number}}`,
//! `{{order.status}}` (in the customer's language), `{{order.carrier}}`,
//! `{{order.tracking_number}}`, `{{order.tracking_url}}`.

use crate::order::OrderFacts;

/// The variables a canned response may use.
pub const VARIABLES: [&str; 9] = [
    "contact.name",
    "contact.first_name",
    "agent.name",
    "agent.first_name",
    "order.number",
    "order.status",
    "order.carrier",
    "order.tracking_number",
    "order.tracking_url",
];

/// The values for one conversation.
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    pub contact_name: Option<&'a str>,
    pub agent_name: &'a str,
    /// The customer's latest order, if the shop reported any.
    pub order: Option<&'a OrderFacts>,
    /// The customer's language (an order's status is written in it).
    pub language: Option<&'a str>,
}

fn first(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// `body` with its variables filled in; a contact without a name leaves
/// an empty place (and the space before it) rather than a placeholder.
pub fn fill(body: &str, values: &Values<'_>) -> String {
    let contact = values.contact_name.unwrap_or("").trim();
    let order = values.order;
    let parcel = order.and_then(|o| o.shipments.last());
    let replacements = [
        ("{{contact.name}}", contact),
        ("{{contact.first_name}}", first(contact)),
        ("{{agent.name}}", values.agent_name),
        ("{{agent.first_name}}", first(values.agent_name)),
        ("{{order.number}}", order.map_or("", |o| o.number.as_str())),
        ("{{order.status}}", order.map_or("", |o| crate::order::status_label(o.status, values.language.unwrap_or("en")))),
        ("{{order.carrier}}", parcel.and_then(|p| p.carrier.as_deref()).unwrap_or("")),
        ("{{order.tracking_number}}", parcel.and_then(|p| p.tracking_number.as_deref()).unwrap_or("")),
        ("{{order.tracking_url}}", parcel.and_then(|p| p.tracking_url.as_deref()).unwrap_or("")),
    ];
    let mut out = body.to_owned();
    for (variable, value) in replacements {
        if value.is_empty() {
            out = out.replace(&format!(" {variable}"), "").replace(variable, "");
        } else {
            out = out.replace(variable, value);
        }
    }
    out
}

/// The text in `language`: its own translation, else the translation of
/// its primary language (`it` for `it-CH`), else the default body; with
/// the tag of the translation used (`None`: the default).
pub fn variant<'a>(
    body: &'a str,
    translations: &'a std::collections::BTreeMap<String, String>,
    language: Option<&str>,
) -> (Option<&'a str>, &'a str) {
    let Some(language) = language.map(str::to_ascii_lowercase) else { return (None, body) };
    let primary = language.split(['-', '_']).next().unwrap_or_default().to_owned();
    translations
        .iter()
        .find(|(tag, _)| tag.to_ascii_lowercase() == language)
        .or_else(|| translations.iter().find(|(tag, _)| tag.to_ascii_lowercase() == primary))
        .map_or((None, body), |(tag, text)| (Some(tag.as_str()), text.as_str()))
}

/// The approved WhatsApp template that stands in for a canned response
/// outside WhatsApp's 24 hours: its name, and which variable fills each
/// of its numbered places (`["contact.first_name", "agent.name"]` fills
/// `{{1}}` and `{{2}}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappMapping {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub variables: Vec<String>,
}

impl WhatsappMapping {
    /// The values for the template's places.
    pub fn values(&self, values: &Values<'_>) -> Vec<String> {
        self.variables.iter().map(|v| fill(&format!("{{{{{v}}}}}"), values).trim().to_owned()).collect()
    }
}

/// The first `{{…}}` in `body` that is not a known variable.
pub fn unknown_variable(body: &str) -> Option<String> {
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return Some(after.chars().take(40).collect()) };
        let name = after[..end].trim();
        if !VARIABLES.contains(&name) {
            return Some(name.to_owned());
        }
        rest = &after[end + 2..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_for_the_conversation() {
        let values = Values { contact_name: Some("Giulia Bianchi"), agent_name: "Paolo Neri", ..Values::default() };
        assert_eq!(fill("Ciao {{contact.first_name}}, sono {{agent.first_name}}.", &values), "Ciao Giulia, sono Paolo.");
        assert_eq!(fill("Gentile {{contact.name}}", &values), "Gentile Giulia Bianchi");
        let nameless = Values { contact_name: None, agent_name: "Paolo", ..Values::default() };
        assert_eq!(fill("Ciao {{contact.first_name}}, grazie!", &nameless), "Ciao, grazie!");
    }

    #[test]
    fn the_customers_language_is_chosen_then_its_primary_then_the_default() {
        let translations: std::collections::BTreeMap<String, String> =
            [("it".to_owned(), "Ciao".to_owned()), ("en-GB".to_owned(), "Hello, mate".to_owned())].into();
        assert_eq!(variant("Hi", &translations, Some("it-CH")), (Some("it"), "Ciao"));
        assert_eq!(variant("Hi", &translations, Some("en-gb")), (Some("en-GB"), "Hello, mate"));
        assert_eq!(variant("Hi", &translations, Some("en-US")), (None, "Hi"), "no `en` of its own: the default");
        assert_eq!(variant("Hi", &translations, None), (None, "Hi"));
        let mapping = WhatsappMapping { name: "order_update".into(), variables: vec!["contact.first_name".into(), "agent.name".into()] };
        let values = Values { contact_name: Some("Giulia Bianchi"), agent_name: "Paolo Neri", ..Values::default() };
        assert_eq!(mapping.values(&values), ["Giulia", "Paolo Neri"]);
    }

    #[test]
    fn the_customers_latest_order_fills_its_variables() {
        let order = OrderFacts {
            external_id: "A-1".into(),
            number: "#1001".into(),
            status: crate::order::OrderStatus::Shipped,
            currency: "EUR".into(),
            total: "59.90".into(),
            customer: Default::default(),
            items: Vec::new(),
            shipments: vec![crate::order::Shipment {
                id: None,
                carrier: Some("BRT".into()),
                tracking_number: Some("0123".into()),
                tracking_url: Some("https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123".into()),
                status: None,
                shipped_at: None,
            }],
            refunds: Vec::new(),
            placed_at: time::macros::datetime!(2026-12-01 10:00 UTC),
            updated_at: time::macros::datetime!(2026-12-02 09:00 UTC),
        };
        let values = Values { contact_name: Some("Giulia"), agent_name: "Paolo", order: Some(&order), language: Some("it") };
        assert_eq!(
            fill("L'ordine {{order.number}} è {{order.status}} con {{order.carrier}}: {{order.tracking_url}}", &values),
            "L'ordine #1001 è spedito con BRT: https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123"
        );
        assert_eq!(unknown_variable("{{order.tracking_number}}"), None);
        let mapping = WhatsappMapping { name: "order_shipped".into(), variables: vec!["order.number".into(), "order.tracking_url".into()] };
        assert_eq!(mapping.values(&values), ["#1001", "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz=0123"]);
        // No order: the places are left empty, never a placeholder.
        let none = Values { contact_name: Some("Giulia"), agent_name: "Paolo", ..Values::default() };
        assert_eq!(fill("Ordine {{order.number}}.", &none), "Ordine.");
    }

    #[test]
    fn unknown_variables_are_found() {
        assert_eq!(unknown_variable("Ciao {{contact.name}}"), None);
        assert_eq!(unknown_variable("Ciao {{customer}}").as_deref(), Some("customer"));
        assert_eq!(unknown_variable("Ciao {{contact.name").as_deref(), Some("contact.name"));
    }
}
