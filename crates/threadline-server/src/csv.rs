//! CSV as spreadsheets read it (RFC 4180): every table a report shows can
//! be downloaded. Cells are customer content and hostile until proven
//! otherwise: text a spreadsheet would run as a formula (`=`, `+`, `-`,
//! `@`, tab or carriage return first) is prefixed with `'`.

/// One line of CSV, ending in CRLF.
pub fn line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let cell = cell.as_ref();
        let guarded;
        let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err() {
            guarded = format!("'{cell}");
            guarded.as_str()
        } else {
            cell
        };
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn quotes_and_disarms() {
        assert_eq!(line(&["a", "b,c", "say \"hi\""]), "a,\"b,c\",\"say \"\"hi\"\"\"\r\n");
        assert_eq!(line(&["=HYPERLINK(\"x\")", "-12.5", "@sum"]), "\"'=HYPERLINK(\"\"x\"\")\",-12.5,'@sum\r\n");
        assert_eq!(line(&["two\nlines"]), "\"two\nlines\"\r\n");
    }
}
