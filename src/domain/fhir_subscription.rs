//! FHIR R4 rest-hook Subscription rules (#26.3, docs/fhir.md "Subscriptions"): which criteria
//! are accepted, the payload kinds, the endpoint rule, the retry schedule, and the signature a
//! receiver checks. Pure: no I/O, no clock (instants come in as arguments).

use chrono::Duration;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A response event a subscription may ask for (R4 `QuestionnaireResponse.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Completed,
    Amended,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Completed => "completed",
            Event::Amended => "amended",
        }
    }
    pub fn parse(s: &str) -> Option<Event> {
        match s {
            "completed" => Some(Event::Completed),
            "amended" => Some(Event::Amended),
            _ => None,
        }
    }
}

/// Accepted criteria: `QuestionnaireResponse?status=<completed|amended|completed,amended>`,
/// optionally `&questionnaire=<url>` or `<url>|<version>` (raw value, split by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    pub events: Vec<Event>,
    pub questionnaire: Option<String>,
}

const CRITERIA_HELP: &str = "accepted: QuestionnaireResponse?status=completed, \
     QuestionnaireResponse?status=amended or QuestionnaireResponse?status=completed,amended, \
     optionally with &questionnaire=<canonical url> or <url>|<version>";

/// Parse Subscription.criteria; the error names the criteria and says what is accepted.
pub fn parse_criteria(criteria: &str) -> Result<Criteria, String> {
    let refuse = |why: &str| format!("criteria {criteria:?}: {why}; {CRITERIA_HELP}");
    let Some(query) = criteria.trim().strip_prefix("QuestionnaireResponse?") else {
        return Err(refuse("only QuestionnaireResponse searches are supported"));
    };
    let mut events: Vec<Event> = Vec::new();
    let mut questionnaire = None;
    let mut status_seen = false;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "status" if !status_seen => {
                status_seen = true;
                for s in v.split(',') {
                    let e = Event::parse(s.trim())
                        .ok_or_else(|| refuse(&format!("status {s:?} is not notified")))?;
                    if !events.contains(&e) {
                        events.push(e);
                    }
                }
            }
            "questionnaire" if questionnaire.is_none() && !v.trim().is_empty() => {
                questionnaire = Some(v.trim().to_string());
            }
            other => {
                return Err(refuse(&format!(
                    "search parameter {other:?} is not supported here (or given twice)"
                )));
            }
        }
    }
    if events.is_empty() {
        return Err(refuse("a status is required"));
    }
    Ok(Criteria {
        events,
        questionnaire,
    })
}

/// What a notification carries (Subscriptions R5 Backport IG, `backport-payload-content`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    IdOnly,
    FullResource,
}

impl Payload {
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::IdOnly => "id-only",
            Payload::FullResource => "full-resource",
        }
    }
    pub fn parse(s: &str) -> Result<Payload, String> {
        match s {
            "id-only" => Ok(Payload::IdOnly),
            "full-resource" => Ok(Payload::FullResource),
            other => Err(format!(
                "payload {other:?} is not supported; use id-only or full-resource"
            )),
        }
    }
}

/// The endpoint rule: an absolute https URL without credentials in it; http only to a loopback
/// address (a receiver on the same machine) or when the operator allows it
/// (EPRO_FHIR_WEBHOOK_ALLOW_HTTP).
pub fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(endpoint.trim())
        .map_err(|e| format!("endpoint {endpoint:?} is not an absolute URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the endpoint must not carry a user name or password".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback || (allow_http && url.host().is_some()) => Ok(url),
        "http" => Err(format!(
            "endpoint {endpoint:?}: http is accepted only to a loopback address \
             (or with EPRO_FHIR_WEBHOOK_ALLOW_HTTP=true); use https"
        )),
        _ => Err(format!("endpoint {endpoint:?}: use an https URL")),
    }
}

/// The delay before the next attempt after `failures` consecutive failed deliveries (≥ 1):
/// `base × 2^(failures−1)`, at most `max`.
pub fn backoff(failures: u32, base_seconds: u64, max_seconds: u64) -> Duration {
    let base = base_seconds.max(1);
    let exp = failures.saturating_sub(1).min(30);
    let secs = base.saturating_mul(1_u64 << exp).min(max_seconds.max(base));
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

/// `X-Epro-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_accept_the_two_events_and_a_questionnaire() {
        use Event::*;
        let q = "http://x/fhir/Questionnaire/c30";
        type Want = Option<(&'static [Event], Option<&'static str>)>;
        let cases: &[(&str, Want)] = &[
            (
                "QuestionnaireResponse?status=completed",
                Some((&[Completed], None)),
            ),
            (
                "QuestionnaireResponse?status=amended",
                Some((&[Amended], None)),
            ),
            (
                "QuestionnaireResponse?status=completed,amended",
                Some((&[Completed, Amended], None)),
            ),
            (
                "QuestionnaireResponse?status=completed&questionnaire=http%3A%2F%2Fx%2Ffhir%2FQuestionnaire%2Fc30",
                Some((&[Completed], Some(q))),
            ),
            (
                "QuestionnaireResponse?questionnaire=http://x/fhir/Questionnaire/c30|3.0&status=amended",
                Some((&[Amended], Some("http://x/fhir/Questionnaire/c30|3.0"))),
            ),
            ("QuestionnaireResponse?status=in-progress", None),
            ("QuestionnaireResponse?status=completed&patient=1", None),
            (
                "QuestionnaireResponse?status=completed&status=amended",
                None,
            ),
            ("QuestionnaireResponse?questionnaire=x", None),
            ("QuestionnaireResponse", None),
            ("Observation?status=final", None),
            ("", None),
        ];
        for (criteria, want) in cases {
            let got = parse_criteria(criteria);
            match want {
                Some((events, questionnaire)) => {
                    let c = got.unwrap_or_else(|e| panic!("{criteria}: {e}"));
                    assert_eq!(c.events, events.to_vec(), "{criteria}");
                    assert_eq!(c.questionnaire.as_deref(), *questionnaire, "{criteria}");
                }
                None => {
                    let e = got.expect_err(criteria);
                    assert!(e.contains("criteria"), "{e}");
                }
            }
        }
    }

    #[test]
    fn endpoints_are_https_or_loopback_http() {
        let cases: &[(&str, bool, bool)] = &[
            ("https://engine.uzg.example/hook", false, true),
            ("http://127.0.0.1:9000/hook", false, true),
            ("http://[::1]:9000/hook", false, true),
            ("http://localhost/hook", false, true),
            ("http://engine.uzg.example/hook", false, false),
            ("http://engine.uzg.example/hook", true, true),
            ("https://user:pw@engine.uzg.example/hook", false, false),
            ("ftp://engine.uzg.example/hook", true, false),
            ("/hook", true, false),
        ];
        for (url, allow_http, ok) in cases {
            assert_eq!(check_endpoint(url, *allow_http).is_ok(), *ok, "{url}");
        }
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_maximum() {
        let s = |f| backoff(f, 30, 3600).num_seconds();
        assert_eq!(
            [s(1), s(2), s(3), s(4), s(7), s(8), s(50)],
            [30, 60, 120, 240, 1920, 3600, 3600]
        );
        assert_eq!(backoff(3, 1, 2).num_seconds(), 2);
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            signature("whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
