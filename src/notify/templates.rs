//! Email and SMS content: the reminder email (plain text and HTML), the reminder SMS and the
//! daily site digest, per language. The sentences are texts of the catalogue
//! (`texts/<lang>/messages.ftl`, `crate::texts`); the layout around them is language-neutral
//! (`templates/email/*.txt`, embedded, rendered with minijinja). Each text template starts with
//! its `Subject:` and `Button:` lines. Subjects name the hospital and the study, never health
//! information or the study's topic.

use std::sync::Arc;

use minijinja::{Environment, context};

use crate::{notify::mail::Outgoing, texts::Texts};

const REMINDER: &str = include_str!("../../templates/email/reminder.txt");
const HTML: &str = include_str!("../../templates/email/reminder.html");
const DIGEST: &str = include_str!("../../templates/email/digest.txt");

/// One template with the catalogue's `text(…)` function.
fn environment(texts: &Arc<Texts>) -> Environment<'static> {
    let mut env = Environment::new();
    crate::texts::add_text_function(&mut env, texts.clone());
    env
}

/// The daily site digest in one language: subject and text from `templates/email/digest.txt`
/// and the `digest_*` texts (its `Subject:` line names the hospital and study, never a
/// participant), and an HTML part with the same lines, its addresses as links.
pub fn digest(
    texts: &Arc<Texts>,
    lang: &str,
    to: &str,
    ctx: minijinja::Value,
) -> Result<Outgoing, String> {
    let env = environment(texts);
    let rendered = env
        .render_str(DIGEST, context! { lang => lang, ..ctx })
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
        "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n</head>\n<body style=\"font-family: sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 48em; margin: 0 auto; padding: 1em;\">\n<div style=\"white-space: pre-wrap\">{}</div>\n</body>\n</html>\n",
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
    /// The visit's questionnaires still to send ("3 short questionnaires"; at least one).
    pub forms: usize,
    pub last_day: &'a str,
    pub link: &'a str,
    pub site_name: &'a str,
    pub site_phone: &'a str,
    pub site_email: &'a str,
    /// The study's short name (e.g. HERMES).
    pub study: &'a str,
    /// The sender's name (the study file's `email_sender`, else the study's name).
    pub sender_name: &'a str,
    /// The study file's safety text in the participant's language (`Study::safety_text`: the
    /// notice, then one `- ` line per urgent symptom, the site's phone filled in); empty when
    /// the study file has none.
    pub safety: &'a str,
}

/// A paragraph of the HTML email: its text, and the list its `- ` lines make.
#[derive(serde::Serialize)]
struct Paragraph {
    text: String,
    items: Vec<String>,
}

impl Paragraph {
    fn of(p: &str) -> Self {
        let (items, text): (Vec<&str>, Vec<&str>) =
            p.lines().map(str::trim).partition(|l| l.starts_with("- "));
        Paragraph {
            text: text.join(" "),
            items: items
                .iter()
                .map(|l| l.trim_start_matches("- ").to_string())
                .collect(),
        }
    }
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

pub fn reminder(texts: &Arc<Texts>, c: &ReminderContent<'_>) -> Result<Outgoing, String> {
    let mut env = environment(texts);
    env.add_template("text", REMINDER)
        .map_err(|e| e.to_string())?;
    env.add_template("reminder.html", HTML)
        .map_err(|e| e.to_string())?;
    let ctx = context! {
        visit => c.visit_label, last_day => c.last_day, link => c.link,
        site_name => c.site_name, site_phone => c.site_phone, site_email => c.site_email, lang => c.lang,
        study => c.study, safety => c.safety, forms => c.forms.max(1),
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
    // The HTML shows the same paragraphs (escaped by minijinja), with the link as a button and
    // the `- ` lines of a paragraph as a list.
    let paragraphs: Vec<Paragraph> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != c.link)
        .map(Paragraph::of)
        .collect();
    let html = env
        .get_template("reminder.html")
        .and_then(|t| t.render(context! { paragraphs => minijinja::Value::from(minijinja::value::Serde(&paragraphs)), link => c.link, button => button, lang => c.lang }))
        .map_err(|e| e.to_string())?;
    Ok(Outgoing {
        to: c.to.to_string(),
        sender_name: Some(c.sender_name.to_string()),
        subject,
        text,
        html,
    })
}

/// The reminder SMS in the participant's language (the text `sms_reminder`, one line a
/// translator edits): the hospital, the study and the personal link, no health information.
/// It fits one GSM-7 part (160 septets) for the lengths docs/reminders.md budgets (tested per
/// language).
pub fn sms_reminder(texts: &Texts, lang: &str, site_name: &str, study: &str, link: &str) -> String {
    texts
        .get(
            lang,
            "sms_reminder",
            &[
                ("site_name", site_name.into()),
                ("study", study.into()),
                ("link", link.into()),
            ],
        )
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Arc<Texts> {
        Arc::new(Texts::embedded().expect("texts"))
    }

    #[test]
    fn every_language_renders_without_health_information_in_the_subject() {
        for lang in ["nl", "fr", "en"] {
            let m = reminder(
                &texts(),
                &ReminderContent {
                    to: "p@example.org",
                    lang,
                    visit_label: "M3",
                    forms: 1,
                    last_day: "2026-04-30",
                    link: "https://epro.example/p/abc",
                    site_name: "UZ Gent",
                    site_phone: "+32 9 000 00 03",
                    site_email: "hermes-uzg@example.org",
                    study: "HERMES",
                    sender_name: "HERMES",
                    safety: "Call your hospital: +32 9 000 00 03 if you have: new back pain.",
                },
            )
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
            let m = reminder(
                &texts(),
                &ReminderContent {
                    to: "p@example.org",
                    lang,
                    visit_label: "Baseline",
                    forms: 3,
                    last_day: "",
                    link: "https://epro.example/p/abc",
                    site_name: "UZ Gent",
                    site_phone: "+32 9 000 00 03",
                    site_email: "hermes-uzg@example.org",
                    study: "HERMES",
                    sender_name: "HERMES",
                    safety: "",
                },
            )
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

    fn hermes_reminder(lang: &str, forms: usize) -> Outgoing {
        let study = crate::domain::study::Study::parse(
            "studies/hermes.toml",
            include_str!("../../studies/hermes.toml"),
        )
        .expect("study");
        reminder(
            &texts(),
            &ReminderContent {
                to: "p@example.org",
                lang,
                visit_label: "M1",
                forms,
                last_day: "30 april 2026",
                link: "https://epro.example/p/abc",
                site_name: "ZAS Augustinus",
                site_phone: "+32 3 000 00 01",
                site_email: "hermes-zas@example.org",
                study: "HERMES",
                sender_name: "HERMES",
                safety: &study.safety_text(lang, "+32 3 000 00 01"),
            },
        )
        .expect("renders")
    }

    /// One form or three: the reminder counts them, in the subject, the text and the button,
    /// and the Dutch asks neutrally ("Graag invullen"), never "Wilt u ze invullen".
    #[test]
    fn the_reminder_counts_the_forms_left() {
        let cases = [
            (
                "nl",
                1,
                "Er staat een korte vragenlijst voor u klaar (M1). Graag invullen uiterlijk op",
                "uw vragenlijst voor",
                "Vragenlijst openen",
            ),
            (
                "nl",
                3,
                "Er staan 3 korte vragenlijsten voor u klaar (M1). Graag invullen uiterlijk op",
                "uw vragenlijsten voor",
                "Vragenlijsten openen",
            ),
            (
                "fr",
                1,
                "Un court questionnaire vous attend (M1). Pourriez-vous le remplir",
                "votre questionnaire pour",
                "Ouvrir le questionnaire",
            ),
            (
                "fr",
                3,
                "3 courts questionnaires vous attendent (M1). Pourriez-vous les remplir",
                "vos questionnaires pour",
                "Ouvrir les questionnaires",
            ),
            (
                "en",
                1,
                "A short questionnaire is ready for you (M1). Please fill it in",
                "your questionnaire for",
                "Open the questionnaire<",
            ),
            (
                "en",
                3,
                "3 short questionnaires are ready for you (M1). Please fill them in",
                "your questionnaires for",
                "Open the questionnaires<",
            ),
        ];
        for (lang, forms, text, subject, button) in cases {
            let m = hermes_reminder(lang, forms);
            assert!(m.text.contains(text), "{lang} {forms}: {}", m.text);
            assert!(m.html.contains(text), "{lang} {forms}: {}", m.html);
            assert!(m.subject.contains(subject), "{lang} {forms}: {}", m.subject);
            assert!(m.html.contains(button), "{lang} {forms}: {}", m.html);
            for wrong in ["Wilt u ze", "Un court questionnaire vous attend"] {
                assert!(
                    forms == 1 && lang == "fr" || !m.text.contains(wrong),
                    "{lang} {forms}: {}",
                    m.text
                );
            }
        }
    }

    /// The urgent symptoms are one line each in the text and a list in the HTML (never run
    /// together), and the HTML email scales on a phone (viewport meta).
    #[test]
    fn urgent_symptoms_are_separate_and_the_html_fits_a_phone() {
        let m = hermes_reminder("nl", 3);
        assert!(
            m.text.contains(
                "Bel meteen uw ziekenhuis (of 112 als u het ziekenhuis niet bereikt) bij:\n\
                 - nieuwe of ergere rugpijn\n\
                 - zwakte of een doof gevoel in de benen\n\
                 - moeite om plassen of stoelgang te controleren\n"
            ),
            "{}",
            m.text
        );
        assert!(
            m.text
                .contains("bel dan uw ziekenhuis: +32 3 000 00 01.\n\nBel meteen"),
            "the notice is a paragraph of its own: {}",
            m.text
        );
        assert!(
            m.html.contains(
                "<ul>\n<li>nieuwe of ergere rugpijn</li>\n<li>zwakte of een doof gevoel in de benen</li>\n<li>moeite om plassen of stoelgang te controleren</li>\n</ul>"
            ),
            "{}",
            m.html
        );
        assert!(!m.html.contains("rugpijn; zwakte") && !m.text.contains("rugpijn; zwakte"));
        let viewport = "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
        assert!(m.html.contains(viewport), "{}", m.html);
        let d = digest(
            &texts(),
            "nl",
            "zas@example.org",
            context! { site_name => "ZAS Augustinus", study => "HERMES", day => "7 december 2026" },
        )
        .expect("digest");
        assert!(d.html.contains(viewport), "{}", d.html);
    }

    /// Every language's reminder SMS is one GSM-7 part (at most 160 septets) with what
    /// docs/reminders.md budgets: every hospital name of the study file and one of 24 characters
    /// (the study file's longest has 22), the study's short name, and a link of 78 characters (a
    /// public address of 32, `/p/`, the 43-character token). It names neither a disease nor a
    /// treatment.
    #[test]
    fn the_reminder_sms_fits_one_gsm7_part_in_every_language() {
        let study = crate::domain::study::Study::parse(
            "studies/hermes.toml",
            include_str!("../../studies/hermes.toml"),
        )
        .expect("study");
        let budget_name = "AZ Sint-Maarten Mechelen";
        assert_eq!(budget_name.chars().count(), 24);
        let base = "https://epro-hermes.uz-leuven.be";
        let token = "Xy3kQ9pL2mN8vB4cR7tW1zA6sD5fG0hJ_k-Lm3No4Pq";
        assert_eq!((base.len(), token.len()), (32, 43));
        let link = format!("{base}/p/{token}");
        assert_eq!(link.len(), 78);
        let mut names: Vec<&str> = study.sites.iter().map(|s| s.name.as_str()).collect();
        assert!(names.iter().all(|n| n.chars().count() <= 24), "{names:?}");
        names.push(budget_name);
        for (lang, name) in ["nl", "fr", "en"]
            .iter()
            .flat_map(|l| names.iter().map(move |n| (*l, *n)))
        {
            let text = sms_reminder(&texts(), lang, name, &study.name, &link);
            let (gsm7, units, parts) = crate::domain::reminders::sms_parts(&text);
            assert!(gsm7, "{lang}: every character is GSM-7: {text}");
            assert_eq!(parts, 1, "{lang}: {units} septets: {text}");
            assert!(text.contains(&link) && text.contains(name) && text.contains("HERMES"));
            for word in [
                "pijn", "douleur", "pain", "kanker", "cancer", "metast", "bot", "os ",
            ] {
                assert!(!text.to_lowercase().contains(word), "{lang}: {text}");
            }
        }
    }
}
