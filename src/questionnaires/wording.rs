//! Which wording a reader may see, and scoring a version's answers.

use serde_json::Value;

use super::{Library, Version};
use crate::{
    domain::questionnaire::text::{Wording, WordingKind},
    error::{Code, Error, Result},
};

/// The kind of wording a reader would get for a language.
pub fn wording_kind(version: &Version, lang: &str) -> Option<WordingKind> {
    version.wording(lang).map(|w| w.pack.kind)
}

/// A JSON value of the definition's structure (as published).
pub fn structure(version: &Version) -> Value {
    serde_json::to_value(&version.definition).unwrap_or(Value::Null)
}

/// Who is reading: licensed wording goes only to authenticated readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Anonymous,
    Authenticated,
}

/// A version resolved for one language and reader.
pub struct Resolved<'a> {
    pub version: &'a Version,
    pub language: String,
    /// The wording the reader may see; `None` when it was withheld (licensed, anonymous).
    pub wording: Option<&'a Wording>,
    /// The kind of wording installed for this language (even when withheld).
    pub kind: WordingKind,
}

impl Resolved<'_> {
    pub fn withheld(&self) -> bool {
        self.wording.is_none()
    }

    /// ETag = sha256(definition sha ‖ lang ‖ text-pack sha), quoted.
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.version.sha256.as_bytes());
        h.update(self.language.as_bytes());
        h.update(
            self.wording
                .map_or("withheld", |w| w.sha256.as_str())
                .as_bytes(),
        );
        format!("\"{}\"", hex::encode(h.finalize()))
    }
}

pub fn find<'a>(library: &'a Library, key: &str, version: &str) -> Result<&'a Version> {
    library.get(key, version).ok_or_else(|| Error::Unknown {
        code: Code::UnknownQuestionnaire,
        message: format!(
            "no questionnaire {key} version {version}; GET /api/v1/questionnaires lists them"
        ),
    })
}

pub fn resolve<'a>(
    library: &'a Library,
    key: &str,
    version: &str,
    lang: &str,
    reader: Reader,
) -> Result<Resolved<'a>> {
    let v = find(library, key, version)?;
    let Some(lang) = v.language_for(lang) else {
        return Err(Error::Unprocessable {
            code: Code::UnsupportedLanguage,
            message: format!(
                "{key} {version} is not available in {lang:?}; available: {}",
                v.definition.languages.join(", ")
            ),
        });
    };
    let wording = v
        .wording(lang)
        .ok_or_else(|| Error::Internal(format!("{key} {version} has no wording for {lang}")))?;
    let kind = wording.pack.kind;
    let visible = kind != WordingKind::Licensed || reader == Reader::Authenticated;
    Ok(Resolved {
        version: v,
        language: lang.to_string(),
        wording: visible.then_some(wording),
        kind,
    })
}

/// Validate answers and score them with the version's latest scoring file.
pub fn score(
    library: &Library,
    key: &str,
    version: &str,
    answers: &[crate::domain::questionnaire::answers::Answer],
) -> Result<crate::domain::questionnaire::scoring::Scores> {
    use crate::domain::questionnaire::{answers, scoring};
    let v = find(library, key, version)?;
    let valid =
        answers::validate(&v.definition, answers, None).map_err(|errors| Error::Unprocessable {
            code: Code::InvalidAnswer,
            message: answers::summarize(&errors),
        })?;
    let rules = v.latest_scoring().ok_or_else(|| Error::Unprocessable {
        code: Code::NoScoring,
        message: format!("{key} {version} has no scoring file"),
    })?;
    Ok(scoring::score(&v.definition, rules, &valid))
}
