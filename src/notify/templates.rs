//! Email content: reminder templates per language (plain text and HTML, embedded in the binary,
//! rendered with minijinja). Each text template starts with its `Subject:` and `Button:` lines,
//! so a translator edits one file per language. Subjects name the hospital and the study, never
//! health information or the study's topic.

use minijinja::{Environment, context};

use crate::notify::mail::Outgoing;

const TEXT_NL: &str = include_str!("../../templates/email/reminder.nl.txt");
const TEXT_FR: &str = include_str!("../../templates/email/reminder.fr.txt");
const TEXT_EN: &str = include_str!("../../templates/email/reminder.en.txt");
const HTML: &str = include_str!("../../templates/email/reminder.html");
const SMS_NL: &str = include_str!("../../templates/sms/reminder.nl.txt");
const SMS_FR: &str = include_str!("../../templates/sms/reminder.fr.txt");
const SMS_EN: &str = include_str!("../../templates/sms/reminder.en.txt");
const DIGEST_NL: &str = include_str!("../../templates/email/digest.nl.txt");
const DIGEST_FR: &str = include_str!("../../templates/email/digest.fr.txt");
const DIGEST_EN: &str = include_str!("../../templates/email/digest.en.txt");

/// The daily site digest in one language: subject and text from `templates/email/digest.<lang>.txt`
/// (its `Subject:` line names the hospital and study, never a participant), and an HTML part
/// with the same lines, its addresses as links.
/// The languages with email templates (reminder and digest) in this build.
pub const LANGUAGES: [&str; 3] = ["nl", "fr", "en"];

pub fn digest(lang: &str, to: &str, ctx: minijinja::Value) -> Result<Outgoing, String> {
    let mut env = Environment::new();
    let template = match lang {
        "nl" => DIGEST_NL,
        "fr" => DIGEST_FR,
        _ => DIGEST_EN,
    };
    env.add_template("digest", template)
        .map_err(|e| e.to_string())?;
    let rendered = env
        .get_template("digest")
        .and_then(|t| t.render(ctx))
        .map_err(|e| e.to_string())?;
    let (head, text) = headers(&rendered);
    let subject = head
        .get("subject")
        .cloned()
        .ok_or("the digest template has no Subject: line")?;
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.split(' ')
                .map(|w| {
                    if w.starts_with("http://") || w.starts_with("https://") {
                        format!("<a href=\"{0}\">{0}</a>", escape(w))
                    } else {
                        escape(w)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let html = format!(
        "<!doctype html>\n<html lang=\"{}\">\n<body style=\"font-family: sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 48em; margin: 0 auto; padding: 1em;\">\n<div style=\"white-space: pre-wrap\">{}</div>\n</body>\n</html>\n",
        escape(lang),
        lines.join("\n")
    );
    Ok(Outgoing {
        to: to.to_string(),
        sender_name: None,
        subject,
        text,
        html,
    })
}

/// What a reminder says.
pub struct ReminderContent<'a> {
    pub to: &'a str,
    pub lang: &'a str,
    pub visit_label: &'a str,
    pub last_day: &'a str,
    pub link: &'a str,
    pub site_name: &'a str,
    pub site_phone: &'a str,
    pub site_email: &'a str,
    /// The study's short name (e.g. HERMES).
    pub study: &'a str,
    /// The sender's name (the study file's `email_sender`, else the study's name).
    pub sender_name: &'a str,
    /// The study file's safety text in the participant's language, as one paragraph (the
    /// site's phone filled in); empty when the study file has none.
    pub safety: &'a str,
}

/// A rendered template's header lines (`Name: value`, up to the first blank line) and body.
fn headers(rendered: &str) -> (std::collections::BTreeMap<String, String>, String) {
    let mut out = std::collections::BTreeMap::new();
    let (head, body) = rendered.split_once("\n\n").unwrap_or(("", rendered));
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(": ") {
            out.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    (out, body.to_string())
}

pub fn reminder(c: &ReminderContent<'_>) -> Result<Outgoing, String> {
    let mut env = Environment::new();
    let text_template = match c.lang {
        "nl" => TEXT_NL,
        "fr" => TEXT_FR,
        _ => TEXT_EN,
    };
    env.add_template("text", text_template)
        .map_err(|e| e.to_string())?;
    env.add_template("reminder.html", HTML)
        .map_err(|e| e.to_string())?;
    let ctx = context! {
        visit => c.visit_label, last_day => c.last_day, link => c.link,
        site_name => c.site_name, site_phone => c.site_phone, site_email => c.site_email, lang => c.lang,
        study => c.study, safety => c.safety,
    };
    let rendered = env
        .get_template("text")
        .and_then(|t| t.render(&ctx))
        .map_err(|e| e.to_string())?;
    let (head, text) = headers(&rendered);
    let subject = head
        .get("subject")
        .cloned()
        .ok_or("the email template has no Subject: line")?;
    let button = head.get("button").cloned().unwrap_or_default();
    // The HTML shows the same paragraphs (escaped by minijinja), with the link as a button.
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && p != c.link)
        .collect();
    let html = env
        .get_template("reminder.html")
        .and_then(|t| t.render(context! { paragraphs => paragraphs, link => c.link, button => button, lang => c.lang }))
        .map_err(|e| e.to_string())?;
    Ok(Outgoing {
        to: c.to.to_string(),
        sender_name: Some(c.sender_name.to_string()),
        subject,
        text,
        html,
    })
}

/// The reminder SMS in the participant's language (`templates/sms/reminder.<lang>.txt`, one line
/// a translator edits): the hospital, the study and the personal link, no health information.
/// Its length is checked per language (GSM-7, at most two parts) in the tests.
pub fn sms_reminder(
    lang: &str,
    site_name: &str,
    study: &str,
    link: &str,
) -> Result<String, String> {
    let template = match lang {
        "nl" => SMS_NL,
        "fr" => SMS_FR,
        _ => SMS_EN,
    };
    let env = Environment::new();
    env.render_str(
        template,
        context! { site_name => site_name, study => study, link => link },
    )
    .map(|t| t.trim().to_string())
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_renders_without_health_information_in_the_subject() {
        for lang in ["nl", "fr", "en"] {
            let m = reminder(&ReminderContent {
                to: "p@example.org",
                lang,
                visit_label: "M3",
                last_day: "2026-04-30",
                link: "https://epro.example/p/abc",
                site_name: "UZ Gent",
                site_phone: "+32 9 000 00 03",
                site_email: "hermes-uzg@example.org",
                study: "HERMES",
                sender_name: "HERMES",
                safety: "Call your hospital: +32 9 000 00 03 if you have: new back pain.",
            })
            .expect("renders");
            assert!(
                m.text
                    .contains("Call your hospital: +32 9 000 00 03 if you have: new back pain."),
                "the study file's safety text: {}",
                m.text
            );
            assert_eq!(m.sender_name.as_deref(), Some("HERMES"));
            assert!(
                m.text.contains("https://epro.example/p/abc")
                    && m.text.contains("2026-04-30")
                    && m.text.contains("+32 9 000 00 03")
            );
            assert!(
                m.html.contains("<a href=") && m.html.contains("epro.example"),
                "{}",
                m.html
            );
            assert!(!m.html.contains("<script"), "escaped");
            assert!(
                m.subject.contains("UZ Gent") && m.subject.contains("HERMES"),
                "{}",
                m.subject
            );
            for word in [
                "metast", "bone", "bot", "os ", "pain", "pijn", "douleur", "cancer", "kanker",
            ] {
                assert!(
                    !m.subject.to_lowercase().contains(&word.to_lowercase()),
                    "{lang}: {}",
                    m.subject
                );
            }
        }
    }

    #[test]
    fn a_reminder_without_a_last_day_never_prints_an_empty_date() {
        for (lang, soon) in [
            ("nl", "zo snel mogelijk"),
            ("fr", "dès que possible"),
            ("en", "as soon as you can"),
        ] {
            let m = reminder(&ReminderContent {
                to: "p@example.org",
                lang,
                visit_label: "Baseline",
                last_day: "",
                link: "https://epro.example/p/abc",
                site_name: "UZ Gent",
                site_phone: "+32 9 000 00 03",
                site_email: "hermes-uzg@example.org",
                study: "HERMES",
                sender_name: "HERMES",
                safety: "",
            })
            .expect("renders");
            assert!(m.text.contains(soon), "{lang}: {}", m.text);
            assert!(
                !m.text.contains("\n\n\n"),
                "no empty safety paragraph: {}",
                m.text
            );
            for empty in ["vóór ?", "le  ?", "by ."] {
                assert!(!m.text.contains(empty), "{lang}: {}", m.text);
            }
        }
    }

    /// Every language's reminder SMS stays within two GSM-7 parts with the longest hospital name
    /// of the study file and a real link, and names neither a disease nor a treatment.
    #[test]
    fn the_reminder_sms_fits_two_gsm7_parts_in_every_language() {
        let study = crate::domain::study::Study::parse(
            "studies/hermes.toml",
            include_str!("../../studies/hermes.toml"),
        )
        .expect("study");
        let longest = study
            .sites
            .iter()
            .map(|s| s.name.as_str())
            .max_by_key(|n| n.chars().count())
            .unwrap_or("");
        let link = "https://epro.hermes-trial.example.be/p/Xy3kQ9pL2mN8vB4cR7tW1zA6sD5fG0hJ";
        for lang in LANGUAGES {
            let text = sms_reminder(lang, longest, "HERMES", link).expect("renders");
            let (gsm7, units, parts) = crate::domain::reminders::sms_parts(&text);
            assert!(gsm7, "{lang}: every character is GSM-7: {text}");
            assert!(parts <= 2, "{lang}: {units} septets, {parts} parts: {text}");
            assert!(text.contains(link) && text.contains(longest) && text.contains("HERMES"));
            for word in [
                "pijn", "douleur", "pain", "kanker", "cancer", "metast", "bot", "os ",
            ] {
                assert!(!text.to_lowercase().contains(word), "{lang}: {text}");
            }
        }
    }
}
