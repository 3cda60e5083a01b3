//! Days written out for a reader: the one date format of pages, emails, SMS and digests
//! ("2 december 2026"). Pure: the day comes in already in the study's time zone. It lives below
//! `web/` and `reminders/` so neither imports the other for it.

use chrono::NaiveDate;

/// A day in the study's time zone, written out in `lang`.
pub fn fmt_date(date: NaiveDate, lang: &str) -> String {
    let locale = match lang {
        "nl" => chrono::Locale::nl_BE,
        "fr" => chrono::Locale::fr_BE,
        _ => chrono::Locale::en_GB,
    };
    date.format_localized("%-d %B %Y", locale).to_string()
}

#[cfg(test)]
mod tests {
    use super::fmt_date;

    #[test]
    fn a_day_in_each_language() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).expect("a day");
        for (lang, text) in [
            ("nl", "2 december 2026"),
            ("fr", "2 décembre 2026"),
            ("en", "2 December 2026"),
        ] {
            assert_eq!(fmt_date(day, lang), text, "{lang}");
        }
    }
}
