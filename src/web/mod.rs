//! Server-rendered pages: the participant's phone questionnaire and the site's screens. Pages
//! call the same services as the JSON API; templates, CSS and a little JavaScript are embedded
//! in the binary, and every page works with JavaScript off. This module owns page security:
//! CSRF on every form, strict cookies, CSP and no caching of personal pages.

mod answer_form;
mod chart;
mod participant;
mod questionnaire;
mod staff;

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use minijinja::{Environment, Value, context};
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route,
    http::{HeaderValue, StatusCode, header},
    middleware::{CookieJarManager, Csrf},
    web::cookie::{Cookie, CookieJar, SameSite},
};
use sha2::{Digest, Sha256};

use crate::{
    app::App,
    domain::study::Safety,
    error::Error,
    texts::{Arg as TextArg, Texts},
};

const CSS: &str = include_str!("../../static/epro.css");
const JS: &str = include_str!("../../static/epro.js");
const SW: &str = include_str!("../../static/epro-sw.js");

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/web/base.html")),
    ("error.html", include_str!("../../templates/web/error.html")),
    ("p_pin.html", include_str!("../../templates/web/p_pin.html")),
    (
        "p_tasks.html",
        include_str!("../../templates/web/p_tasks.html"),
    ),
    (
        "questionnaire.html",
        include_str!("../../templates/web/questionnaire.html"),
    ),
    (
        "review.html",
        include_str!("../../templates/web/review.html"),
    ),
    (
        "p_thanks.html",
        include_str!("../../templates/web/p_thanks.html"),
    ),
    (
        "s_login.html",
        include_str!("../../templates/web/s_login.html"),
    ),
    (
        "s_password.html",
        include_str!("../../templates/web/s_password.html"),
    ),
    (
        "s_dashboard.html",
        include_str!("../../templates/web/s_dashboard.html"),
    ),
    (
        "s_call.html",
        include_str!("../../templates/web/s_call.html"),
    ),
    (
        "s_late.html",
        include_str!("../../templates/web/s_late.html"),
    ),
    (
        "s_participant.html",
        include_str!("../../templates/web/s_participant.html"),
    ),
    (
        "s_enrol.html",
        include_str!("../../templates/web/s_enrol.html"),
    ),
    (
        "s_exports.html",
        include_str!("../../templates/web/s_exports.html"),
    ),
];

pub const PARTICIPANT_COOKIE: &str = "epro_p";
pub const STAFF_COOKIE: &str = "epro_s";
const LANG_COOKIE: &str = "epro_lang";
/// The sealed personal link a participant's browser signed in with (see `participant`).
pub const LINK_COOKIE: &str = "epro_l";
/// The late-entry reason a nurse gave, sealed (see `staff::entry`).
pub const LATE_COOKIE: &str = "epro_late";

/// What signing out forgets: every cookie the pages set for that person (the CSRF cookie is
/// poem's and holds nothing personal). A participant's includes the link, so the next person
/// on a shared tablet cannot resume with it; both include the language chosen on the device.
pub const PARTICIPANT_COOKIES: &[&str] = &[PARTICIPANT_COOKIE, LINK_COOKIE, LANG_COOKIE];
pub const STAFF_COOKIES: &[&str] = &[STAFF_COOKIE, LATE_COOKIE, LANG_COOKIE];

/// Everything the pages share: templates, UI words, cookie policy.
pub struct Web {
    env: Environment<'static>,
    texts: Arc<Texts>,
    /// Every page word per study language, formatted once (what templates read as `t.<key>`).
    words: BTreeMap<String, Value>,
    secure: bool,
    asset_version: String,
}

impl Web {
    pub fn new(app: &App) -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        crate::texts::add_text_function(&mut env, app.texts.clone());
        let words = app
            .study
            .languages
            .iter()
            .map(|lang| (lang.clone(), sv(&app.texts.all(lang))))
            .collect();
        let mut h = Sha256::new();
        h.update(CSS.as_bytes());
        h.update(JS.as_bytes());
        let asset_version = hex::encode(h.finalize())[..12].to_string();
        Ok(Self {
            env,
            texts: app.texts.clone(),
            words,
            secure: app.settings.base_url.starts_with("https://"),
            asset_version,
        })
    }

    /// The UI word `key` in `lang` (`crate::texts`), with its `{ $name }` variables filled; a
    /// value written as a whole number is passed as a number, so Fluent picks its plural form.
    pub fn t(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        let args: Vec<(&str, TextArg)> = args
            .iter()
            .map(|(name, value)| (*name, text_arg(value)))
            .collect();
        self.texts.get(lang, key, &args)
    }

    /// The name of language `code` for a reader of `lang`: the text `lang_<code>` (or of a less
    /// specific form of `code`: `lang_nl` for `nl-NL`), else the language's own name
    /// (`language_name` in its texts), so a language added by files is named too.
    pub fn language_label(&self, lang: &str, code: &str) -> String {
        crate::texts::lookup_chain(code)
            .iter()
            .map(|tag| format!("lang_{tag}"))
            .find(|key| self.has(lang, key))
            .map(|key| self.t(lang, &key, &[]))
            .unwrap_or_else(|| self.t(code, "language_name", &[]))
    }

    /// Whether the catalogue has `key` for `lang`.
    pub fn has(&self, lang: &str, key: &str) -> bool {
        self.texts.has(lang, key)
    }

    fn render(&self, name: &str, page: &PageContext, ctx: Value) -> Response {
        let full = context! {
            t => self.words.get(&page.lang).cloned().unwrap_or_else(|| sv(&self.texts.all(&page.lang))),
            lang => page.lang.clone(),
            lang_links => sv(&page.lang_links),
            asset_v => self.asset_version.clone(),
            study_name => page.study_name.clone(),
            safety => page.safety.as_ref().map(sv),
            demo => page.demo,
            staff => page.staff.clone().map(|s| sv(&s)),
            csrf => page.csrf.clone(),
            lang_prompt => page.lang_prompt.as_ref().map(sv),
            request_ref => page.request_ref.clone(),
            ..ctx
        };
        match self.env.get_template(name).and_then(|t| t.render(full)) {
            Ok(html) => html_response(StatusCode::OK, html),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed");
                html_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>Internal error</p>".into(),
                )
            }
        }
    }

    /// The one definition of a page cookie's attributes: setting it and forgetting it
    /// (`forget`) both start here, so a removal always carries the Path (and Secure, SameSite)
    /// of the cookie it removes — a browser ignores a removal whose Path differs.
    fn cookie(&self, name: &str, value: &str, max_age: Option<std::time::Duration>) -> Cookie {
        let mut c = Cookie::new_with_str(name, value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Strict);
        c.set_secure(self.secure);
        c.set_path("/");
        if let Some(age) = max_age {
            c.set_max_age(age);
        }
        c
    }

    /// Forget these cookies in the browser: a removal (empty, expired) built by `cookie`, sent
    /// whether or not the request carried the cookie.
    pub fn forget(&self, jar: &CookieJar, names: &[&str]) {
        for name in names {
            let mut c = self.cookie(name, "", None);
            c.make_removal();
            jar.add(c);
        }
    }
}

/// A text argument: a whole number written canonically ("3", not "03") is a number.
fn text_arg(value: &str) -> TextArg {
    match value.parse::<i64>() {
        Ok(n) if n.to_string() == value => TextArg::from(n),
        _ => TextArg::from(value),
    }
}

/// Any serializable value as a template value.
pub fn sv<T: serde::Serialize + ?Sized>(x: &T) -> Value {
    Value::from(minijinja::value::Serde(x))
}

fn html_response(status: StatusCode, html: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

pub fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// A language link in the header: `?lang=xx` on the current page.
#[derive(Debug, Clone, serde::Serialize)]
struct LangLink {
    code: String,
    name: String,
    href: String,
    current: bool,
}

/// The staff member a page is for (name of the menu, sites).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaffInfo {
    pub email: String,
    pub role: String,
}

/// What every page's frame needs.
pub struct PageContext {
    pub lang: String,
    lang_links: Vec<LangLink>,
    pub study_name: String,
    pub safety: Option<SafetyView>,
    pub demo: bool,
    pub staff: Option<StaffInfo>,
    pub csrf: String,
    /// A participant's language link, asking whether the choice should hold from now on.
    pub lang_prompt: Option<participant::LangPrompt>,
    /// The first characters of the request id (the `x-request-id` header and the log line's
    /// `request_id`), shown on error pages for the help desk.
    pub request_ref: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SafetyView {
    /// The notice around the site's phone number: the number itself is a `tel:` link.
    pub before: String,
    pub phone: Option<String>,
    /// The number as dialled (`tel:`): digits and a leading `+`.
    pub tel: Option<String>,
    pub after: String,
    pub urgent_intro: String,
    pub urgent: Vec<String>,
}

impl SafetyView {
    pub fn of(app: &App, lang: &str, site: Option<&str>) -> Option<Self> {
        let s: &Safety = app
            .study
            .safety
            .get(lang)
            .or_else(|| app.study.safety.values().next())?;
        let phone = site
            .and_then(|code| app.study.site(code))
            .map(|s| s.phone.clone());
        let (before, after) = s.notice.split_once("{phone}").unwrap_or((&s.notice, ""));
        // Without a known site there is no number to show: the sentence ends without one (and
        // without the space French puts before its colon: "appelez votre hôpital.").
        let (before, after) = match phone {
            Some(_) => (before.to_string(), after.to_string()),
            None => (
                before
                    .trim_end()
                    .trim_end_matches(':')
                    .trim_end()
                    .to_string(),
                after.to_string(),
            ),
        };
        Some(Self {
            tel: phone.as_ref().map(|p| {
                p.chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect()
            }),
            phone,
            before,
            after,
            urgent_intro: s.urgent_intro.clone(),
            urgent: s.urgent.clone(),
        })
    }
}

/// The language this browser chose earlier (`?lang=`, kept in a cookie), if any.
pub fn remembered_lang(app: &App, req: &Request) -> Option<String> {
    req.cookie()
        .get(LANG_COOKIE)
        .map(|c| c.value_str().to_string())
        .filter(|l| app.study.languages.iter().any(|s| s == l))
}

/// The page language: `?lang=` (remembered in a cookie), the person's own language (a
/// participant's, once known), the one this browser chose earlier, the browser's, or the
/// study's first.
pub fn choose_lang(app: &App, req: &Request, own: Option<&str>) -> (String, bool) {
    let ok = |l: &str| app.study.languages.iter().any(|s| s == l);
    if let Some(l) = query_param(req, "lang").filter(|l| ok(l)) {
        return (l, true);
    }
    if let Some(l) = own.filter(|l| ok(l)) {
        return (l.to_string(), false);
    }
    if let Some(l) = remembered_lang(app, req) {
        return (l, false);
    }
    if let Some(al) = req.header(header::ACCEPT_LANGUAGE) {
        // BCP 47 lookup: the browser's `nl-BE` takes the study's `nl`; its `nl` takes the
        // study's `nl-NL` when that is the only Dutch.
        let languages = &app.study.languages;
        for part in al.split(',') {
            let tag = part.split(';').next().unwrap_or("").trim();
            let wider = crate::texts::best_match(languages, tag).or_else(|| {
                languages
                    .iter()
                    .find(|l| {
                        crate::texts::lookup_chain(l)
                            .iter()
                            .any(|t| t.eq_ignore_ascii_case(tag))
                    })
                    .map(String::as_str)
            });
            if let Some(l) = wider.filter(|_| !tag.is_empty() && tag != "*") {
                return (l.to_string(), false);
            }
        }
    }
    (
        app.study
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| "en".into()),
        false,
    )
}

/// A posted form's field `name` as sent ("" when absent).
pub fn field<'f>(form: &'f [(String, String)], name: &str) -> &'f str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The request's query parameters, less `name`.
pub fn query_without(req: &Request, name: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl PageContext {
    pub fn new(web: &Web, app: &App, req: &Request, lang: String) -> Self {
        let path = req.original_uri().path().to_string();
        let mut others = query_without(req, "lang");
        let lang_links = app
            .study
            .languages
            .iter()
            .map(|code| {
                others.push(("lang".into(), code.clone()));
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(others.iter())
                    .finish();
                others.pop();
                LangLink {
                    code: code.clone(),
                    name: web.t(code, "language_name", &[]),
                    href: format!("{path}?{q}"),
                    current: *code == lang,
                }
            })
            .collect();
        let csrf = req
            .extensions()
            .get::<poem::web::CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        Self {
            lang,
            lang_links,
            study_name: app.study.name.clone(),
            safety: None,
            demo: false,
            staff: None,
            csrf,
            lang_prompt: None,
            request_ref: req
                .data::<poem::middleware::ReqId>()
                .map(|id| id.to_string().chars().take(8).collect()),
        }
    }
}

/// Check the CSRF token of a posted form.
pub fn csrf_ok(req: &Request, token: &str) -> bool {
    req.extensions()
        .get::<poem::web::CsrfVerifier>()
        .is_some_and(|v| v.is_valid(token))
}

pub use crate::domain::dates::fmt_date;

/// The local day of an instant.
pub fn local_day(app: &App, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&app.study.time_zone).date_naive()
}

/// The last local day before an exclusive end instant.
pub fn last_day(app: &App, end: DateTime<Utc>) -> NaiveDate {
    local_day(app, end - Duration::seconds(1))
}

/// An instant as the reader says it: the local day in the page's language and the time
/// ("2 december 2026, 10:05").
pub fn local_time(app: &App, at: DateTime<Utc>, lang: &str) -> String {
    let local = at.with_timezone(&app.study.time_zone);
    format!(
        "{}, {}",
        fmt_date(local.date_naive(), lang),
        local.format("%H:%M")
    )
}

/// A number as the reader writes it: "66,7" in Dutch and French, "66.7" in English; `decimals`
/// after the separator, none when the number is whole and `decimals` is 0.
pub fn fmt_number(x: f64, decimals: usize, lang: &str) -> String {
    let s = format!("{x:.decimals$}");
    match lang.split('-').next() {
        Some("en") => s,
        _ => s.replace('.', ","),
    }
}

/// A refused request in the reader's words: the typed problem (`invalid_<key>`) or the refusal's
/// code (`code_<code>`) through the text catalogue, dates and numbers written the local way.
/// Never the English message of the API, a field name or a code value.
pub fn refusal(web: &Web, lang: &str, err: &Error) -> String {
    use crate::domain::problem::Arg;
    match err {
        Error::Invalid { problem, .. } => {
            let (key, args) = problem.page_text();
            let args: Vec<(&str, String)> = args
                .into_iter()
                .map(|(name, arg)| {
                    let text = match arg {
                        Arg::Text(t) => t,
                        Arg::Number(n) => fmt_number(n, if n.fract() == 0.0 { 0 } else { 1 }, lang),
                        Arg::Date(d) => fmt_date(d, lang),
                        Arg::Language(l) => web.language_label(lang, &l),
                    };
                    (name, text)
                })
                .collect();
            let args: Vec<(&str, &str)> = args.iter().map(|(n, t)| (*n, t.as_str())).collect();
            web.t(lang, &format!("invalid_{key}"), &args)
        }
        Error::InvalidCredentials => web.t(lang, "login_failed", &[]),
        Error::Throttled { retry_after_secs } | Error::Busy { retry_after_secs } => web.t(
            lang,
            "login_throttled",
            &[("minutes", &(retry_after_secs / 60 + 1).to_string())],
        ),
        Error::Forbidden(_) => web.t(lang, "code_forbidden", &[]),
        Error::NotFound(_) => web.t(lang, "not_found", &[]),
        Error::Unauthorized { code, .. }
        | Error::Unknown { code, .. }
        | Error::Unprocessable { code, .. }
        | Error::Conflict { code, .. } => {
            let key = format!("code_{}", code.as_str());
            if web.has(lang, &key) {
                web.t(lang, &key, &[])
            } else {
                web.t(lang, "code_other", &[])
            }
        }
        Error::Unauthenticated | Error::PasswordChangeRequired => {
            web.t(lang, "code_forbidden", &[])
        }
        Error::Store(_) | Error::Internal(_) => web.t(lang, "error_title", &[]),
    }
}

/// An error page (status from the service error), in the page's frame.
pub fn error_page(web: &Web, page: &PageContext, err: &Error) -> Response {
    let status = err.status();
    let message = match err {
        Error::NotFound(_) | Error::Unknown { .. } => web.t(&page.lang, "not_found", &[]),
        Error::Busy { .. } => web.t(&page.lang, "server_busy", &[]),
        Error::Store(_) | Error::Internal(_) => {
            tracing::error!(error = %err, "page failed");
            web.t(&page.lang, "error_title", &[])
        }
        other => refusal(web, &page.lang, other),
    };
    message_page(web, page, status, message)
}

/// A page that only says something (an error), in the page's frame.
pub fn message_page(
    web: &Web,
    page: &PageContext,
    status: StatusCode,
    message: String,
) -> Response {
    let mut resp = web.render("error.html", page, context! { message => message });
    resp.set_status(status);
    resp
}

/// Security headers on every page: no inline script or third-party origin, no framing, no
/// referrer, and personal pages never cached.
async fn page_headers<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let is_static = req.original_uri().path().starts_with("/static/");
    let mut resp = ep.call(req).await?.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_static {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, max-age=0"),
        );
    }
    Ok(resp)
}

fn static_file(req: &Request) -> Response {
    let (body, kind) = match req.original_uri().path() {
        "/static/epro.css" => (CSS, "text/css; charset=utf-8"),
        "/static/epro.js" => (JS, "text/javascript; charset=utf-8"),
        // The service worker (docs/pages.md, "Answering offline"): asked for again on every
        // registration so a new version takes over, and allowed to serve the participant pages.
        "/static/epro-sw.js" => {
            return Response::builder()
                .content_type("text/javascript; charset=utf-8")
                .header(header::CACHE_CONTROL, "no-cache")
                .header("Service-Worker-Allowed", "/p/")
                .body(SW);
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    Response::builder()
        .content_type(kind)
        .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
        .body(body)
}

/// The CSRF key: derived from the data key, so every instance behind a load balancer agrees.
fn csrf_key(app: &App) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"epro csrf v1");
    h.update(app.keys.data.bytes());
    h.finalize().into()
}

/// Mount the pages beside the API: /p (participants), /staff, /static and /.
pub fn mount(route: Route, app: &Arc<App>) -> Result<Route, String> {
    let web = Arc::new(Web::new(app)?);
    let key = csrf_key(app);
    let secure = web.secure;
    let wrap = |ep: poem::endpoint::BoxEndpoint<'static, Response>| {
        ep.with(
            Csrf::new()
                .cookie_name("epro_csrf")
                .key(key)
                .secure(secure)
                .same_site(SameSite::Strict),
        )
        .around(page_headers)
        .with(CookieJarManager::new())
        .with(poem::middleware::Compression::new())
        .data(web.clone())
        .map_to_response()
        .boxed()
    };
    Ok(route
        .nest("/p", wrap(participant::routes().map_to_response().boxed()))
        .nest("/staff", wrap(staff::routes().map_to_response().boxed()))
        .at(
            "/static/:file",
            wrap(
                poem::get(poem::endpoint::make(|req| async move { static_file(&req) }))
                    .map_to_response()
                    .boxed(),
            ),
        )
        .at(
            "/",
            poem::get(poem::endpoint::make_sync(|_| redirect("/staff/"))),
        ))
}

/// Sets or clears the remembered language when `?lang=` was given.
pub fn remember_lang(web: &Web, jar: &CookieJar, lang: &str, chosen: bool) {
    if chosen {
        jar.add(web.cookie(
            LANG_COOKIE,
            lang,
            Some(std::time::Duration::from_secs(365 * 24 * 3600)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every typed problem and refusal code has its words in every built-in language, with the
    /// placeholders it fills (a page never falls back to a key or to English). (That every
    /// language has every key is `texts::tests`.)
    #[test]
    fn every_refusal_has_its_words_in_every_language() {
        let texts = Texts::embedded().expect("texts");
        for lang in texts.languages() {
            for problem in crate::domain::problem::one_of_each() {
                let (key, args) = problem.page_text();
                let key = format!("invalid_{key}");
                assert!(texts.has(&lang, &key), "[{lang}] has no {key}");
                // Unfilled, Fluent shows each variable as `{$name}`.
                let bare = texts.get(&lang, &key, &[]);
                for (name, _) in args {
                    assert!(
                        bare.contains(&format!("{{${name}}}")),
                        "[{lang}] {key}: no {{ ${name} }}"
                    );
                }
            }
            for key in ["code_other", "code_forbidden"] {
                assert!(texts.has(&lang, key), "[{lang}] has no {key}");
            }
        }
    }

    #[test]
    fn dates_take_the_readers_month_names_by_language_tag() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).expect("date");
        let cases = [
            ("nl", "5 maart 2026"),
            ("nl-NL", "5 maart 2026"),
            ("fr", "5 mars 2026"),
            ("en", "5 March 2026"),
            ("de", "5 März 2026"),
            ("de-AT", "5 März 2026"),
            ("xx", "5 March 2026"),
        ];
        for (lang, want) in cases {
            assert_eq!(fmt_date(day, lang), want, "{lang}");
        }
    }

    #[test]
    fn numbers_take_the_readers_decimal_sign() {
        let cases = [
            (66.666, 1, "nl", "66,7"),
            (66.666, 1, "fr", "66,7"),
            (66.666, 1, "en", "66.7"),
            (10_000.0, 0, "nl", "10000"),
            (2.5, 1, "en-GB", "2.5"),
            (2.5, 1, "de", "2,5"),
        ];
        for (x, decimals, lang, want) in cases {
            assert_eq!(fmt_number(x, decimals, lang), want);
        }
    }
}
