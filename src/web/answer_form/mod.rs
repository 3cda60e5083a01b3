//! The questionnaire pages, for whoever answers: the participant on their phone, or site staff
//! during a teleconsultation (interviewer) or from paper. Pages, review and submit call the
//! same response services as the JSON API.

mod review;

use review::{after_submit_target, back_target};
pub use review::{review, submit};

use std::sync::Arc;

use minijinja::context;
use poem::{IntoResponse, Request, Response, http::StatusCode};
use serde::Serialize;

use super::{
    PageContext, SafetyView, Web, csrf_ok, error_page, fmt_date, last_day,
    questionnaire::{self, ItemView, Slot},
    redirect, sv,
};
use crate::{
    answering::{self, Expanded, Submission},
    app::App,
    auth::StaffActor,
    auth::participant::ParticipantActor,
    domain::answering::ResponseStatus,
    domain::questionnaire::{
        answers::{self, Answer},
        text::WordingKind,
    },
    error::{Code, Error},
};

/// Who answers.
pub enum Who {
    Participant(ParticipantActor),
    Staff {
        actor: StaffActor,
        study_id: String,
        /// interviewer or paper
        mode: String,
    },
}

impl Who {
    fn base(&self, visit: &str, key: &str) -> String {
        match self {
            Who::Participant(_) => format!("/p/q/{visit}/{key}"),
            Who::Staff { study_id, mode, .. } => {
                format!("/staff/participants/{study_id}/{mode}/{visit}/{key}")
            }
        }
    }

    async fn load<'a>(
        &self,
        app: &'a App,
        visit: &str,
        key: &str,
    ) -> crate::error::Result<Expanded<'a>> {
        match self {
            Who::Participant(pa) => answering::expanded(app, pa, visit, key).await,
            Who::Staff {
                actor, study_id, ..
            } => answering::expanded_for_staff(app, actor, study_id, visit, key).await,
        }
    }

    async fn save(
        &self,
        app: &App,
        visit: &str,
        key: &str,
        check: (Option<i32>, Option<&str>),
        answers: Vec<Answer>,
    ) -> crate::error::Result<i32> {
        let (if_match, save_id) = check;
        let d = match self {
            // The page script's saves carry a save id (offline answering): merged by item, a
            // resend recognised.
            Who::Participant(pa) => match save_id {
                Some(id) => answering::save_draft_once(app, pa, visit, key, id, answers).await?,
                None => answering::save_draft(app, pa, visit, key, if_match, answers).await?,
            },
            Who::Staff {
                actor,
                study_id,
                mode,
            } => {
                answering::staff_save_draft(
                    app, actor, study_id, mode, visit, key, if_match, answers,
                )
                .await?
            }
        };
        Ok(d.revision)
    }

    async fn submit(&self, app: &App, s: Submission) -> crate::error::Result<()> {
        match self {
            Who::Participant(pa) => {
                answering::submit(
                    app,
                    pa,
                    &s.visit,
                    &s.key,
                    &s.idempotency_key,
                    s.answers,
                    answering::Device {
                        utc_offset_minutes: None,
                        completed_at: s.device_completed_at,
                    },
                )
                .await?;
            }
            Who::Staff {
                actor,
                study_id,
                mode,
            } => {
                answering::staff_submit(app, actor, study_id, mode, s).await?;
            }
        }
        Ok(())
    }
}

impl Who {
    /// The name under which the page script keeps this participant's answers on the phone
    /// (docs/pages.md, "Answering offline"): a keyed hash of the participant, the same in every
    /// session of theirs and different for anyone else, so another participant signing in on
    /// the phone never finds them. Staff entry keeps nothing on the device.
    fn device_store(&self, app: &App) -> Option<String> {
        match self {
            Who::Participant(pa) => {
                crate::auth::throttle_key(app, "device store", &pa.id.to_string())
                    .ok()
                    .map(|k| k[..24].to_string())
            }
            Who::Staff { .. } => None,
        }
    }
}

/// Everything a questionnaire page or the review shows.
struct Loaded<'a> {
    x: Expanded<'a>,
    slots: Vec<Slot>,
    pages: Vec<std::ops::Range<usize>>,
    answers: Vec<Answer>,
}

impl<'a> Loaded<'a> {
    async fn of(who: &Who, app: &'a App, visit: &str, key: &str) -> crate::error::Result<Self> {
        let x = who.load(app, visit, key).await?;
        let slots = questionnaire::slots(&x.resolved.version.definition, &x.lesions);
        let pages = questionnaire::pages(&slots);
        let answers = answering::as_answers(&x.answers);
        Ok(Self {
            x,
            slots,
            pages,
            answers,
        })
    }

    fn revision(&self) -> i32 {
        self.x.response.as_ref().map_or(0, |r| r.revision)
    }

    fn submitted(&self) -> bool {
        self.x
            .response
            .as_ref()
            .is_some_and(|r| r.status != ResponseStatus::Draft)
    }

    /// The questions of a page as shown: those asked with the answers so far, and those that
    /// depend on a question of the same page (hidden until their condition holds). A question
    /// that depends on another page's answer and is not asked is left out.
    fn items(&self, web: &Web, range: std::ops::Range<usize>) -> Vec<ItemView> {
        let def = &self.x.resolved.version.definition;
        // A yes/no question in the questionnaire's language: its wording's `yes`/`no`, else the
        // catalogue's (never the code word "yes").
        let lang = &self.x.resolved.language;
        let yes_no = [
            web.t(lang, "answer_yes", &[]),
            web.t(lang, "answer_no", &[]),
        ];
        let page = &self.slots[range];
        page.iter()
            .filter_map(|s| {
                let mut view = questionnaire::item_view(
                    def,
                    self.x.resolved.wording,
                    s,
                    &self.x.lesions,
                    &self.x.resolved.language,
                    &self.answers,
                    &yes_no,
                )?;
                let asked = questionnaire::applies(def, s, &self.answers);
                let on_page = def
                    .item(&s.item)
                    .and_then(|p| p.item.show_if.as_ref())
                    .and_then(|c| {
                        page.iter().find(|o| {
                            o.item == c.item && (o.lesion == s.lesion || o.lesion.is_none())
                        })
                    });
                if !asked && on_page.is_none() {
                    return None;
                }
                view.hidden = !asked;
                view.show_field = on_page.map(Slot::field);
                Some(view)
            })
            .collect()
    }

    /// Whether page `p` asks anything with `answers`.
    fn page_asks(&self, p: usize, answers: &[Answer]) -> bool {
        let def = &self.x.resolved.version.definition;
        self.pages.get(p).is_some_and(|r| {
            self.slots[r.clone()]
                .iter()
                .any(|s| questionnaire::applies(def, s, answers))
        })
    }

    fn word(&self, key: &str) -> Option<String> {
        self.x
            .resolved
            .wording
            .and_then(|w| w.get(key))
            .map(String::from)
    }

    /// The first page with an unanswered question; past the end when all are answered.
    fn resume_page(&self) -> usize {
        let def = &self.x.resolved.version.definition;
        self.pages
            .iter()
            .position(|r| {
                self.slots[r.clone()].iter().any(|s| {
                    questionnaire::value_of(&self.answers, s).is_none()
                        && questionnaire::applies(def, s, &self.answers)
                })
            })
            .unwrap_or(self.pages.len())
    }
}

#[derive(Serialize)]
struct Blank {
    number: usize,
    text: String,
    lesion_label: Option<String>,
    href: String,
}

fn page_frame(
    web: &Web,
    app: &App,
    req: &Request,
    lang: String,
    who: &Who,
    demo: bool,
) -> PageContext {
    let mut page = PageContext::new(web, app, req, lang);
    page.safety = match who {
        Who::Participant(pa) => SafetyView::of(app, &page.lang, Some(&pa.site)),
        Who::Staff { .. } => None,
    };
    if let Who::Participant(pa) = who {
        page.lang_prompt = super::participant::lang_prompt(web, app, req, pa);
    }
    // Staff entry pages keep the staff menu.
    if let Who::Staff { actor, .. } = who {
        page.staff = Some(super::StaffInfo {
            email: String::new(),
            role: actor.role.as_str().into(),
        });
    }
    page.demo = demo;
    page
}

/// Whose form staff are entering: "HERMES-ZAS-002 · Maand 1 · QLQ-BM22 (Frans) · teleconsultatie".
fn entry_header(web: &Web, lang: &str, who: &Who, x: &Expanded<'_>, title: &str) -> Option<String> {
    let Who::Staff { study_id, mode, .. } = who else {
        return None;
    };
    let visit = x
        .visit
        .labels
        .get(lang)
        .cloned()
        .unwrap_or(x.visit.code.clone());
    let q_lang = web.language_label(lang, &x.resolved.language);
    let how = web.t(lang, &format!("how_{mode}"), &[]);
    Some(format!("{study_id} · {visit} · {title} ({q_lang}) · {how}"))
}

fn mode_banner(web: &Web, lang: &str, who: &Who) -> Option<String> {
    match who {
        Who::Participant(_) => None,
        Who::Staff { mode, .. } => Some(web.t(lang, &format!("mode_{mode}"), &[])),
    }
}

/// Position of the questionnaire among the visit's questionnaires (1-based) and their count.
fn position(x: &Expanded<'_>, key: &str) -> (usize, usize) {
    let keys: Vec<&str> = x
        .visit
        .questionnaires
        .iter()
        .map(|q| q.split('@').next().unwrap_or(q))
        .collect();
    (
        keys.iter().position(|k| *k == key).map_or(1, |i| i + 1),
        keys.len(),
    )
}

#[allow(clippy::too_many_arguments)]
async fn render_page(
    web: &Web,
    app: &App,
    req: &Request,
    lang: String,
    who: &Who,
    l: &Loaded<'_>,
    visit: &str,
    key: &str,
    page_no: usize,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let page = page_frame(
        web,
        app,
        req,
        lang,
        who,
        l.x.resolved.kind == WordingKind::Demo,
    );
    let idx = page_no.min(l.pages.len().saturating_sub(1));
    let range = l.pages.get(idx).cloned().unwrap_or(0..0);
    let recall = l.slots.get(range.start).and_then(|s| s.recall.clone());
    let (n, count) = position(&l.x, key);
    let items = l.items(web, range);
    let lang = page.lang.clone();
    let base = who.base(visit, key);
    let title = l
        .word(&l.x.resolved.version.definition.title)
        .unwrap_or_else(|| key.to_string());
    web.render(
        "questionnaire.html",
        &page,
        context! {
            entry_header => entry_header(web, &lang, who, &l.x, &title),
            title => title,
            instructions => (idx == 0).then(|| l.x.resolved.version.definition.instructions.as_deref().and_then(|k| l.word(k))).flatten(),
            recall => recall.and_then(|k| l.word(&k)),
            items => sv(&items),
            page_no => idx + 1,
            pages => l.pages.len(),
            page_of => web.t(&lang, "page_of", &[("page", &(idx + 1).to_string()), ("pages", &l.pages.len().to_string())]),
            questionnaire_of => web.t(&lang, "questionnaire_of", &[("n", &n.to_string()), ("count", &count.to_string())]),
            action => base,
            revision => l.revision(),
            first => idx == 0,
            last => idx + 1 >= l.pages.len(),
            mode_banner => mode_banner(web, &lang, who),
            notice => notice,
            error => error,
            q_lang => l.x.resolved.language.clone(),
            keep => who.device_store(app),
            offline_copy => offline_copy(req),
        },
    )
}

/// The questionnaire for a page, or the page to answer instead: an error page when it cannot
/// be loaded, and (with `open_only`) the next step when it was already sent.
#[allow(clippy::too_many_arguments)]
async fn load_for_page<'a>(
    web: &Web,
    app: &'a App,
    req: &Request,
    lang: &str,
    who: &Who,
    visit: &str,
    key: &str,
    open_only: bool,
) -> Result<Loaded<'a>, Response> {
    let l = Loaded::of(who, app, visit, key).await.map_err(|e| {
        error_page(
            web,
            &page_frame(web, app, req, lang.to_string(), who, false),
            &e,
        )
    })?;
    if open_only && l.submitted() {
        return Err(redirect(&after_submit_target(who, app, visit).await));
    }
    Ok(l)
}

/// GET a questionnaire page: `?page=N`, or where the participant left off.
pub async fn show(
    web: &Web,
    app: &Arc<App>,
    req: &Request,
    lang: String,
    who: &Who,
    visit: &str,
    key: &str,
) -> Response {
    let mut l = match load_for_page(web, app, req, &lang, who, visit, key, true).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let page_no = match super::query_param(req, "page").and_then(|p| p.parse::<usize>().ok()) {
        Some(p) => p.saturating_sub(1),
        None => {
            let r = l.resume_page();
            if r >= l.pages.len() && !l.pages.is_empty() {
                return redirect(&format!("{}/review", who.base(visit, key)));
            }
            r
        }
    };
    if offline_copy(req) {
        l.answers.clear();
    }
    let notice = page_notice(web, req, &lang);
    render_page(
        web, app, req, lang, who, &l, visit, key, page_no, notice, None,
    )
    .await
}

/// The service worker's copy of a page for offline reloads (`static/epro-sw.js`): the questions
/// without the answers, so that no answer is kept in the browser's cache (the page script puts
/// back the answers it keeps).
fn offline_copy(req: &Request) -> bool {
    req.header("x-epro-offline-copy") == Some("1")
}

/// What the page says after a save: a draft changed elsewhere, answers cleared because their
/// questions no longer apply (named by number), or a question that now applies on this page.
fn page_notice(web: &Web, req: &Request, lang: &str) -> Option<String> {
    let mut out = Vec::new();
    match super::query_param(req, "notice").as_deref() {
        Some("stale") => out.push(web.t(lang, "stale", &[])),
        Some("cleared") => {
            let numbers: Vec<String> = super::query_param(req, "cleared")
                .unwrap_or_default()
                .split('.')
                .filter_map(|n| n.parse::<usize>().ok())
                .map(|n| n.to_string())
                .collect();
            if !numbers.is_empty() {
                out.push(web.t(
                    lang,
                    "answers_cleared",
                    &[
                        ("numbers", &numbers.join(", ")),
                        ("count", &numbers.len().to_string()),
                    ],
                ));
            }
        }
        _ => {}
    }
    if super::query_param(req, "more").is_some() {
        out.push(web.t(lang, "question_appeared", &[]));
    }
    (!out.is_empty()).then(|| out.join(" "))
}

fn form_value<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// POST a page: save its answers (a new revision of the draft), then go back, on, or to review.
/// `go=save` is the JavaScript autosave: 204 with the new revision.
#[allow(clippy::too_many_arguments)]
pub async fn post(
    web: &Web,
    app: &Arc<App>,
    req: &Request,
    lang: String,
    who: &Who,
    visit: &str,
    key: &str,
    form: Vec<(String, String)>,
) -> Response {
    let frame = || page_frame(web, app, req, lang.clone(), who, false);
    let l = match load_for_page(web, app, req, &lang, who, visit, key, false).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let page_no = page_index(&form, l.pages.len());
    // The page again, with what went wrong (nothing was saved).
    let again = async |status: StatusCode, msg: String| {
        let mut r = render_page(
            web,
            app,
            req,
            lang.clone(),
            who,
            &l,
            visit,
            key,
            page_no,
            None,
            Some(msg),
        )
        .await;
        r.set_status(status);
        r
    };
    if !csrf_ok(req, form_value(&form, "csrf").unwrap_or("")) {
        return again(StatusCode::FORBIDDEN, web.t(&lang, "csrf_failed", &[])).await;
    }
    let go = form_value(&form, "go").unwrap_or("next").to_string();
    let range = l.pages.get(page_no).cloned().unwrap_or(0..0);
    let def = &l.x.resolved.version.definition;
    let mut answers = match questionnaire::read_page(def, &l.slots[range.clone()], &form) {
        Ok(a) => a,
        Err(msg) => return again(StatusCode::UNPROCESSABLE_ENTITY, msg).await,
    };
    // Answers to questions that no longer apply (`show_if`) are cleared with this save and
    // named on the next page, never refused: nothing else on the page is lost.
    let gone = answers::no_longer_asked(def, &questionnaire::overlay(&l.answers, &answers));
    answers.retain(|a| !gone.iter().any(|(i, le)| *i == a.item && *le == a.lesion));
    let mut cleared = Vec::new();
    for s in l.slots.iter().filter(|s| {
        gone.iter().any(|(i, le)| *i == s.item && *le == s.lesion)
            && questionnaire::value_of(&l.answers, s).is_some()
    }) {
        answers.push(Answer {
            item: s.item.clone(),
            lesion: s.lesion.clone(),
            value: serde_json::Value::Null,
        });
        cleared.push(s.number);
    }
    let merged = questionnaire::overlay(&l.answers, &answers);
    cleared.sort_unstable();
    // Without the page script, a question of this page that the new answers make applicable
    // was not seen: the page is shown again with it.
    let appeared = form_value(&form, "js").is_none()
        && l.slots[range].iter().any(|s| {
            !questionnaire::applies(def, s, &l.answers)
                && questionnaire::applies(def, s, &merged)
                && questionnaire::value_of(&merged, s).is_none()
        });
    let mut revision = l.revision();
    if !answers.is_empty() {
        // A revision only means something once a draft exists.
        let if_match = form_value(&form, "revision").and_then(|r| r.parse::<i32>().ok());
        let if_match = if_match.filter(|_| l.x.response.is_some());
        let save_id = form_value(&form, "save_id");
        let result = who
            .save(app, visit, key, (if_match, save_id), answers)
            .await;
        if go == "save" {
            // The autosave only needs to know whether it worked.
            return match result {
                Ok(r) => saved(r),
                Err(e) => e.status().into_response(),
            };
        }
        match result {
            Ok(r) => revision = r,
            Err(Error::Conflict {
                code: Code::DraftChanged,
                ..
            }) => {
                return redirect(&format!(
                    "{}?page={}&notice=stale",
                    who.base(visit, key),
                    page_no + 1
                ));
            }
            Err(Error::Conflict {
                code: Code::AlreadySubmitted,
                ..
            }) => {
                return redirect(&after_submit_target(who, app, visit).await);
            }
            Err(e @ (Error::Invalid { .. } | Error::Unprocessable { .. })) => {
                let msg = crate::web::refusal(web, &lang, &e);
                return again(StatusCode::UNPROCESSABLE_ENTITY, msg).await;
            }
            Err(e) => return error_page(web, &frame(), &e),
        }
    }
    if go == "save" {
        return saved(revision);
    }
    // What the next page says: answers cleared, or a question that appeared on this one.
    let mut notice = Vec::new();
    if !cleared.is_empty() {
        let numbers: Vec<String> = cleared.iter().map(usize::to_string).collect();
        notice.push(format!("notice=cleared&cleared={}", numbers.join(".")));
    }
    let again = appeared && go == "next";
    if again {
        notice.push("more=1".into());
    }
    let base = who.base(visit, key);
    let to = |path: String| {
        if notice.is_empty() {
            redirect(&path)
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            redirect(&format!("{path}{sep}{}", notice.join("&")))
        }
    };
    if again {
        return to(format!("{base}?page={}", page_no + 1));
    }
    // On to the next page that asks something with the answers as saved; back to the previous
    // one (or out of the form); past the last, the review.
    let asks = |p: &usize| l.page_asks(*p, &merged);
    match go.as_str() {
        "back" => match (0..page_no).rev().find(asks) {
            Some(p) => to(format!("{base}?page={}", p + 1)),
            None => redirect(&back_target(who)),
        },
        "review" => to(format!("{base}/review")),
        _ => match (page_no + 1..l.pages.len()).find(asks) {
            Some(p) => to(format!("{base}?page={}", p + 1)),
            None => to(format!("{base}/review")),
        },
    }
}

/// The 0-based page a form came from (its `page` field is 1-based), within `pages`.
fn page_index(form: &[(String, String)], pages: usize) -> usize {
    form_value(form, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .saturating_sub(1)
        .min(pages.saturating_sub(1))
}

/// An autosave's reply: no content, the new revision in a header.
fn saved(revision: i32) -> Response {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header("X-Revision", revision.to_string())
        .finish()
}

/// The last day to answer a visit (window end, or grace end when late), written out.
pub fn answer_by(app: &App, v: &crate::participants::VisitView, lang: &str) -> Option<String> {
    let end = match v.state {
        crate::domain::schedule::VisitState::Late => v.window.grace_end,
        _ => v.window.end,
    }?;
    Some(fmt_date(last_day(app, end), lang))
}
