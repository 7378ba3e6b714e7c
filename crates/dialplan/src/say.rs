//! `say`: digits, numbers and dates spoken from prompt fragments, in French and English.
//!
//! A value is turned into a list of fragment prompts (`say/40`, `say/2` for "quarante-deux"),
//! which the interpreter plays in one `Play` command like any other prompts, so they resolve
//! per language with the same fallback. [`FRAGMENTS_FR`] and [`FRAGMENTS_EN`] list every
//! fragment with the words it holds; `sounds/make-prompts.sh` records exactly these, and a test
//! checks that each one has its WAV file in the shipped `sounds/`.
//!
//! French follows the usual rules: "et" before un and onze in 21…71 ("vingt et un",
//! "soixante et onze") but not in 81 and 91 ("quatre-vingt-un"); 70–79 and 90–99 count on from
//! soixante and quatre-vingt ("soixante-douze", "quatre-vingt-dix-neuf"); "quatre-vingts" and
//! "deux cents" take their s only when nothing follows ("quatre-vingt-trois", "deux cent
//! mille"); "mille" never does. English is British: "one hundred and five". Dates are
//! "jeudi vingt-quatre décembre" (with "premier" for the 1st) and "Thursday the twenty-fourth
//! of December".

use jiff::civil::Date;

use crate::ast::SayKind;

/// French fragments: prompt name (under `say/`) and the words it holds.
#[rustfmt::skip]
pub const FRAGMENTS_FR: &[(&str, &str)] = &[
    ("0", "zéro"), ("1", "un"), ("2", "deux"), ("3", "trois"), ("4", "quatre"),
    ("5", "cinq"), ("6", "six"), ("7", "sept"), ("8", "huit"), ("9", "neuf"),
    ("10", "dix"), ("11", "onze"), ("12", "douze"), ("13", "treize"), ("14", "quatorze"),
    ("15", "quinze"), ("16", "seize"), ("17", "dix-sept"), ("18", "dix-huit"), ("19", "dix-neuf"),
    ("20", "vingt"), ("30", "trente"), ("40", "quarante"), ("50", "cinquante"),
    ("60", "soixante"), ("80", "quatre-vingt"), ("80s", "quatre-vingts"),
    ("100", "cent"), ("100s", "cents"), ("1000", "mille"),
    ("million", "million"), ("millions", "millions"), ("and", "et"),
    ("star", "étoile"), ("hash", "dièse"), ("first", "premier"),
    ("month-1", "janvier"), ("month-2", "février"), ("month-3", "mars"), ("month-4", "avril"),
    ("month-5", "mai"), ("month-6", "juin"), ("month-7", "juillet"), ("month-8", "août"),
    ("month-9", "septembre"), ("month-10", "octobre"), ("month-11", "novembre"),
    ("month-12", "décembre"),
    ("day-1", "lundi"), ("day-2", "mardi"), ("day-3", "mercredi"), ("day-4", "jeudi"),
    ("day-5", "vendredi"), ("day-6", "samedi"), ("day-7", "dimanche"),
];

/// English fragments: prompt name (under `say/`) and the words it holds.
#[rustfmt::skip]
pub const FRAGMENTS_EN: &[(&str, &str)] = &[
    ("0", "zero"), ("1", "one"), ("2", "two"), ("3", "three"), ("4", "four"),
    ("5", "five"), ("6", "six"), ("7", "seven"), ("8", "eight"), ("9", "nine"),
    ("10", "ten"), ("11", "eleven"), ("12", "twelve"), ("13", "thirteen"), ("14", "fourteen"),
    ("15", "fifteen"), ("16", "sixteen"), ("17", "seventeen"), ("18", "eighteen"),
    ("19", "nineteen"), ("20", "twenty"), ("30", "thirty"), ("40", "forty"), ("50", "fifty"),
    ("60", "sixty"), ("70", "seventy"), ("80", "eighty"), ("90", "ninety"),
    ("100", "hundred"), ("1000", "thousand"), ("million", "million"), ("and", "and"),
    ("star", "star"), ("hash", "hash"), ("the", "the"), ("of", "of"),
    ("ord-1", "first"), ("ord-2", "second"), ("ord-3", "third"), ("ord-4", "fourth"),
    ("ord-5", "fifth"), ("ord-6", "sixth"), ("ord-7", "seventh"), ("ord-8", "eighth"),
    ("ord-9", "ninth"), ("ord-10", "tenth"), ("ord-11", "eleventh"), ("ord-12", "twelfth"),
    ("ord-13", "thirteenth"), ("ord-14", "fourteenth"), ("ord-15", "fifteenth"),
    ("ord-16", "sixteenth"), ("ord-17", "seventeenth"), ("ord-18", "eighteenth"),
    ("ord-19", "nineteenth"), ("ord-20", "twentieth"), ("ord-30", "thirtieth"),
    ("month-1", "January"), ("month-2", "February"), ("month-3", "March"), ("month-4", "April"),
    ("month-5", "May"), ("month-6", "June"), ("month-7", "July"), ("month-8", "August"),
    ("month-9", "September"), ("month-10", "October"), ("month-11", "November"),
    ("month-12", "December"),
    ("day-1", "Monday"), ("day-2", "Tuesday"), ("day-3", "Wednesday"), ("day-4", "Thursday"),
    ("day-5", "Friday"), ("day-6", "Saturday"), ("day-7", "Sunday"),
];

/// Largest number `say number` speaks as a number (beyond it: digit by digit).
pub const MAX_NUMBER: u64 = 999_999_999;

/// The fragment table of `language`, or `None` when `say` does not speak it.
#[must_use]
pub fn fragments(language: &str) -> Option<&'static [(&'static str, &'static str)]> {
    match language {
        "fr" => Some(FRAGMENTS_FR),
        "en" => Some(FRAGMENTS_EN),
        _ => None,
    }
}

/// The fragment prompt names (`say/42`…) that speak `value` in `language`; `None` when the
/// language is not spoken or the value does not fit `kind` (not digits, not a number, not a
/// `YYYY-MM-DD` date).
#[must_use]
pub fn say(kind: SayKind, value: &str, language: &str) -> Option<Vec<String>> {
    let french = match language {
        "fr" => true,
        "en" => false,
        _ => return None,
    };
    let value = value.trim();
    let tokens = match kind {
        SayKind::Digits => digits(value)?,
        SayKind::Number => {
            let n: u64 = value.parse().ok()?;
            if n > MAX_NUMBER {
                digits(value)?
            } else if french {
                number_fr(n)
            } else {
                number_en(n)
            }
        }
        SayKind::Date => {
            let date = parse_date(value)?;
            if french { date_fr(date) } else { date_en(date) }
        }
    };
    Some(tokens.into_iter().map(|t| format!("say/{t}")).collect())
}

fn digits(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for c in value.chars() {
        match c {
            '0'..='9' => out.push(c.to_string()),
            '*' => out.push("star".into()),
            '#' => out.push("hash".into()),
            ' ' | '-' | '.' | '+' | '(' | ')' => {}
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

fn num(n: u64) -> String {
    n.to_string()
}

/// French number, 0..=999 999 999.
fn number_fr(n: u64) -> Vec<String> {
    if n == 0 {
        return vec![num(0)];
    }
    let (millions, thousands, rest) = (n / 1_000_000, n / 1000 % 1000, n % 1000);
    let mut out = Vec::new();
    if millions > 0 {
        out.extend(below_1000_fr(millions, true));
        out.push(if millions == 1 { "million" } else { "millions" }.into());
    }
    if thousands > 0 {
        if thousands > 1 {
            out.extend(below_1000_fr(thousands, false));
        }
        out.push(num(1000));
    }
    if rest > 0 {
        out.extend(below_1000_fr(rest, true));
    }
    out
}

/// `last`: nothing follows, so "quatre-vingts" and "deux cents" keep their s.
fn below_1000_fr(n: u64, last: bool) -> Vec<String> {
    let (hundreds, rest) = (n / 100, n % 100);
    let mut out = Vec::new();
    if hundreds > 0 {
        if hundreds > 1 {
            out.push(num(hundreds));
        }
        let plural = hundreds > 1 && rest == 0 && last;
        out.push(if plural { "100s" } else { "100" }.into());
    }
    if rest > 0 {
        out.extend(below_100_fr(rest, last));
    }
    out
}

fn below_100_fr(n: u64, last: bool) -> Vec<String> {
    let (tens, unit) = (n / 10, n % 10);
    match tens {
        0 | 1 => vec![num(n)],
        2..=6 => {
            let mut out = vec![num(tens * 10)];
            match unit {
                0 => {}
                1 => out.extend(["and".into(), num(1)]),
                _ => out.push(num(unit)),
            }
            out
        }
        7 if unit == 1 => vec![num(60), "and".into(), num(11)],
        7 => vec![num(60), num(10 + unit)],
        8 if unit == 0 => vec![if last { "80s" } else { "80" }.into()],
        8 => vec![num(80), num(unit)],
        _ => vec![num(80), num(10 + unit)],
    }
}

/// English number, 0..=999 999 999, British ("and" before the last tens).
fn number_en(n: u64) -> Vec<String> {
    if n == 0 {
        return vec![num(0)];
    }
    let (millions, thousands, rest) = (n / 1_000_000, n / 1000 % 1000, n % 1000);
    let mut out = Vec::new();
    if millions > 0 {
        out.extend(below_1000_en(millions));
        out.push("million".into());
    }
    if thousands > 0 {
        out.extend(below_1000_en(thousands));
        out.push(num(1000));
    }
    if rest > 0 {
        if !out.is_empty() && rest < 100 {
            out.push("and".into());
        }
        out.extend(below_1000_en(rest));
    }
    out
}

fn below_1000_en(n: u64) -> Vec<String> {
    let (hundreds, rest) = (n / 100, n % 100);
    let mut out = Vec::new();
    if hundreds > 0 {
        out.extend([num(hundreds), num(100)]);
        if rest > 0 {
            out.push("and".into());
        }
    }
    if rest >= 20 {
        out.push(num(rest / 10 * 10));
        if rest % 10 > 0 {
            out.push(num(rest % 10));
        }
    } else if rest > 0 {
        out.push(num(rest));
    }
    out
}

fn parse_date(value: &str) -> Option<Date> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Date::new(
        value.get(0..4)?.parse().ok()?,
        value.get(5..7)?.parse().ok()?,
        value.get(8..10)?.parse().ok()?,
    )
    .ok()
}

fn weekday(date: Date) -> String {
    format!("day-{}", date.weekday().to_monday_one_offset())
}

fn date_fr(date: Date) -> Vec<String> {
    let day = u64::from(date.day().unsigned_abs());
    let mut out = vec![weekday(date)];
    if day == 1 {
        out.push("first".into());
    } else {
        out.extend(below_100_fr(day, true));
    }
    out.push(format!("month-{}", date.month()));
    out
}

fn date_en(date: Date) -> Vec<String> {
    let day = u32::from(date.day().unsigned_abs());
    let mut out = vec![weekday(date), "the".into()];
    match day {
        1..=20 | 30 => out.push(format!("ord-{day}")),
        _ => out.extend([num(u64::from(day / 10 * 10)), format!("ord-{}", day % 10)]),
    }
    out.extend(["of".into(), format!("month-{}", date.month())]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words a value is spoken with, joined by spaces.
    fn words(kind: SayKind, value: &str, lang: &str) -> String {
        let table = fragments(lang).unwrap();
        say(kind, value, lang)
            .unwrap()
            .iter()
            .map(|name| {
                let key = name.strip_prefix("say/").unwrap();
                table.iter().find(|(k, _)| *k == key).unwrap().1
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn french_numbers_follow_the_rules() {
        let fr = |n: &str| words(SayKind::Number, n, "fr");
        let table = [
            ("0", "zéro"),
            ("16", "seize"),
            ("17", "dix-sept"),
            ("21", "vingt et un"),
            ("42", "quarante deux"),
            ("70", "soixante dix"),
            ("71", "soixante et onze"),
            ("77", "soixante dix-sept"),
            ("80", "quatre-vingts"),
            ("81", "quatre-vingt un"),
            ("91", "quatre-vingt onze"),
            ("99", "quatre-vingt dix-neuf"),
            ("100", "cent"),
            ("101", "cent un"),
            ("200", "deux cents"),
            ("280", "deux cent quatre-vingts"),
            ("1000", "mille"),
            ("2026", "deux mille vingt six"),
            ("80000", "quatre-vingt mille"),
            ("200000", "deux cent mille"),
            ("1000000", "un million"),
            ("80000000", "quatre-vingts millions"),
            (
                "999999999",
                "neuf cent quatre-vingt dix-neuf millions neuf cent quatre-vingt dix-neuf mille neuf cent quatre-vingt dix-neuf",
            ),
        ];
        for (n, expected) in table {
            assert_eq!(fr(n), expected, "{n}");
        }
    }

    #[test]
    fn english_numbers() {
        let en = |n: &str| words(SayKind::Number, n, "en");
        let table = [
            ("0", "zero"),
            ("13", "thirteen"),
            ("42", "forty two"),
            ("90", "ninety"),
            ("105", "one hundred and five"),
            ("1005", "one thousand and five"),
            ("2026", "two thousand and twenty six"),
            (
                "1234567",
                "one million two hundred and thirty four thousand five hundred and sixty seven",
            ),
        ];
        for (n, expected) in table {
            assert_eq!(en(n), expected, "{n}");
        }
    }

    #[test]
    fn digits_and_dates() {
        assert_eq!(
            words(SayKind::Digits, "+33 6 12*#", "fr"),
            "trois trois six un deux étoile dièse"
        );
        assert_eq!(words(SayKind::Digits, "0612", "en"), "zero six one two");
        assert_eq!(
            words(SayKind::Date, "2026-12-24", "fr"),
            "jeudi vingt quatre décembre"
        );
        assert_eq!(
            words(SayKind::Date, "2026-01-01", "fr"),
            "jeudi premier janvier"
        );
        assert_eq!(
            words(SayKind::Date, "2026-12-24", "en"),
            "Thursday the twenty fourth of December"
        );
        assert_eq!(
            words(SayKind::Date, "2026-05-31", "en"),
            "Sunday the thirty first of May"
        );
        assert_eq!(
            words(SayKind::Date, "2026-03-30", "en"),
            "Monday the thirtieth of March"
        );
        assert_eq!(
            words(SayKind::Number, "12345678901", "en"),
            "one two three four five six seven eight nine zero one"
        );
    }

    #[test]
    fn bad_values_and_languages_say_nothing() {
        assert_eq!(say(SayKind::Number, "4x", "fr"), None);
        assert_eq!(say(SayKind::Number, "-4", "fr"), None);
        assert_eq!(say(SayKind::Digits, "", "fr"), None);
        assert_eq!(say(SayKind::Digits, "12a", "fr"), None);
        assert_eq!(say(SayKind::Date, "2026-02-30", "fr"), None);
        assert_eq!(say(SayKind::Date, "24/12/2026", "en"), None);
        assert_eq!(say(SayKind::Number, "1", "de"), None);
    }

    proptest::proptest! {
        #[test]
        fn every_number_uses_known_fragments(n in 0u64..=MAX_NUMBER, fr in proptest::bool::ANY) {
            let lang = if fr { "fr" } else { "en" };
            let table = fragments(lang).unwrap();
            let names = say(SayKind::Number, &n.to_string(), lang).unwrap();
            proptest::prop_assert!(!names.is_empty());
            for name in names {
                let key = name.strip_prefix("say/").unwrap();
                proptest::prop_assert!(table.iter().any(|(k, _)| *k == key), "{n}: {name}");
            }
        }
    }
}
