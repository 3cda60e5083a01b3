//! The words of every page, email, SMS and digest, per language, in Fluent files
//! (`texts/<lang>/*.ftl`, https://projectfluent.org): embedded in the binary as the default, and
//! overridden or extended at start from `EPRO_TEXTS_DIR` (`<dir>/<lang>/*.ftl`), so a deployment
//! adds a language by adding files. Loaded once into one catalogue (`Texts`) that pages, emails
//! and SMS read; language tags match by BCP 47 lookup (RFC 4647 §3.4: `nl-NL` falls back to
//! `nl`). Also owns the translator's check (`epro texts check`). No I/O after loading.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::Arc,
};

use fluent_bundle::{FluentArgs, FluentResource, FluentValue, concurrent::FluentBundle};
use fluent_syntax::ast;
use intl_pluralrules::{PluralCategory, PluralRuleType, PluralRules};
use minijinja::Environment;
use unic_langid::LanguageIdentifier;

/// The language every other is checked against: its keys, placeholders and plural selectors.
pub const SOURCE: &str = "en";

/// The texts built into the binary: (language, file, Fluent source).
const EMBEDDED: &[(&str, &str, &str)] = &[
    ("en", "pages.ftl", include_str!("../texts/en/pages.ftl")),
    (
        "en",
        "messages.ftl",
        include_str!("../texts/en/messages.ftl"),
    ),
    ("fr", "pages.ftl", include_str!("../texts/fr/pages.ftl")),
    (
        "fr",
        "messages.ftl",
        include_str!("../texts/fr/messages.ftl"),
    ),
    ("nl", "pages.ftl", include_str!("../texts/nl/pages.ftl")),
    (
        "nl",
        "messages.ftl",
        include_str!("../texts/nl/messages.ftl"),
    ),
];

/// What one message uses, read from its Fluent syntax (for the check).
#[derive(Debug, Clone, Default, PartialEq)]
struct Shape {
    /// Where it was defined last (`texts/nl/pages.ftl`, or a file under EPRO_TEXTS_DIR).
    file: String,
    /// The variables it shows (`{ $name }`), in any variant (not those it only selects on).
    vars: BTreeSet<String>,
    /// For each variable it selects on: the variant keys offered.
    selects: BTreeMap<String, BTreeSet<String>>,
}

/// One language's texts: the Fluent bundle and the shape of each message.
struct Language {
    bundle: FluentBundle<FluentResource>,
    shapes: BTreeMap<String, Shape>,
}

/// The one catalogue of texts, per language tag (as its folder is named).
pub struct Texts {
    langs: BTreeMap<String, Language>,
}

/// A text's argument: words, or a number (which Fluent may select a plural form on).
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Number(f64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_string())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}

impl From<usize> for Arg {
    fn from(n: usize) -> Self {
        Arg::Number(n as f64)
    }
}

impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Number(n as f64)
    }
}

/// A text file that could not be used: which file and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct LoadError {
    pub file: String,
    pub problem: String,
}

impl Texts {
    /// The texts built into the binary only.
    pub fn embedded() -> Result<Self, LoadError> {
        Self::load(None)
    }

    /// The built-in texts, then every `<dir>/<lang>/*.ftl` (files in name order): a message
    /// defined again replaces the built-in one, a new folder adds a language. A syntax error
    /// in any file is refused (never swallowed), naming the file and the line.
    pub fn load(dir: Option<&Path>) -> Result<Self, LoadError> {
        let mut files: Vec<(String, String, String)> = EMBEDDED
            .iter()
            .map(|(lang, file, source)| {
                (
                    lang.to_string(),
                    format!("texts/{lang}/{file}"),
                    source.to_string(),
                )
            })
            .collect();
        if let Some(dir) = dir {
            files.extend(read_dir(dir)?);
        }
        let mut langs: BTreeMap<String, Language> = BTreeMap::new();
        for (lang, file, source) in files {
            let langid: LanguageIdentifier = lang.parse().map_err(|_| LoadError {
                file: file.clone(),
                problem: format!(
                    "{lang:?} is not a BCP 47 language tag (such as \"de\" or \"nl-NL\")"
                ),
            })?;
            let resource = FluentResource::try_new(source).map_err(|(res, errors)| {
                let problems: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        let line = res.source()[..e.pos.start.min(res.source().len())]
                            .matches('\n')
                            .count()
                            + 1;
                        format!("line {line}: {}", e.kind)
                    })
                    .collect();
                LoadError {
                    file: file.clone(),
                    problem: format!("not valid Fluent syntax: {}", problems.join("; ")),
                }
            })?;
            let language = langs.entry(lang.clone()).or_insert_with(|| {
                let mut bundle = FluentBundle::new_concurrent(vec![langid]);
                // Plain text: no Unicode isolation marks around placeables (emails, SMS and
                // pages in left-to-right languages; see docs/texts.md).
                bundle.set_use_isolating(false);
                Language {
                    bundle,
                    shapes: BTreeMap::new(),
                }
            });
            for entry in resource.entries() {
                if let ast::Entry::Message(m) = entry {
                    let mut shape = Shape {
                        file: file.clone(),
                        ..Shape::default()
                    };
                    if let Some(p) = &m.value {
                        walk_pattern(p, &mut shape);
                    }
                    language.shapes.insert(m.id.name.to_string(), shape);
                }
            }
            language.bundle.add_resource_overriding(resource);
        }
        Ok(Self { langs })
    }

    /// The languages that have texts (folder names), sorted.
    pub fn languages(&self) -> Vec<String> {
        self.langs.keys().cloned().collect()
    }

    /// The languages whose texts a reader of `tag` gets, most specific first (BCP 47 lookup:
    /// `nl-NL` → `nl-NL`, `nl`), then the source language for a key none of them has.
    fn chain(&self, tag: &str) -> Vec<&str> {
        let mut out: Vec<&str> = lookup_chain(tag)
            .iter()
            .filter_map(|t| {
                self.langs
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(t))
                    .map(String::as_str)
            })
            .collect();
        if !out.contains(&SOURCE) {
            out.push(SOURCE);
        }
        out
    }

    /// Whether a reader of `tag` gets texts of their own (not only the source language's):
    /// `tag` or a less specific form of it has a folder.
    pub fn serves(&self, tag: &str) -> bool {
        lookup_chain(tag)
            .iter()
            .any(|t| self.langs.keys().any(|k| k.eq_ignore_ascii_case(t)))
    }

    /// Whether `key` exists for a reader of `tag` (in their chain, before the source).
    pub fn has(&self, tag: &str, key: &str) -> bool {
        self.chain(tag)
            .into_iter()
            .any(|l| self.langs[l].bundle.has_message(key))
    }

    /// The text `key` for a reader of `tag`, its variables filled; the key itself when no
    /// language has it (`texts check` and the tests keep that from happening).
    pub fn get(&self, tag: &str, key: &str, args: &[(&str, Arg)]) -> String {
        self.format(tag, key, args, true)
    }

    /// `get`, logging a formatting error (a variable not given) when `warn` is set.
    fn format(&self, tag: &str, key: &str, args: &[(&str, Arg)], warn: bool) -> String {
        let mut fargs = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::Text(s) => fargs.set(*name, FluentValue::from(s.as_str())),
                Arg::Number(n) => fargs.set(*name, FluentValue::from(*n)),
            }
        }
        for lang in self.chain(tag) {
            let bundle = &self.langs[lang].bundle;
            if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = vec![];
                let text = bundle.format_pattern(pattern, Some(&fargs), &mut errors);
                if warn && !errors.is_empty() {
                    tracing::warn!(lang, key, ?errors, "text formatted with errors");
                }
                return text.into_owned();
            }
        }
        key.to_string()
    }

    /// Every key of the source language, each formatted for a reader of `tag` without
    /// arguments (what page templates read as `t.<key>`; a variable shows as `{$name}`).
    pub fn all(&self, tag: &str) -> BTreeMap<String, String> {
        self.langs
            .get(SOURCE)
            .map(|l| l.shapes.keys())
            .into_iter()
            .flatten()
            .map(|k| (k.clone(), self.format(tag, k, &[], false)))
            .collect()
    }

    /// The translator's check of language `tag` against the source language: keys missing
    /// (in `tag` and the languages it falls back to) and extra, variables that differ, and
    /// plural forms the language needs but a message does not offer.
    pub fn check(&self, tag: &str) -> Report {
        let mut report = Report {
            language: tag.to_string(),
            ..Report::default()
        };
        let Some(source) = self.langs.get(SOURCE) else {
            return report;
        };
        let own: Vec<&str> = self
            .chain(tag)
            .into_iter()
            .filter(|l| *l != SOURCE || tag.eq_ignore_ascii_case(SOURCE))
            .collect();
        if own.is_empty() {
            report.problems.push(format!("no texts for {tag:?}"));
            return report;
        }
        let needed = plural_categories(tag);
        for (key, want) in &source.shapes {
            let Some(have) = own.iter().find_map(|l| self.langs[*l].shapes.get(key)) else {
                report.missing.push(key.clone());
                continue;
            };
            // A translation shows every variable the source shows (a date, a name), and no
            // variable the source does not know; one the source only selects on (a count) it
            // may show or not.
            let known = |v: &String| want.vars.contains(v) || want.selects.contains_key(v);
            if !want.vars.is_subset(&have.vars) || !have.vars.iter().all(known) {
                let show = |s: &BTreeSet<String>| {
                    s.iter()
                        .map(|v| format!("${v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                report.problems.push(format!(
                    "{} {key}: uses {{{}}}, the source ({SOURCE}) uses {{{}}}",
                    have.file,
                    show(&have.vars),
                    show(&want.vars)
                ));
            }
            let Some(needed) = &needed else { continue };
            for (var, source_keys) in &want.selects {
                if !source_keys.iter().any(|k| is_category(k)) {
                    continue;
                }
                // Not selecting at all is a choice (the sentence does not change with the
                // count); selecting must offer every form the language has.
                let Some(offered) = have.selects.get(var) else {
                    continue;
                };
                let lacking: Vec<&str> = needed
                    .iter()
                    .filter(|c| !offered.contains(**c))
                    .copied()
                    .collect();
                if !lacking.is_empty() {
                    report.problems.push(format!(
                        "{} {key}: ${var} needs the plural form(s) {} of {tag} (a variant \
                         [{}] …)",
                        have.file,
                        lacking.join(", "),
                        lacking.join("], [")
                    ));
                }
            }
        }
        if let Some(first) = own.first().filter(|l| **l != SOURCE) {
            for (key, shape) in &self.langs[*first].shapes {
                if !source.shapes.contains_key(key) {
                    report.extra.push(format!("{} {key}", shape.file));
                }
            }
        }
        report
    }
}

/// What `Texts::check` found for one language.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub language: String,
    /// Keys of the source language this language lacks (pages would show another language).
    pub missing: Vec<String>,
    /// Keys no source text has (left over, or misspelt): reported, not refused.
    pub extra: Vec<String>,
    /// Variables that differ from the source, plural forms the language needs.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the language can be served: nothing missing, no problem (extra keys are
    /// harmless).
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.problems.is_empty()
    }

    /// The findings as lines a person reads.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![];
        if !self.missing.is_empty() {
            out.push(format!(
                "{}: {} key(s) missing: {}",
                self.language,
                self.missing.len(),
                self.missing.join(", ")
            ));
        }
        for p in &self.problems {
            out.push(format!("{}: {p}", self.language));
        }
        for e in &self.extra {
            out.push(format!(
                "{}: extra key (not in {SOURCE}): {e}",
                self.language
            ));
        }
        out
    }
}

/// `text("key", name=value, …)` in templates: the word `key` in the page's language (`lang`),
/// its variables filled (numbers stay numbers, for plural forms).
pub fn add_text_function(env: &mut Environment<'static>, texts: Arc<Texts>) {
    env.add_function(
        "text",
        move |state: &minijinja::State,
              key: String,
              kwargs: minijinja::value::Kwargs|
              -> Result<String, minijinja::Error> {
            let lang = state
                .lookup("lang")
                .and_then(|l| l.as_str().map(str::to_string))
                .unwrap_or_else(|| SOURCE.to_string());
            let mut args = vec![];
            for name in kwargs.args() {
                let value: minijinja::Value = kwargs.get(name)?;
                let arg = match value.as_i64() {
                    Some(n) if value.kind() == minijinja::value::ValueKind::Number => Arg::from(n),
                    _ => Arg::from(value.to_string()),
                };
                args.push((name, arg));
            }
            Ok(texts.get(&lang, &key, &args))
        },
    );
}

/// RFC 4647 §3.4 lookup: the tag, then less and less specific forms of it (`de-CH-1996` →
/// `de-CH-1996`, `de-CH`, `de`), a single-letter extension or private-use subtag removed with
/// the subtag after it.
pub fn lookup_chain(tag: &str) -> Vec<String> {
    let mut parts: Vec<&str> = tag.split('-').filter(|p| !p.is_empty()).collect();
    let mut out = vec![];
    while !parts.is_empty() {
        out.push(parts.join("-"));
        parts.pop();
        if parts.last().is_some_and(|p| p.len() == 1) {
            parts.pop();
        }
    }
    out
}

/// The best of `available` for a reader of `wanted` by BCP 47 lookup (case-insensitive), if any.
pub fn best_match<'a>(available: &'a [String], wanted: &str) -> Option<&'a str> {
    lookup_chain(wanted).iter().find_map(|t| {
        available
            .iter()
            .find(|a| a.eq_ignore_ascii_case(t))
            .map(String::as_str)
    })
}

/// Every `<dir>/<lang>/*.ftl`, languages and files in name order.
fn read_dir(dir: &Path) -> Result<Vec<(String, String, String)>, LoadError> {
    let fail = |path: &Path, e: std::io::Error| LoadError {
        file: path.display().to_string(),
        problem: format!("cannot read: {e}"),
    };
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| fail(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    folders.sort();
    let mut out = vec![];
    for folder in folders {
        let lang = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .map_err(|e| fail(&folder, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
            .collect();
        files.sort();
        for file in files {
            let source = std::fs::read_to_string(&file).map_err(|e| fail(&file, e))?;
            out.push((lang.clone(), file.display().to_string(), source));
        }
    }
    Ok(out)
}

fn walk_pattern(p: &ast::Pattern<&str>, shape: &mut Shape) {
    for element in &p.elements {
        if let ast::PatternElement::Placeable { expression } = element {
            walk_expression(expression, shape);
        }
    }
}

fn walk_expression(e: &ast::Expression<&str>, shape: &mut Shape) {
    match e {
        ast::Expression::Inline(i) => walk_inline(i, shape),
        ast::Expression::Select { selector, variants } => {
            if let ast::InlineExpression::VariableReference { id } = selector {
                let keys = shape.selects.entry(id.name.to_string()).or_default();
                for v in variants {
                    keys.insert(match &v.key {
                        ast::VariantKey::Identifier { name } => name.to_string(),
                        ast::VariantKey::NumberLiteral { value } => value.to_string(),
                    });
                }
            }
            for v in variants {
                walk_pattern(&v.value, shape);
            }
        }
    }
}

fn walk_inline(i: &ast::InlineExpression<&str>, shape: &mut Shape) {
    match i {
        ast::InlineExpression::VariableReference { id } => {
            shape.vars.insert(id.name.to_string());
        }
        ast::InlineExpression::Placeable { expression } => walk_expression(expression, shape),
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for a in &arguments.positional {
                walk_inline(a, shape);
            }
        }
        _ => {}
    }
}

const CATEGORIES: [&str; 6] = ["zero", "one", "two", "few", "many", "other"];

fn is_category(key: &str) -> bool {
    CATEGORIES.contains(&key)
}

/// The plural categories (CLDR) that whole numbers from 0 to 1000 fall in, in the language of
/// `tag` — the counts epro fills in (questionnaires, minutes, tries) are such numbers. None
/// when CLDR has no rules for the language (the check then says nothing about plurals).
fn plural_categories(tag: &str) -> Option<BTreeSet<&'static str>> {
    let langid: LanguageIdentifier = tag.parse().ok()?;
    let primary: LanguageIdentifier = langid.language.as_str().parse().ok()?;
    let rules = PluralRules::create(langid, PluralRuleType::CARDINAL)
        .or_else(|_| PluralRules::create(primary, PluralRuleType::CARDINAL))
        .ok()?;
    let mut out = BTreeSet::new();
    for n in 0..=1000u32 {
        if let Ok(c) = rules.select(n) {
            out.insert(match c {
                PluralCategory::ZERO => "zero",
                PluralCategory::ONE => "one",
                PluralCategory::TWO => "two",
                PluralCategory::FEW => "few",
                PluralCategory::MANY => "many",
                PluralCategory::OTHER => "other",
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_goes_from_specific_to_general() {
        let cases = [
            ("nl-NL", vec!["nl-NL", "nl"]),
            ("de-CH-1996", vec!["de-CH-1996", "de-CH", "de"]),
            (
                "zh-Hant-CN-x-private1",
                vec!["zh-Hant-CN-x-private1", "zh-Hant-CN", "zh-Hant", "zh"],
            ),
            ("fr", vec!["fr"]),
        ];
        for (tag, want) in cases {
            assert_eq!(lookup_chain(tag), want, "{tag}");
        }
        let available = vec!["nl".to_string(), "fr-BE".to_string()];
        assert_eq!(best_match(&available, "nl-NL"), Some("nl"));
        assert_eq!(best_match(&available, "NL"), Some("nl"));
        assert_eq!(best_match(&available, "fr"), None, "never more specific");
        assert_eq!(best_match(&available, "fr-BE"), Some("fr-BE"));
    }

    #[test]
    fn the_built_in_languages_are_complete_and_consistent() {
        let texts = Texts::embedded().expect("built-in texts load");
        assert_eq!(texts.languages(), ["en", "fr", "nl"]);
        for lang in texts.languages() {
            let report = texts.check(&lang);
            assert!(
                report.ok() && report.extra.is_empty(),
                "{:#?}",
                report.lines()
            );
        }
    }

    #[test]
    fn a_region_falls_back_to_its_language_and_plurals_follow_the_count() {
        let texts = Texts::embedded().expect("built-in texts load");
        assert!(texts.serves("nl-NL") && !texts.serves("de"));
        let ready = |lang: &str, n: usize| {
            texts.get(
                lang,
                "reminder_ready",
                &[("forms", n.into()), ("visit", "M3".into())],
            )
        };
        assert_eq!(
            ready("nl-NL", 1),
            "Er staat een korte vragenlijst voor u klaar (M3)."
        );
        assert_eq!(
            ready("nl", 3),
            "Er staan 3 korte vragenlijsten voor u klaar (M3)."
        );
        assert_eq!(
            ready("en", 2),
            "2 short questionnaires are ready for you (M3)."
        );
        assert_eq!(texts.get("nl", "no_such_key", &[]), "no_such_key");
    }

    fn with_files(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Texts, LoadError>) {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, source) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, source).expect("write");
        }
        let texts = Texts::load(Some(dir.path()));
        (dir, texts)
    }

    #[test]
    fn files_override_a_key_and_add_a_language_and_the_check_says_what_is_wrong() {
        let (_dir, texts) = with_files(&[
            ("nl-NL/pages.ftl", "pin_submit = Doorgaan\n"),
            (
                "de/pages.ftl",
                "pin_submit = Weiter\n\
                 pin_wrong_left = Noch { $tries } Versuche.\n\
                 reminder_button = Öffnen\n\
                 reminder_by = Bitte bis { $last_day }.\n\
                 reminder_questions = Fragen? { $site_name }\n\
                 reminder_ready = { $forms ->\n *[other] { $forms } Fragebögen ({ $visit })\n}\n\
                 unused_key = x\n",
            ),
        ]);
        let texts = texts.expect("loads");
        assert_eq!(texts.get("nl-NL", "pin_submit", &[]), "Doorgaan");
        assert_eq!(
            texts.get("nl-NL", "pin_title", &[]),
            "Welkom",
            "falls back to nl"
        );
        assert_eq!(
            texts.get("nl", "pin_submit", &[]),
            "Verder",
            "nl itself unchanged"
        );
        assert_eq!(texts.get("de-AT", "pin_submit", &[]), "Weiter");
        assert!(
            texts.check("nl-NL").ok(),
            "{:?}",
            texts.check("nl-NL").lines()
        );
        let report = texts.check("de");
        assert!(!report.ok());
        assert!(report.missing.contains(&"pin_title".to_string()));
        assert!(!report.missing.contains(&"pin_submit".to_string()));
        assert_eq!(report.extra.len(), 1, "{:?}", report.extra);
        let problems = report.problems.join("\n");
        assert!(
            problems.contains("pin_wrong_left: uses {$tries}"),
            "{problems}"
        );
        assert!(
            problems.contains("reminder_questions: uses {$site_name}, the source (en) uses {$site_email, $site_name, $site_phone}"),
            "{problems}"
        );
        assert!(
            !problems.contains("reminder_button") && !problems.contains("reminder_by"),
            "{problems}"
        );
        assert!(
            problems.contains("reminder_ready: $forms needs the plural form(s) one of de"),
            "{problems}"
        );
    }

    #[test]
    fn a_syntax_error_or_a_bad_folder_name_is_refused_with_the_file_and_line() {
        let (_dir, texts) = with_files(&[("de/pages.ftl", "pin_submit = Weiter\n\nbroken {\n")]);
        let e = texts.err().expect("refused").to_string();
        assert!(e.contains("de/pages.ftl") && e.contains("line 3"), "{e}");
        let (_dir, texts) = with_files(&[("not a tag/pages.ftl", "a = b\n")]);
        let e = texts.err().expect("refused").to_string();
        assert!(e.contains("not a BCP 47 language tag"), "{e}");
    }
}
