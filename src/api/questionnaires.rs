//! /api/v1/questionnaires: the published versions, resolved for a language; FHIR R4 rendering;
//! scoring of an answer set. Structure and open/demo wording are public; licensed wording is
//! served only to an authenticated reader.

use std::{
    collections::{BTreeMap, HashMap},
    marker::PhantomData,
    sync::{Arc, RwLock},
};

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse, Object, OpenApi, SecurityScheme,
    param::{Header, Path, Query},
    payload::{Json, Payload},
    registry::{MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};
use serde_json::Value;

use super::{ApiError, StaffToken, Tag};
use crate::{
    app::App,
    domain::questionnaire::{
        Definition, Entry, Item,
        answers::Answer,
        fhir,
        scoring::{ScaleScore, Scores},
        text::Wording,
    },
    questionnaires::{self as service, Reader, Resolved},
};

pub struct QuestionnairesApi {
    pub app: Arc<App>,
    pub served: Arc<DefinitionCache>,
}

/// A definition as served: its JSON body, ETag and Cache-Control.
pub struct Served {
    body: bytes::Bytes,
    etag: String,
    cache_control: String,
}

/// The definitions served, built and serialized once per version, language and reader. The
/// library is fixed for the life of the process (publishing a version or installing wording is a
/// restart), so an entry never goes stale, and there is at most one per version × study language
/// × reader kind: no eviction is needed.
/// Key, version, language, and whether the reader is authenticated.
type ServedKey = (String, String, String, bool);

#[derive(Default)]
pub struct DefinitionCache {
    entries: RwLock<HashMap<ServedKey, Arc<Served>>>,
}

impl DefinitionCache {
    fn get(
        &self,
        app: &App,
        key: &str,
        version: &str,
        lang: &str,
        reader: Reader,
    ) -> Result<Arc<Served>, ApiError> {
        let k = (
            key.to_string(),
            version.to_string(),
            lang.to_string(),
            reader == Reader::Authenticated,
        );
        if let Ok(entries) = self.entries.read()
            && let Some(hit) = entries.get(&k)
        {
            return Ok(hit.clone());
        }
        let r = service::resolve(&app.library, key, version, lang, reader)?;
        // The same JSON the `Json` payload would write, once.
        let body = resolved_out(&r).to_json_string();
        let served = Arc::new(Served {
            body: body.into(),
            etag: r.etag(),
            cache_control: cache_control(&r),
        });
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(k, served.clone());
        }
        Ok(served)
    }
}

/// JSON serialized beforehand, documented with `T`'s schema.
pub struct JsonBytes<T>(bytes::Bytes, PhantomData<T>);

impl<T> JsonBytes<T> {
    pub fn new(body: bytes::Bytes) -> Self {
        JsonBytes(body, PhantomData)
    }
}

impl<T: Type + Send> Payload for JsonBytes<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for JsonBytes<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(<JsonBytes<QuestionnaireOut> as Payload>::CONTENT_TYPE)
            .body(self.0)
    }
}

/// A staff or participant token when one is sent; anonymous otherwise.
#[derive(SecurityScheme)]
pub enum OptionalAuth {
    Staff(StaffToken),
    #[oai(fallback)]
    Anonymous,
}

impl OptionalAuth {
    async fn reader(&self, app: &App) -> Result<Reader, ApiError> {
        match self {
            // Staff and participants both send a bearer token; either may read licensed wording.
            OptionalAuth::Staff(token) => {
                if token.actor(app).await.is_err() {
                    crate::auth::participant::authenticate(app, token.token()).await?;
                }
                Ok(Reader::Authenticated)
            }
            OptionalAuth::Anonymous => Ok(Reader::Anonymous),
        }
    }
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QuestionnaireSummary {
    pub key: String,
    pub version: String,
    /// Title in the requested language; absent when the wording is licensed and withheld.
    pub title: Option<String>,
    pub languages: Vec<String>,
    pub item_count: u32,
    /// sha256 of the canonical definition (as in published.lock).
    pub sha256: String,
    /// Wording kind for the requested language: open, licensed or demo.
    pub wording_kind: String,
    /// Wording kind per language.
    pub wording: BTreeMap<String, String>,
    /// Scoring files, newest last, e.g. `eortc-qlq-c30/3.0/scoring-1`.
    pub scorings: Vec<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChoiceOut {
    pub code: i64,
    pub text: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnchorsOut {
    pub min: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ConditionOut {
    pub item: String,
    #[oai(rename = "in")]
    pub any_of: Vec<i64>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ItemOut {
    pub id: String,
    /// single_choice, nrs, integer, yes_no, date, text, or group.
    #[oai(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    /// The recall-period header shown above this item.
    pub recall: Option<String>,
    pub required: bool,
    #[oai(default, skip_serializing_if_is_empty)]
    pub options: Vec<ChoiceOut>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub anchors: Option<AnchorsOut>,
    pub max_length: Option<u32>,
    pub show_if: Option<ConditionOut>,
    /// For groups: `per_active_lesion`.
    pub repeat: Option<String>,
    /// In a participant's expanded questionnaire: the lesion this question is about.
    pub lesion: Option<String>,
    /// …and its plain-language label.
    pub lesion_label: Option<String>,
    #[oai(default, skip_serializing_if_is_empty)]
    pub items: Vec<ItemOut>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LicenseOut {
    pub holder: String,
    /// open or licensed: the wording of the instrument itself.
    pub wording: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct QuestionnaireOut {
    pub key: String,
    pub version: String,
    pub language: String,
    pub sha256: String,
    pub license: LicenseOut,
    /// open, licensed or demo: the wording installed for this language.
    pub wording_kind: String,
    /// False when licensed wording was withheld from an anonymous reader.
    pub wording_included: bool,
    /// sha256 of the text pack shown (what a response records); absent when withheld.
    pub wording_sha256: Option<String>,
    pub title: Option<String>,
    pub instructions: Option<String>,
    pub items: Vec<ItemOut>,
}

#[derive(ApiResponse)]
pub enum QuestionnaireResponse {
    /// The questionnaire.
    #[oai(status = 200)]
    Ok(
        JsonBytes<QuestionnaireOut>,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Unchanged since the ETag sent in If-None-Match.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

#[derive(ApiResponse)]
pub enum FhirResponse {
    /// A FHIR R4 Questionnaire resource.
    #[oai(status = 200)]
    Ok(Json<Value>, #[oai(header = "Cache-Control")] String),
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnswersIn {
    /// `[{"item", "value", "lesion"}]`; `value` null means left blank.
    pub answers: Vec<AnswerIn>,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnswerIn {
    pub item: String,
    /// Integer code, number, text, "YYYY-MM-DD", or null (left blank).
    pub value: Option<Value>,
    /// Lesion id, exactly on per-lesion items.
    pub lesion: Option<String>,
}

/// The shared answer shape from its API form (`value` absent or null = left blank).
pub(crate) fn to_answers(list: Vec<AnswerIn>) -> Vec<Answer> {
    list.into_iter()
        .map(|a| Answer {
            item: a.item,
            value: a.value.unwrap_or(Value::Null),
            lesion: a.lesion,
        })
        .collect()
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ScaleOut {
    pub code: String,
    pub label: String,
    pub lesion: Option<String>,
    /// 0–100 (or the raw answer for raw scales); absent when too few items were answered.
    pub score: Option<f64>,
    /// Items (or, for summaries, scales) the score is made of.
    pub items: Vec<String>,
    pub answered: u32,
    /// complete, half_rule (scored with some items blank) or missing.
    pub status: String,
}

#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ScoresOut {
    pub questionnaire: String,
    pub version: String,
    /// The scoring file used, e.g. `eortc-qlq-c30/3.0/scoring-1`.
    pub scoring: String,
    pub scales: Vec<ScaleOut>,
    pub summaries: Vec<ScaleOut>,
}

pub(crate) fn scale_out(s: ScaleScore) -> ScaleOut {
    ScaleOut {
        code: s.code,
        label: s.label,
        lesion: s.lesion,
        score: s.score,
        items: s.items,
        answered: s.answered as u32,
        status: serde_json::to_value(s.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
    }
}

fn text(w: Option<&Wording>, key: &str) -> Option<String> {
    w.and_then(|w| w.get(key)).map(String::from)
}

pub(crate) fn item_out(def: &Definition, item: &Item, w: Option<&Wording>) -> ItemOut {
    ItemOut {
        id: item.id.clone(),
        kind: serde_json::to_value(item.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        text: text(w, &item.text),
        recall: item.recall.as_deref().and_then(|k| text(w, k)),
        required: item.required,
        options: def
            .options(item)
            .iter()
            .map(|o| ChoiceOut {
                code: o.code,
                text: text(w, &o.text),
            })
            .collect(),
        min: item.min,
        max: item.max,
        anchors: item.anchors.as_ref().map(|a| AnchorsOut {
            min: text(w, &a.min),
            max: text(w, &a.max),
        }),
        max_length: item.max_length,
        show_if: item.show_if.as_ref().map(|c| ConditionOut {
            item: c.item.clone(),
            any_of: c.any_of.clone(),
        }),
        repeat: None,
        lesion: None,
        lesion_label: None,
        items: vec![],
    }
}

pub(crate) fn resolved_out(r: &Resolved<'_>) -> QuestionnaireOut {
    let def = &r.version.definition;
    let w = r.wording;
    QuestionnaireOut {
        key: def.key.clone(),
        version: def.version.clone(),
        language: r.language.clone(),
        sha256: r.version.sha256.clone(),
        license: LicenseOut {
            holder: def.license.holder.clone(),
            wording: serde_json::to_value(def.license.wording)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
        },
        wording_kind: r.kind.as_str().into(),
        wording_included: !r.withheld(),
        wording_sha256: w.map(|w| w.sha256.clone()),
        title: text(w, &def.title),
        instructions: def.instructions.as_deref().and_then(|k| text(w, k)),
        items: def
            .items
            .iter()
            .map(|e| match e {
                Entry::Item(i) => item_out(def, i, w),
                Entry::Group(g) => ItemOut {
                    id: g.id.clone(),
                    kind: "group".into(),
                    text: g.text.as_deref().and_then(|k| text(w, k)),
                    recall: None,
                    required: false,
                    options: vec![],
                    min: None,
                    max: None,
                    anchors: None,
                    max_length: None,
                    show_if: None,
                    repeat: Some("per_active_lesion".into()),
                    lesion: None,
                    lesion_label: None,
                    items: g.items.iter().map(|i| item_out(def, i, w)).collect(),
                },
            })
            .collect(),
    }
}

fn cache_control(r: &Resolved<'_>) -> String {
    if r.kind == crate::domain::questionnaire::text::WordingKind::Licensed && !r.withheld() {
        "private, no-cache".into()
    } else {
        "public, max-age=300".into()
    }
}

impl QuestionnairesApi {
    fn language(&self, lang: Option<String>) -> String {
        lang.unwrap_or_else(|| {
            self.app
                .study
                .languages
                .first()
                .cloned()
                .unwrap_or_else(|| "en".into())
        })
    }
}

#[OpenApi(tag = "Tag::Questionnaires")]
impl QuestionnairesApi {
    /// Every published questionnaire version.
    #[oai(path = "/v1/questionnaires", method = "get")]
    async fn list(
        &self,
        auth: OptionalAuth,
        lang: Query<Option<String>>,
    ) -> Result<Json<Vec<QuestionnaireSummary>>, ApiError> {
        let reader = auth.reader(&self.app).await?;
        let lang = self.language(lang.0);
        let list = self
            .app
            .library
            .versions()
            .map(|v| {
                let def = &v.definition;
                let shown = if def.languages.contains(&lang) {
                    lang.clone()
                } else {
                    def.languages[0].clone()
                };
                let resolved =
                    service::resolve(&self.app.library, &def.key, &def.version, &shown, reader)
                        .ok();
                QuestionnaireSummary {
                    key: def.key.clone(),
                    version: def.version.clone(),
                    title: resolved.as_ref().and_then(|r| text(r.wording, &def.title)),
                    languages: def.languages.clone(),
                    item_count: def.item_count() as u32,
                    sha256: v.sha256.clone(),
                    wording_kind: resolved
                        .map(|r| r.kind.as_str().to_string())
                        .unwrap_or_default(),
                    wording: def
                        .languages
                        .iter()
                        .filter_map(|l| {
                            service::wording_kind(v, l).map(|k| (l.clone(), k.as_str().to_string()))
                        })
                        .collect(),
                    scorings: v.scorings.values().map(|(s, _)| s.id()).collect(),
                }
            })
            .collect();
        Ok(Json(list))
    }

    /// One version with its wording resolved for `lang` (default: the study's first language).
    ///
    /// Licensed wording is included only for an authenticated reader; otherwise the structure
    /// comes without it and `wording_included` is false. Supports If-None-Match.
    #[oai(path = "/v1/questionnaires/:key/:version", method = "get")]
    async fn get(
        &self,
        auth: OptionalAuth,
        key: Path<String>,
        version: Path<String>,
        lang: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<QuestionnaireResponse, ApiError> {
        let reader = auth.reader(&self.app).await?;
        let lang = self.language(lang.0);
        let served = self.served.get(&self.app, &key, &version, &lang, reader)?;
        let etag = served.etag.clone();
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|h| h.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        {
            return Ok(QuestionnaireResponse::NotModified(etag));
        }
        Ok(QuestionnaireResponse::Ok(
            JsonBytes(served.body.clone(), PhantomData),
            etag,
            served.cache_control.clone(),
        ))
    }

    /// The version as a FHIR R4 Questionnaire, with the same wording rules.
    #[oai(path = "/v1/questionnaires/:key/:version/fhir", method = "get")]
    async fn fhir(
        &self,
        auth: OptionalAuth,
        key: Path<String>,
        version: Path<String>,
        lang: Query<Option<String>>,
    ) -> Result<FhirResponse, ApiError> {
        let reader = auth.reader(&self.app).await?;
        let lang = self.language(lang.0);
        let r = service::resolve(&self.app.library, &key, &version, &lang, reader)?;
        let resource = fhir::questionnaire(
            &r.version.definition,
            r.wording,
            &self.app.settings.base_url,
            &lang,
        );
        Ok(FhirResponse::Ok(Json(resource), cache_control(&r)))
    }

    /// Score an answer set with the version's latest scoring file (nothing is stored).
    #[oai(path = "/v1/questionnaires/:key/:version/score", method = "post")]
    async fn score(
        &self,
        key: Path<String>,
        version: Path<String>,
        body: Json<AnswersIn>,
    ) -> Result<Json<ScoresOut>, ApiError> {
        let answers = to_answers(body.0.answers);
        let Scores {
            scoring,
            scales,
            summaries,
        } = service::score(&self.app.library, &key, &version, &answers)?;
        Ok(Json(ScoresOut {
            questionnaire: key.0,
            version: version.0,
            scoring,
            scales: scales.into_iter().map(scale_out).collect(),
            summaries: summaries.into_iter().map(scale_out).collect(),
        }))
    }
}
