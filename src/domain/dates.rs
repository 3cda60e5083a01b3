//! Days written out for a reader: the one date format of pages, emails, SMS and digests
//! ("2 december 2026"). Pure: the day comes in already in the study's time zone. It lives below
//! `web/` and `reminders/` so neither imports the other for it.

use chrono::NaiveDate;

/// A day in the study's time zone, written out in `lang`.
pub fn fmt_date(date: NaiveDate, lang: &str) -> String {
    date.format_localized("%-d %B %Y", date_locale(lang))
        .to_string()
}

/// The month names of `lang` (a BCP 47 tag): its own region's (`de-AT` → de_AT), else the
/// language's usual one (nl → nl_NL, fr → fr_FR, en → en_GB, de → de_DE), else English.
fn date_locale(lang: &str) -> chrono::Locale {
    let mut parts = lang.split('-');
    let primary = parts.next().unwrap_or("").to_ascii_lowercase();
    let region = parts.find(|p| p.len() == 2).map(str::to_ascii_uppercase);
    let usual = match primary.as_str() {
        "en" => "GB".to_string(),
        other => other.to_ascii_uppercase(),
    };
    [region, Some(usual)]
        .into_iter()
        .flatten()
        .find_map(|r| chrono::Locale::try_from(format!("{primary}_{r}").as_str()).ok())
        .unwrap_or(chrono::Locale::en_GB)
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
