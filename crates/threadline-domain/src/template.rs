//! Message templates with numbered variables: `Ciao {{1}}, il tuo ordine
//! {{2}} è pronto.` (the notation WhatsApp uses).

/// The number of variables in `body`. The variables must be numbered from
/// 1 without gaps (a body may use one more than once).
pub fn count_variables(body: &str) -> Result<usize, String> {
    let mut seen = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return Err("has a `{{` without its `}}`".into()) };
        let inner = after[..end].trim();
        let n: usize = inner.parse().map_err(|_| format!("has `{{{{{inner}}}}}`; variables are numbers: {{{{1}}}}, {{{{2}}}}…"))?;
        if n == 0 || n > 100 {
            return Err(format!("has variable {{{{{n}}}}}; they are numbered from 1 to 100"));
        }
        seen.push(n);
        rest = &after[end + 2..];
    }
    seen.sort_unstable();
    seen.dedup();
    match seen.iter().enumerate().find(|(i, n)| **n != i + 1) {
        Some((i, _)) => Err(format!("skips variable {{{{{}}}}}; number them from 1 without gaps", i + 1)),
        None => Ok(seen.len()),
    }
}

/// `body` with each `{{n}}` replaced by `values[n-1]`.
pub fn render(body: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| Some((end, after[..end].trim().parse::<usize>().ok()?))) {
            Some((end, n)) if (1..=values.len()).contains(&n) => {
                out.push_str(&values[n - 1]);
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_counted_and_filled() {
        let body = "Ciao {{1}}, il tuo ordine {{2}} è pronto. Grazie {{1}}!";
        assert_eq!(count_variables(body), Ok(2));
        assert_eq!(render(body, &["Giulia".into(), "A-1042".into()]), "Ciao Giulia, il tuo ordine A-1042 è pronto. Grazie Giulia!");
        assert_eq!(count_variables("no variables"), Ok(0));
    }

    #[test]
    fn bad_numbering_is_explained() {
        assert!(count_variables("{{1}} and {{3}}").unwrap_err().contains("skips variable {{2}}"));
        assert!(count_variables("{{name}}").unwrap_err().contains("numbers"));
        assert!(count_variables("{{1").is_err());
        assert!(count_variables("{{0}}").is_err());
    }
}
