//! How many SMS a text costs: GSM 03.38's 7-bit alphabet when every
//! character is in it (160 per message, 153 per part of a longer one; the
//! extension characters `^{}\[~]|€` take two), UCS-2 otherwise (70, or 67
//! per part, counted in UTF-16 units). A character is never split across
//! parts, as phones reassemble them.

use serde::Serialize;

/// The basic GSM 7-bit default alphabet.
const GSM_BASIC: &str =
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each is sent as ESC plus the character.
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// What a text costs as SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SmsCost {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
    /// The characters that forced UCS-2 (at most ten), to replace if the cost matters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_gsm: Vec<char>,
}

fn gsm_units(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The cost of `text` as SMS (an empty text is one segment).
pub fn cost(text: &str) -> SmsCost {
    let non_gsm: Vec<char> = {
        let mut found: Vec<char> = text.chars().filter(|c| gsm_units(*c).is_none()).collect();
        found.dedup();
        found.truncate(10);
        found
    };
    let (encoding, sizes): (Encoding, Vec<usize>) = if non_gsm.is_empty() {
        (Encoding::Gsm7, text.chars().filter_map(gsm_units).collect())
    } else {
        (Encoding::Ucs2, text.chars().map(char::len_utf16).collect())
    };
    let (single, part) = match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    let units: usize = sizes.iter().sum();
    let segments = if units <= single {
        1
    } else {
        // Fill parts greedily without splitting a character.
        let mut segments = 1;
        let mut used = 0;
        for size in sizes {
            if used + size > part {
                segments += 1;
                used = 0;
            }
            used += size;
        }
        segments
    };
    SmsCost { encoding, units, segments, non_gsm }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_fits_160_then_153_per_part() {
        assert_eq!(cost("").segments, 1);
        let c = cost(&"a".repeat(160));
        assert_eq!((c.encoding, c.units, c.segments), (Encoding::Gsm7, 160, 1));
        assert_eq!(cost(&"a".repeat(161)).segments, 2);
        assert_eq!(cost(&"a".repeat(306)).segments, 2);
        assert_eq!(cost(&"a".repeat(307)).segments, 3);
        // Italian's small accented letters are in the GSM alphabet; a capital È is not.
        assert_eq!(cost("Perché è già lì? Però sì, più tardi").encoding, Encoding::Gsm7);
        let c = cost("È arrivato");
        assert_eq!((c.encoding, c.non_gsm.as_slice()), (Encoding::Ucs2, ['È'].as_slice()));
    }

    #[test]
    fn extension_characters_take_two_and_are_not_split() {
        let c = cost("Prezzo: 10€ [sconto]");
        assert_eq!(c.encoding, Encoding::Gsm7);
        assert_eq!(c.units, 20 + 3, "€, [ and ] take two septets each");
        // 152 septets then a € (two): it goes to the second part whole.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let c = cost(&text);
        assert_eq!(c.units, 164);
        assert_eq!(c.segments, 2);
    }

    #[test]
    fn other_characters_switch_to_ucs2() {
        let c = cost("Grazie 🙏");
        assert_eq!(c.encoding, Encoding::Ucs2);
        assert_eq!(c.units, 7 + 2, "an emoji is two UTF-16 units");
        assert_eq!(c.non_gsm, vec!['🙏']);
        assert_eq!(cost(&"ж".repeat(70)).segments, 1);
        assert_eq!(cost(&"ж".repeat(71)).segments, 2);
        assert_eq!(cost(&"ж".repeat(134)).segments, 2);
        assert_eq!(cost(&"ж".repeat(135)).segments, 3);
    }
}
