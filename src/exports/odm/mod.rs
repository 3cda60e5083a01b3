//! odm.xml: the trial as one CDISC ODM 1.3.2 file for a sponsor's EDC or an archive — the
//! metadata (visits, questionnaire versions, items, code lists, scoring methods), the sites and
//! users, and the submitted forms with their audit records; a snapshot, or a transactional file
//! of what changed in a period. Written with quick-xml's writer and streamed participant by
//! participant. Never holds drafts, licensed wording, contact data or staff names
//! (docs/exports.md, "odm.xml").

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use quick_xml::{
    Writer,
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event, attributes::Attribute},
};
use serde_json::Value;

mod clinical;
mod metadata;

use super::{ByteStream, amendments::cell, iso};
use crate::{
    answering::completion::form_outcomes,
    app::App,
    domain::{
        completion::Outcome,
        questionnaire::{Definition, Item, ItemType, LicensedWording},
    },
    error::{Error, Result},
    participants,
    questionnaires::Version,
    store::{self, participants::ParticipantRow, responses::ResponseRow, staff::StaffRow},
};

/// Which ODM file: the data as they stand, or the transactions of `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OdmFile {
    #[default]
    Snapshot,
    Transactional {
        since: DateTime<Utc>,
        /// The end of the period (exclusive); `None`: when the file is made.
        until: Option<DateTime<Utc>>,
    },
}

impl OdmFile {
    /// From the query: `type` (snapshot or transactional), `since` and `until` (RFC 3339
    /// instants; `since` required for a transactional file).
    pub fn parse(kind: Option<&str>, since: Option<&str>, until: Option<&str>) -> Result<Self> {
        let instant = |field: &str, s: Option<&str>| -> Result<Option<DateTime<Utc>>> {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            Error::operator(
                                field,
                                format!("{s:?} is not an RFC 3339 instant (2026-01-31T00:00:00Z)"),
                            )
                        })
                })
                .transpose()
        };
        let (since, until) = (instant("since", since)?, instant("until", until)?);
        match kind.map(str::trim).filter(|s| !s.is_empty()) {
            None | Some("snapshot") => match (since, until) {
                (None, None) => Ok(OdmFile::Snapshot),
                _ => Err(Error::operator(
                    "since",
                    "since and until are for type=transactional",
                )),
            },
            Some("transactional") => {
                let since = since.ok_or_else(|| {
                    Error::operator("since", "a transactional file needs since (RFC 3339)")
                })?;
                if until.is_some_and(|u| u <= since) {
                    return Err(Error::operator("until", "until must be after since"));
                }
                Ok(OdmFile::Transactional { since, until })
            }
            Some(other) => Err(Error::operator(
                "type",
                format!("{other:?} is not snapshot or transactional"),
            )),
        }
    }
}

pub const NAMESPACE: &str = "http://www.cdisc.org/ns/odm/v1.3";

// OIDs (docs/exports.md, "The OID scheme").
fn study_oid(app: &App) -> String {
    format!("ST.{}", app.study.id)
}
fn mdv_oid(app: &App) -> String {
    format!("MDV.{}", app.study.sha256.get(..12).unwrap_or("0"))
}
fn event_oid(visit: &str) -> String {
    format!("SE.{visit}")
}
fn form_oid(key: &str, version: &str) -> String {
    format!("F.{key}.{version}")
}
fn group_oid(key: &str, version: &str, group: Option<&str>) -> String {
    match group {
        Some(g) => format!("IG.{key}.{version}.{g}"),
        None => format!("IG.{key}.{version}"),
    }
}
fn item_oid(key: &str, version: &str, item: &str) -> String {
    format!("I.{key}.{version}.{item}")
}
fn score_group_oid(key: &str, version: &str, scoring: u32, per_lesion: bool) -> String {
    format!(
        "IG.{key}.{version}.S{scoring}{}",
        if per_lesion { ".LESION" } else { "" }
    )
}
fn score_item_oid(key: &str, version: &str, scoring: u32, code: &str) -> String {
    format!("I.{key}.{version}.S{scoring}.{code}")
}
fn method_oid(key: &str, version: &str, scoring: u32) -> String {
    format!("MT.{key}.{version}.S{scoring}")
}
fn codelist_oid(key: &str, version: &str, set: &str) -> String {
    format!("CL.{key}.{version}.{set}")
}
fn location_oid(site: &str) -> String {
    format!("LOC.{site}")
}
fn participant_user(study_id: &str) -> String {
    format!("USR.P.{study_id}")
}
fn staff_user(id: &str) -> String {
    format!("USR.S.{id}")
}
/// epro itself (events no person made).
const SYSTEM_USER: &str = "USR.SYSTEM";
/// Staff whose account this file does not list (bound only to sites outside its scope).
const OTHER_STAFF_USER: &str = "USR.S.OTHER";
/// The form-level facts every form carries (one item group shared by every FormDef).
const FORM_GROUP: &str = "IG.FORM";
const FORM_ITEMS: [(&str, &str, Option<&str>); 9] = [
    ("I.FORM.RESPONSE_ID", "text", None),
    ("I.FORM.STATUS", "text", Some("CL.FORM_STATUS")),
    ("I.FORM.MISSED_REASON", "text", Some("CL.MISSED_REASON")),
    ("I.FORM.ENTRY_MODE", "text", Some("CL.ENTRY_MODE")),
    ("I.FORM.COMPLETED_ON", "date", None),
    ("I.FORM.LANGUAGE", "text", None),
    ("I.FORM.LATE", "boolean", None),
    ("I.FORM.SYNCED_LATE", "boolean", None),
    ("I.FORM.DEVICE_COMPLETED_AT", "datetime", None),
];
const YES_NO: &str = "CL.YESNO";

/// A chunk of XML written with quick-xml (escaping is the crate's). Writing to a `Vec` cannot
/// fail, so the results are not checked.
struct Xml(Writer<Vec<u8>>);

impl Xml {
    fn new() -> Self {
        Xml(Writer::new_with_indent(Vec::new(), b' ', 1))
    }

    fn tag<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut e = BytesStart::new(name);
        for (k, v) in attrs {
            let value = attribute_value(v);
            e.push_attribute(Attribute::from((k.as_bytes(), value.as_bytes())));
        }
        e
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let _ = self.0.write_event(Event::Start(Self::tag(name, attrs)));
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let _ = self.0.write_event(Event::Empty(Self::tag(name, attrs)));
    }

    fn end(&mut self, name: &str) {
        let _ = self.0.write_event(Event::End(BytesEnd::new(name)));
    }

    fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        let clean = xml_chars(text);
        let _ = self.0.write_event(Event::Text(BytesText::new(&clean)));
        self.end(name);
    }

    /// `<Description>`, `<Question>` or `<Decode>` with one TranslatedText per language.
    fn translated(&mut self, name: &str, texts: &[(String, String)]) {
        if texts.is_empty() {
            return;
        }
        self.start(name, &[]);
        for (lang, text) in texts {
            if lang.is_empty() {
                self.text("TranslatedText", &[], text);
            } else {
                self.text("TranslatedText", &[("xml:lang", lang)], text);
            }
        }
        self.end(name);
    }

    fn bytes(self) -> Bytes {
        Bytes::from(self.0.into_inner())
    }
}

/// Characters XML 1.0 cannot carry (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF)
/// become U+FFFD; quick-xml does not refuse them (quick-xml #368).
fn xml_chars(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if s.chars().any(bad) {
        Cow::Owned(
            s.chars()
                .map(|c| if bad(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// An attribute value as written: quick-xml's escaping, then tab, LF and CR as character
/// references (a parser turns raw ones into spaces; a typed answer keeps its line breaks).
fn attribute_value(v: &str) -> String {
    quick_xml::escape::escape(xml_chars(v).as_ref())
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
}

/// The ODM file for `people` (already scoped): metadata and admin data first, then one
/// `SubjectData` per participant as it is read.
pub fn odm_of(app: Arc<App>, people: Vec<ParticipantRow>, file: OdmFile) -> ByteStream {
    // One end for the whole file: a transactional file without `until` ends when it is begun
    // (exclusive), so the next file's `since` is this one's AsOfDateTime.
    let file = match file {
        OdmFile::Transactional { since, until } => OdmFile::Transactional {
            since,
            until: Some(until.unwrap_or_else(|| app.clock.now())),
        },
        snapshot => snapshot,
    };
    let head = stream::once({
        let (app, people) = (app.clone(), people.clone());
        async move {
            head(&app, &people, file)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    let sites: HashSet<String> = people.iter().map(|p| p.site_code.clone()).collect();
    let staff = Arc::new(tokio::sync::OnceCell::<HashSet<String>>::new());
    let body = stream::iter(people).then(move |p| {
        let (app, staff, sites) = (app.clone(), staff.clone(), sites.clone());
        async move {
            let staff = staff
                .get_or_try_init(|| async {
                    let all = store::staff::list(&app.db).await?;
                    Ok::<_, Error>(
                        visible_staff(&all, &sites)
                            .map(|s| s.id.to_string())
                            .collect(),
                    )
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            clinical::subject(&app, &p, file, staff)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    let tail = stream::once(async { Ok(Bytes::from_static(b"\n</ClinicalData>\n</ODM>\n")) });
    Box::pin(head.chain(body).chain(tail))
}

/// The staff accounts a file about these sites lists: those of the sites, and those bound to
/// no site (data managers, administrators) — the rule of staff.csv.
fn visible_staff<'a>(
    all: &'a [StaffRow],
    sites: &'a HashSet<String>,
) -> impl Iterator<Item = &'a StaffRow> {
    all.iter()
        .filter(move |s| s.sites.is_empty() || s.sites.iter().any(|x| sites.contains(x)))
}

/// The XML declaration, the `ODM` start, `Study` (metadata), `AdminData` and the
/// `ClinicalData` start.
async fn head(app: &App, people: &[ParticipantRow], file: OdmFile) -> Result<Bytes> {
    let now = app.clock.now();
    let mut x = Xml::new();
    let _ =
        x.0.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let created = iso(now);
    let (file_type, as_of, file_oid) = match file {
        OdmFile::Snapshot => (
            "Snapshot",
            created.clone(),
            format!(
                "ODM.{}.SNAPSHOT.{}",
                app.study.id,
                now.format("%Y%m%dT%H%M%S%.6fZ")
            ),
        ),
        OdmFile::Transactional { since, until } => {
            let until = until.unwrap_or(now);
            (
                "Transactional",
                iso(until),
                format!(
                    "ODM.{}.T.{}.{}",
                    app.study.id,
                    since.format("%Y%m%dT%H%M%S%.6fZ"),
                    until.format("%Y%m%dT%H%M%S%.6fZ")
                ),
            )
        }
    };
    x.start(
        "ODM",
        &[
            ("xmlns", NAMESPACE),
            ("FileType", file_type),
            ("Granularity", "All"),
            ("FileOID", &file_oid),
            ("CreationDateTime", &created),
            ("AsOfDateTime", &as_of),
            ("ODMVersion", "1.3.2"),
            ("Originator", "epro"),
            ("SourceSystem", "epro"),
            ("SourceSystemVersion", env!("CARGO_PKG_VERSION")),
        ],
    );
    metadata::metadata(app, &mut x);
    let staff = store::staff::list(&app.db).await?;
    let sites: HashSet<String> = people.iter().map(|p| p.site_code.clone()).collect();
    admin_data(app, &mut x, people, visible_staff(&staff, &sites));
    x.start(
        "ClinicalData",
        &[
            ("StudyOID", &study_oid(app)),
            ("MetaDataVersionOID", &mdv_oid(app)),
        ],
    );
    Ok(x.bytes())
}

/// `AdminData`: users (epro itself, staff by id and role, each participant by study id) and the
/// sites as locations.
fn admin_data<'a>(
    app: &App,
    x: &mut Xml,
    people: &[ParticipantRow],
    staff: impl Iterator<Item = &'a StaffRow>,
) {
    x.start("AdminData", &[("StudyOID", &study_oid(app))]);
    x.start("User", &[("OID", SYSTEM_USER), ("UserType", "Other")]);
    x.text("DisplayName", &[], "epro");
    x.end("User");
    x.start("User", &[("OID", OTHER_STAFF_USER), ("UserType", "Other")]);
    x.text("DisplayName", &[], "staff of sites outside this file");
    x.end("User");
    for s in staff {
        let kind = match s.role.as_str() {
            "data_manager" => "Sponsor",
            "admin" => "Other",
            _ => "Investigator",
        };
        x.start(
            "User",
            &[("OID", &staff_user(&s.id.to_string())), ("UserType", kind)],
        );
        x.text("DisplayName", &[], &s.role);
        for site in &s.sites {
            if app.study.site(site).is_some() {
                x.empty("LocationRef", &[("LocationOID", &location_oid(site))]);
            }
        }
        x.end("User");
    }
    for p in people {
        x.start(
            "User",
            &[
                ("OID", &participant_user(&p.study_id)),
                ("UserType", "Other"),
            ],
        );
        x.text("DisplayName", &[], "participant");
        x.empty(
            "LocationRef",
            &[("LocationOID", &location_oid(&p.site_code))],
        );
        x.end("User");
    }
    let effective = app
        .study
        .start_date
        .map(|d| d.to_string())
        .unwrap_or_else(|| "2000-01-01".to_string());
    for site in &app.study.sites {
        x.start(
            "Location",
            &[
                ("OID", &location_oid(&site.code)),
                ("Name", &site.name),
                ("LocationType", "Site"),
            ],
        );
        x.empty(
            "MetaDataVersionRef",
            &[
                ("StudyOID", &study_oid(app)),
                ("MetaDataVersionOID", &mdv_oid(app)),
                ("EffectiveDate", &effective),
            ],
        );
        x.end("Location");
    }
    x.end("AdminData");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attribute values: quick-xml's escaping, line breaks and tabs kept as character
    /// references, characters XML 1.0 cannot carry replaced.
    #[test]
    fn attribute_values_keep_line_breaks_and_drop_what_xml_cannot_carry() {
        let cases = [
            ("plain", "plain"),
            ("a<b & \"c\"", "a&lt;b &amp; &quot;c&quot;"),
            ("line\nbreak\ttab\rcr", "line&#10;break&#9;tab&#13;cr"),
            ("bell\u{7}nul\u{0}", "bell\u{FFFD}nul\u{FFFD}"),
            ("\u{FFFE}", "\u{FFFD}"),
            ("émoji 😀", "émoji 😀"),
        ];
        for (raw, written) in cases {
            assert_eq!(attribute_value(raw), written, "{raw:?}");
        }
    }

    #[test]
    fn file_kinds_from_the_query() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        // (type, since, until) → Some(file) or None (refused)
        let cases = [
            ((None, None, None), Some(OdmFile::Snapshot)),
            ((Some("snapshot"), None, None), Some(OdmFile::Snapshot)),
            ((Some("snapshot"), Some("2026-01-01T00:00:00Z"), None), None),
            ((None, None, Some("2026-01-01T00:00:00Z")), None),
            ((Some("transactional"), None, None), None),
            (
                (Some("transactional"), Some("2026-01-01T00:00:00Z"), None),
                Some(OdmFile::Transactional {
                    since: t("2026-01-01T00:00:00Z").expect("t"),
                    until: None,
                }),
            ),
            (
                (
                    Some("transactional"),
                    Some("2026-01-01T00:00:00+01:00"),
                    Some("2026-02-01T00:00:00Z"),
                ),
                Some(OdmFile::Transactional {
                    since: t("2025-12-31T23:00:00Z").expect("t"),
                    until: t("2026-02-01T00:00:00Z"),
                }),
            ),
            (
                (
                    Some("transactional"),
                    Some("2026-02-01T00:00:00Z"),
                    Some("2026-01-01T00:00:00Z"),
                ),
                None,
            ),
            ((Some("transactional"), Some("yesterday"), None), None),
            ((Some("delta"), Some("2026-01-01T00:00:00Z"), None), None),
        ];
        for ((kind, since, until), want) in cases {
            assert_eq!(
                OdmFile::parse(kind, since, until).ok(),
                want,
                "{kind:?} {since:?} {until:?}"
            );
        }
    }
}
