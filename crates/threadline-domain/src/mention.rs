//! `@mentions` in agents' private notes: `@paolo`, `@Paolo.Neri` or
//! `@paolo.neri@shop.example`-style local parts name a colleague, who then
//! finds the conversation under "Mentioning me".

use crate::ids::UserId;

/// A colleague who can be mentioned.
#[derive(Debug, Clone)]
pub struct Mentionable<'a> {
    pub id: UserId,
    pub name: &'a str,
    pub email: &'a str,
}

fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// The users a note mentions, each once, in the order first mentioned. A
/// mention matches a user's first name, full name with `.` or `_` between
/// the words, or the local part of their email, case-insensitively.
pub fn mentioned(text: &str, users: &[Mentionable<'_>]) -> Vec<UserId> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        // An address (name@domain) is not a mention.
        if text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        let handle: String = text[at + 1..].chars().take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-')).collect::<String>();
        let handle = fold(handle.trim_end_matches(['.', '-', '_']));
        if handle.is_empty() {
            continue;
        }
        let matches = |u: &Mentionable<'_>| {
            let name = fold(u.name);
            let first = name.split_whitespace().next().unwrap_or_default().to_owned();
            let joined: Vec<String> =
                ['.', '_', '-'].iter().map(|sep| name.split_whitespace().collect::<Vec<_>>().join(&sep.to_string())).collect();
            let local = fold(u.email.split('@').next().unwrap_or_default());
            handle == first || joined.contains(&handle) || handle == local
        };
        let candidates: Vec<&Mentionable<'_>> = users.iter().filter(|u| matches(u)).collect();
        // An ambiguous first name (two Paolos) mentions nobody; the full name does.
        if let [only] = candidates.as_slice()
            && !found.contains(&only.id)
        {
            found.push(only.id);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colleagues_are_found_by_first_name_full_name_or_address() {
        let (paolo, emma, other_paolo) = (UserId::new(), UserId::new(), UserId::new());
        let users = [
            Mentionable { id: paolo, name: "Paolo Neri", email: "paolo@shop.example" },
            Mentionable { id: emma, name: "Emma Bianchi", email: "e.bianchi@shop.example" },
        ];
        assert_eq!(mentioned("@emma puoi guardare? cc @Paolo.", &users), vec![emma, paolo]);
        assert_eq!(mentioned("@e.bianchi @emma_bianchi", &users), vec![emma]);
        assert!(mentioned("scrivi a paolo@shop.example", &users).is_empty(), "an address is not a mention");
        let mut two = users.to_vec();
        two.push(Mentionable { id: other_paolo, name: "Paolo Rossi", email: "p.rossi@shop.example" });
        assert!(mentioned("@paolo", &two).is_empty(), "two Paolos: ambiguous");
        assert_eq!(mentioned("@paolo.rossi", &two), vec![other_paolo]);
    }
}
