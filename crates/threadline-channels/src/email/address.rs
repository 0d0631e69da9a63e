//! Plus-addressed reply addresses: `support+TAG@shop.example` is delivered
//! to `support@shop.example` by the mail system, and the tag tells
//! Threadline which conversation the mail answers. The tag itself (and its
//! signature) is made by the server; this module only places and finds it.

/// The longest local part RFC 5321 allows.
const MAX_LOCAL_PART: usize = 64;

/// `address` with `tag` added to its local part, or `None` when the result
/// would be too long to be a valid address.
pub fn with_tag(address: &str, tag: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let local = local.split_once('+').map_or(local, |(base, _)| base);
    let tagged = format!("{local}+{tag}");
    (tagged.len() <= MAX_LOCAL_PART && !domain.is_empty()).then(|| format!("{tagged}@{domain}"))
}

/// The address without its tag, lower-cased: what an inbox is known by.
pub fn base(address: &str) -> String {
    let address = address.trim().trim_matches(['<', '>']).to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{}@{domain}", local.split_once('+').map_or(local, |(base, _)| base)),
        None => address,
    }
}

/// The tag of a plus-addressed recipient, if there is one.
pub fn tag(address: &str) -> Option<&str> {
    let (local, _) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    local.split_once('+').map(|(_, tag)| tag).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_added_found_and_removed() {
        let tagged = with_tag("Aiuto@Bottega.example", "c0193abc").unwrap();
        assert_eq!(tagged, "Aiuto+c0193abc@Bottega.example");
        assert_eq!(tag(&tagged), Some("c0193abc"));
        assert_eq!(base(&tagged), "aiuto@bottega.example");
        assert_eq!(tag("aiuto@bottega.example"), None);
        assert_eq!(base("<aiuto@bottega.example>"), "aiuto@bottega.example");
    }

    #[test]
    fn an_address_that_would_be_too_long_gets_no_tag() {
        let long = format!("{}@example.com", "a".repeat(40));
        assert_eq!(with_tag(&long, &"t".repeat(40)), None);
    }
}
