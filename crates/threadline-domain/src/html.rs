//! Customer HTML is hostile until proven otherwise. Every HTML body is
//! sanitised before it is stored, so nothing downstream (the agent UI, an
//! export, a webhook consumer) can be handed a script by mistake.

use std::collections::HashSet;

/// Sanitises HTML for display: an allow-list of formatting tags and
/// attributes (ammonia's defaults), no scripts, no event handlers, no
/// `javascript:` URLs, no relative URLs, links forced to open in a new tab
/// with `rel="noopener noreferrer"`, and
/// remote images blocked: `<img>` keeps only `data:` and `cid:` sources so an
/// email cannot tell its sender when it was read.
pub fn sanitize(html: &str) -> String {
    sanitize_with(html, RemoteImages::Block)
}

/// Whether `<img>` may load from the network (`http:`/`https:` sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteImages {
    /// The default: a remote image is a read receipt for its sender.
    #[default]
    Block,
    /// For an inbox whose owner chose to see them.
    Allow,
}

/// [`sanitize`], choosing what happens to remote images.
pub fn sanitize_with(html: &str, remote_images: RemoteImages) -> String {
    let url_schemes: HashSet<&str> = ["http", "https", "mailto", "tel", "cid", "data"].into_iter().collect();
    ammonia::Builder::default()
        .url_schemes(url_schemes)
        // A relative link in a customer's mail would point into Threadline
        // itself; links open in a new tab, never in the agent's workspace.
        .url_relative(ammonia::UrlRelative::Deny)
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            // Browsers ignore ASCII whitespace and control characters inside a
            // URL scheme ("da\tta:" is "data:"), so compare without them.
            let lower: String =
                value.chars().filter(|c| !c.is_ascii_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
            if element == "img" && attribute == "src" {
                let remote = lower.starts_with("https:") || lower.starts_with("http:");
                if lower.starts_with("data:image/") || lower.starts_with("cid:") || (remote && remote_images == RemoteImages::Allow) {
                    return Some(value.into());
                }
                return None;
            }
            if lower.starts_with("data:") {
                return None;
            }
            Some(value.into())
        })
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed() {
        let dirty = r#"<p onclick="steal()">Ciao <b>Maria</b></p><script>alert(1)</script>
            <a href="javascript:alert(1)">x</a><img src=x onerror=alert(1)>
            <svg><script>alert(2)</script></svg><iframe src="https://evil"></iframe>"#;
        let clean = sanitize(dirty);
        for forbidden in ["<script", "onclick", "onerror", "javascript:", "<iframe", "alert("] {
            assert!(!clean.contains(forbidden), "{forbidden} survived in {clean}");
        }
        assert!(clean.contains("<b>Maria</b>"));
    }

    #[test]
    fn remote_images_are_blocked_but_inline_ones_kept() {
        let clean = sanitize(r#"<img src="https://tracker.example/pixel.gif"><img src="cid:logo@x">"#);
        assert!(!clean.contains("tracker.example"));
        assert!(clean.contains("cid:logo@x"));
    }

    #[test]
    fn remote_images_can_be_allowed_but_never_scripts() {
        let clean = super::sanitize_with(
            r#"<img src="https://shop.example/logo.png" onerror="x()"><img src="javascript:alert(1)">"#,
            super::RemoteImages::Allow,
        );
        assert!(clean.contains("https://shop.example/logo.png"), "{clean}");
        assert!(!clean.contains("onerror") && !clean.contains("javascript:"), "{clean}");
    }

    #[test]
    fn links_are_kept_safe() {
        let clean = sanitize(r#"<a href="https://example.com/ordine">ordine</a>"#);
        assert!(clean.contains(r#"href="https://example.com/ordine""#));
        assert!(clean.contains("noopener") && clean.contains(r#"target="_blank""#), "{clean}");
        assert!(!sanitize(r#"<a href="/logout">x</a><img src="/api/v1/me">"#).contains("/logout"));
        assert!(!sanitize(r#"<a href="data:text/html,<script>alert(1)</script>">x</a>"#).contains("data:"));
        assert!(!sanitize("<a href=\"da&#9;ta:text/html,x\">x</a>").contains("ta:text"));
    }
}
