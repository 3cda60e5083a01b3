//! Staff sign-in, sign-out and the password change pages.

use std::sync::Arc;

use minijinja::context;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form},
};

use super::{
    PageContext, Pairs, STAFF_COOKIE, STAFF_COOKIES, Web, choose_lang, csrf_ok, error_page, failed,
    field, query_param, redirect, refusal, remember_lang, remembered_lang, signed_in,
};
use crate::{app::App, auth, error::Error};

pub(super) fn anon_page(web: &Web, app: &App, req: &Request) -> PageContext {
    let (lang, chosen) = choose_lang(app, req, None);
    remember_lang(web, req.cookie(), &lang, chosen);
    PageContext::new(web, app, req, lang)
}

#[handler]
pub(super) async fn login_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let page = anon_page(web, app, req);
    // After a password change: say it worked, and that the new one signs in.
    let notice = query_param(req, "changed").map(|_| web.t(&page.lang, "password_changed", &[]));
    web.render(
        "s_login.html",
        &page,
        context! { error => Option::<String>::None, notice => notice },
    )
}

#[handler]
pub(super) async fn login_post(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let page = anon_page(web, app, req);
    let lang = page.lang.clone();
    let again = |msg: String, status: StatusCode| {
        let mut r = web.render(
            "s_login.html",
            &page,
            context! { error => msg, email => field(&form, "email") },
        );
        r.set_status(status);
        r
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    let ip = crate::api::client::client_address(
        req.remote_addr().as_socket_addr().map(|a| a.ip()),
        req.header("x-forwarded-for"),
        &app.trusted_proxies,
    );
    match auth::login(app, field(&form, "email"), field(&form, "password"), ip).await {
        Ok(login) => {
            let age = (login.expires_at - app.clock.now())
                .to_std()
                .unwrap_or_default();
            req.cookie()
                .add(web.cookie(STAFF_COOKIE, &login.token, Some(age)));
            // A language chosen on the login page (or earlier in this browser) is the staff
            // member's language from now on: that of the pages and of the daily digest.
            if let Some(lang) = remembered_lang(app, req).or(query_param(req, "lang"))
                && let Ok(actor) = auth::authenticate(app, &login.token).await
            {
                let _ = crate::store::staff::set_language(&app.db, actor.id, &lang).await;
            }
            redirect(if login.must_change_password {
                "/staff/password"
            } else {
                "/staff/"
            })
        }
        Err(Error::Throttled { retry_after_secs }) => again(
            web.t(
                &lang,
                "login_throttled",
                &[("minutes", &((retry_after_secs + 59) / 60).to_string())],
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(Error::InvalidCredentials) => {
            again(web.t(&lang, "login_failed", &[]), StatusCode::UNAUTHORIZED)
        }
        Err(e) => error_page(web, &page, &e),
    }
}

#[handler]
pub(super) async fn logout(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    if csrf_ok(req, field(&form, "csrf")) {
        if let Some(c) = req.cookie().get(STAFF_COOKIE)
            && let Ok(actor) = auth::authenticate(app, c.value_str()).await
        {
            let _ = auth::logout(app, &actor).await;
        }
        web.forget(req.cookie(), STAFF_COOKIES);
    }
    redirect("/staff/login")
}

#[handler]
pub(super) async fn password_page(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    web.render(
        "s_password.html",
        &page,
        context! { must_change => actor.must_change_password },
    )
}

#[handler]
pub(super) async fn password_post(
    req: &Request,
    Data(web): Data<&Arc<Web>>,
    Data(app): Data<&Arc<App>>,
    Form(form): Form<Pairs>,
) -> Response {
    let (actor, page) = staff!(web, app, req);
    let lang = page.lang.clone();
    let again = |msg: String, status: StatusCode| {
        let mut r = web.render(
            "s_password.html",
            &page,
            context! { must_change => actor.must_change_password, error => msg },
        );
        r.set_status(status);
        r
    };
    if !csrf_ok(req, field(&form, "csrf")) {
        return again(web.t(&lang, "csrf_failed", &[]), StatusCode::FORBIDDEN);
    }
    match auth::change_password(app, &actor, field(&form, "current"), field(&form, "new")).await {
        // Other sessions end, this one included: sign in again with the new password.
        Ok(()) => redirect("/staff/login?changed=1"),
        Err(e @ (Error::Invalid { .. } | Error::InvalidCredentials)) => {
            again(refusal(web, &lang, &e), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => failed(web, &page, &e),
    }
}
