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
const FORM_ITEMS: [(&str, &str, Option<&str>); 7] = [
    ("I.FORM.RESPONSE_ID", "text", None),
    ("I.FORM.STATUS", "text", Some("CL.FORM_STATUS")),
    ("I.FORM.MISSED_REASON", "text", Some("CL.MISSED_REASON")),
    ("I.FORM.ENTRY_MODE", "text", Some("CL.ENTRY_MODE")),
    ("I.FORM.COMPLETED_ON", "date", None),
    ("I.FORM.LANGUAGE", "text", None),
    ("I.FORM.LATE", "boolean", None),
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
            subject(&app, &p, file, staff)
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
    metadata(app, &mut x);
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

/// The shipped (open) wording of a version in a language; licensed instruments have none here.
fn open_text(v: &Version, lang: &str, key: &str) -> Option<String> {
    if v.definition.license.wording == LicensedWording::Licensed {
        return None;
    }
    v.shipped
        .get(lang)
        .and_then(|w| w.get(key))
        .map(str::to_string)
}

/// One text per study language, where the version's open wording has one.
fn open_texts(app: &App, v: &Version, key: &str) -> Vec<(String, String)> {
    app.study
        .languages
        .iter()
        .filter_map(|l| open_text(v, l, key).map(|t| (l.clone(), t)))
        .collect()
}

/// The ODM data type of an item.
fn data_type(item: &Item) -> &'static str {
    match item.kind {
        ItemType::SingleChoice | ItemType::Nrs | ItemType::Integer | ItemType::YesNo => "integer",
        ItemType::Date => "date",
        ItemType::Text => "text",
    }
}

/// Whether a scoring scale is per lesion: all its items sit in a per-lesion group.
fn per_lesion(def: &Definition, items: &[String]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| def.item(i).is_some_and(|p| p.group.is_some()))
}

/// `Study`: GlobalVariables and the one MetaDataVersion of the registered study file.
fn metadata(app: &App, x: &mut Xml) {
    let study = &app.study;
    x.start("Study", &[("OID", &study_oid(app))]);
    x.start("GlobalVariables", &[]);
    x.text("StudyName", &[], &study.name);
    x.text("StudyDescription", &[], &study.name);
    x.text("ProtocolName", &[], &study.id);
    x.end("GlobalVariables");
    x.start(
        "MetaDataVersion",
        &[
            ("OID", &mdv_oid(app)),
            ("Name", &format!("{} study file {}", study.id, study.sha256)),
        ],
    );
    let versions: Vec<&Version> = app.library.versions().collect();
    // Protocol: the visits in order.
    x.start("Protocol", &[]);
    for (i, v) in study.protocol.visits.iter().enumerate() {
        x.empty(
            "StudyEventRef",
            &[
                ("StudyEventOID", &event_oid(&v.code)),
                ("OrderNumber", &(i + 1).to_string()),
                ("Mandatory", "No"),
            ],
        );
    }
    x.end("Protocol");
    // StudyEventDef per visit; each may hold any questionnaire version (which ones a visit
    // asks is the study file's schedule, and changes with amendments).
    for v in &study.protocol.visits {
        x.start(
            "StudyEventDef",
            &[
                ("OID", &event_oid(&v.code)),
                ("Name", &v.code),
                ("Repeating", "No"),
                ("Type", "Scheduled"),
            ],
        );
        let labels: Vec<(String, String)> = study
            .languages
            .iter()
            .filter_map(|l| {
                study
                    .visit_labels
                    .get(&v.code)
                    .and_then(|m| m.get(l))
                    .map(|t| (l.clone(), t.clone()))
            })
            .collect();
        x.translated("Description", &labels);
        for q in &versions {
            let d = &q.definition;
            x.empty(
                "FormRef",
                &[
                    ("FormOID", &form_oid(&d.key, &d.version)),
                    ("Mandatory", "No"),
                ],
            );
        }
        x.end("StudyEventDef");
    }
    // FormDef per questionnaire version.
    for q in &versions {
        let d = &q.definition;
        x.start(
            "FormDef",
            &[
                ("OID", &form_oid(&d.key, &d.version)),
                ("Name", &format!("{} {}", d.key, d.version)),
                ("Repeating", "No"),
            ],
        );
        x.translated("Description", &open_texts(app, q, &d.title));
        x.empty(
            "ItemGroupRef",
            &[("ItemGroupOID", FORM_GROUP), ("Mandatory", "Yes")],
        );
        for g in groups_of(d) {
            x.empty(
                "ItemGroupRef",
                &[
                    ("ItemGroupOID", &group_oid(&d.key, &d.version, g)),
                    ("Mandatory", "No"),
                ],
            );
        }
        for (n, (s, _)) in &q.scorings {
            let lesion = s.scales.iter().any(|sc| per_lesion(d, &sc.items));
            let plain =
                s.scales.iter().any(|sc| !per_lesion(d, &sc.items)) || !s.summaries.is_empty();
            for (wanted, flag) in [(plain, false), (lesion, true)] {
                if wanted {
                    x.empty(
                        "ItemGroupRef",
                        &[
                            (
                                "ItemGroupOID",
                                &score_group_oid(&d.key, &d.version, *n, flag),
                            ),
                            ("Mandatory", "No"),
                        ],
                    );
                }
            }
        }
        x.end("FormDef");
    }
    // ItemGroupDefs: the shared form group, then per version its groups and score groups.
    x.start(
        "ItemGroupDef",
        &[("OID", FORM_GROUP), ("Name", "form"), ("Repeating", "No")],
    );
    for (i, (oid, _, _)) in FORM_ITEMS.iter().enumerate() {
        x.empty(
            "ItemRef",
            &[
                ("ItemOID", oid),
                ("OrderNumber", &(i + 1).to_string()),
                ("Mandatory", if i < 2 { "Yes" } else { "No" }),
            ],
        );
    }
    x.end("ItemGroupDef");
    for q in &versions {
        let d = &q.definition;
        for g in groups_of(d) {
            x.start(
                "ItemGroupDef",
                &[
                    ("OID", &group_oid(&d.key, &d.version, g)),
                    ("Name", g.unwrap_or(&d.key)),
                    ("Repeating", if g.is_some() { "Yes" } else { "No" }),
                ],
            );
            for (i, p) in d
                .all_items()
                .iter()
                .filter(|p| p.group.map(|g| g.id.as_str()) == g)
                .enumerate()
            {
                x.empty(
                    "ItemRef",
                    &[
                        ("ItemOID", &item_oid(&d.key, &d.version, &p.item.id)),
                        ("OrderNumber", &(i + 1).to_string()),
                        ("Mandatory", if p.item.required { "Yes" } else { "No" }),
                    ],
                );
            }
            x.end("ItemGroupDef");
        }
        for (n, (s, _)) in &q.scorings {
            for flag in [false, true] {
                let codes: Vec<&str> = s
                    .scales
                    .iter()
                    .filter(|sc| per_lesion(d, &sc.items) == flag)
                    .map(|sc| sc.code.as_str())
                    .chain(
                        s.summaries
                            .iter()
                            .filter(|_| !flag)
                            .map(|x| x.code.as_str()),
                    )
                    .collect();
                if codes.is_empty() {
                    continue;
                }
                x.start(
                    "ItemGroupDef",
                    &[
                        ("OID", &score_group_oid(&d.key, &d.version, *n, flag)),
                        ("Name", &format!("{} scores", s.id())),
                        ("Repeating", if flag { "Yes" } else { "No" }),
                    ],
                );
                for (i, code) in codes.iter().enumerate() {
                    x.empty(
                        "ItemRef",
                        &[
                            ("ItemOID", &score_item_oid(&d.key, &d.version, *n, code)),
                            ("OrderNumber", &(i + 1).to_string()),
                            ("Mandatory", "No"),
                            ("MethodOID", &method_oid(&d.key, &d.version, *n)),
                        ],
                    );
                }
                x.end("ItemGroupDef");
            }
        }
    }
    // ItemDefs.
    for (oid, kind, list) in FORM_ITEMS {
        x.start(
            "ItemDef",
            &[
                ("OID", oid),
                ("Name", &oid["I.FORM.".len()..].to_lowercase()),
                ("DataType", kind),
            ],
        );
        if let Some(list) = list {
            x.empty("CodeListRef", &[("CodeListOID", list)]);
        }
        x.end("ItemDef");
    }
    for q in &versions {
        let d = &q.definition;
        let licensed = d.license.wording == LicensedWording::Licensed;
        for p in d.all_items() {
            let item = p.item;
            x.start(
                "ItemDef",
                &[
                    ("OID", &item_oid(&d.key, &d.version, &item.id)),
                    ("Name", &item.id),
                    ("DataType", data_type(item)),
                    ("Origin", "CRF"),
                ],
            );
            x.translated("Question", &open_texts(app, q, &item.text));
            if licensed {
                // The licensed instrument's item, by its code: the wording is the licensor's.
                x.empty(
                    "ExternalQuestion",
                    &[
                        ("Dictionary", &d.license.holder),
                        ("Version", &format!("{} {}", d.key, d.version)),
                        ("Code", &item.id),
                    ],
                );
            }
            if matches!(item.kind, ItemType::Nrs | ItemType::Integer) {
                for (comparator, bound) in [("GE", item.min), ("LE", item.max)] {
                    if let Some(b) = bound {
                        x.start(
                            "RangeCheck",
                            &[("Comparator", comparator), ("SoftHard", "Hard")],
                        );
                        x.text("CheckValue", &[], &b.to_string());
                        x.end("RangeCheck");
                    }
                }
            }
            match (&item.kind, &item.options) {
                (ItemType::SingleChoice, Some(set)) => x.empty(
                    "CodeListRef",
                    &[("CodeListOID", &codelist_oid(&d.key, &d.version, set))],
                ),
                (ItemType::YesNo, _) => x.empty("CodeListRef", &[("CodeListOID", YES_NO)]),
                _ => {}
            }
            x.end("ItemDef");
        }
        for (n, (s, _)) in &q.scorings {
            let scales = s.scales.iter().map(|sc| (&sc.code, &sc.label));
            let summaries = s.summaries.iter().map(|sc| (&sc.code, &sc.label));
            for (code, label) in scales.chain(summaries) {
                x.start(
                    "ItemDef",
                    &[
                        ("OID", &score_item_oid(&d.key, &d.version, *n, code)),
                        (
                            "Name",
                            &crate::domain::questionnaire::scoring::scale_key(&d.key, code),
                        ),
                        ("DataType", "float"),
                        ("Origin", "Derived"),
                    ],
                );
                x.translated("Description", &[("en".to_string(), label.clone())]);
                x.end("ItemDef");
            }
        }
    }
    // CodeLists: each option set of each version, in every study language.
    for q in &versions {
        let d = &q.definition;
        for (set, choices) in &d.option_sets {
            x.start(
                "CodeList",
                &[
                    ("OID", &codelist_oid(&d.key, &d.version, set)),
                    ("Name", &format!("{} {} {set}", d.key, d.version)),
                    ("DataType", "integer"),
                ],
            );
            for c in choices {
                let code = c.code.to_string();
                x.start("CodeListItem", &[("CodedValue", &code)]);
                // Licensed option wording is the licensor's: the decode is the code itself.
                let decodes: Vec<(String, String)> = app
                    .study
                    .languages
                    .iter()
                    .map(|l| {
                        (
                            l.clone(),
                            open_text(q, l, &c.text).unwrap_or_else(|| code.clone()),
                        )
                    })
                    .collect();
                x.translated("Decode", &decodes);
                x.end("CodeListItem");
            }
            x.end("CodeList");
        }
    }
    code_list(
        x,
        YES_NO,
        "integer",
        &[0, 1].map(|c| {
            (
                c.to_string(),
                app.study
                    .languages
                    .iter()
                    .map(|l| (l.clone(), super::dictionary::yes_no_word(c, l).to_string()))
                    .collect(),
            )
        }),
    );
    let english = |pairs: &[(&str, &str)]| -> Vec<(String, Vec<(String, String)>)> {
        pairs
            .iter()
            .map(|(c, m)| (c.to_string(), vec![("en".to_string(), m.to_string())]))
            .collect()
    };
    code_list(
        x,
        "CL.FORM_STATUS",
        "text",
        &english(&[
            ("received", "Submitted"),
            ("missed", "Expected and not received"),
        ]),
    );
    let modes: Vec<(&str, &str)> = crate::domain::answering::EntryMode::ALL
        .iter()
        .map(|m| (m.as_str(), super::dictionary::mode_meaning(*m)))
        .collect();
    code_list(x, "CL.ENTRY_MODE", "text", &english(&modes));
    let reasons: Vec<(&str, &str)> = crate::domain::answering::MissedReason::ALL
        .iter()
        .map(|r| (r.as_str(), r.as_str()))
        .chain([("no_reason", "Missed, no reason recorded")])
        .collect();
    code_list(x, "CL.MISSED_REASON", "text", &english(&reasons));
    // MethodDefs: each scoring file.
    for q in &versions {
        let d = &q.definition;
        for (n, (s, sha)) in &q.scorings {
            x.start(
                "MethodDef",
                &[
                    ("OID", &method_oid(&d.key, &d.version, *n)),
                    ("Name", &s.id()),
                    ("Type", "Computation"),
                ],
            );
            let text = format!(
                "Scoring file {} (sha256 {sha}): {}",
                s.id(),
                s.reference.clone().unwrap_or_default()
            );
            x.translated("Description", &[("en".to_string(), text)]);
            x.end("MethodDef");
        }
    }
    x.end("MetaDataVersion");
    x.end("Study");
}

/// The item groups of a definition: `None` for the items outside groups (when there are any),
/// then each per-lesion group.
fn groups_of(d: &Definition) -> Vec<Option<&str>> {
    let items = d.all_items();
    let mut out = Vec::new();
    if items.iter().any(|p| p.group.is_none()) {
        out.push(None);
    }
    for p in &items {
        if let Some(g) = p.group
            && !out.contains(&Some(g.id.as_str()))
        {
            out.push(Some(g.id.as_str()));
        }
    }
    out
}

fn code_list(x: &mut Xml, oid: &str, kind: &str, items: &[(String, Vec<(String, String)>)]) {
    x.start(
        "CodeList",
        &[("OID", oid), ("Name", oid), ("DataType", kind)],
    );
    for (code, decodes) in items {
        x.start("CodeListItem", &[("CodedValue", code)]);
        x.translated("Decode", decodes);
        x.end("CodeListItem");
    }
    x.end("CodeList");
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

/// Who made an audit event, as a UserRef of this file.
fn user_ref(kind: &str, id: Option<&str>, staff: &HashSet<String>) -> String {
    match (kind, id) {
        ("participant", Some(id)) => participant_user(id),
        ("staff", Some(id)) if staff.contains(id) => staff_user(id),
        ("staff", _) => OTHER_STAFF_USER.to_string(),
        _ => SYSTEM_USER.to_string(),
    }
}

/// One audit record: who, where, when, why, and the audit event's sequence number.
struct Audit {
    user: String,
    at: String,
    reason: Option<String>,
    source: Option<String>,
}

fn audit_record(x: &mut Xml, a: &Audit, site: &str) {
    x.start("AuditRecord", &[]);
    x.empty("UserRef", &[("UserOID", &a.user)]);
    x.empty("LocationRef", &[("LocationOID", &location_oid(site))]);
    x.text("DateTimeStamp", &[], &a.at);
    if let Some(r) = &a.reason {
        x.text("ReasonForChange", &[], r);
    }
    if let Some(s) = &a.source {
        x.text("SourceID", &[], s);
    }
    x.end("AuditRecord");
}

/// An item's place: (group, lesion) and item id; values are the exported cell (`None`: blank).
type Key = (Option<String>, String, String);

/// One amendment from the audit trail.
struct Amendment {
    at: DateTime<Utc>,
    audit: Audit,
    changes: Vec<(String, String, Option<String>, Option<String>)>,
}

/// Score groups: (group OID, lesion) → [(item OID, value)].
type ScoreGroups = BTreeMap<(String, Option<String>), Vec<(String, Option<String>)>>;

/// A submitted response with what the file needs of it.
struct Form {
    response: ResponseRow,
    submitted: Audit,
    submitted_at: DateTime<Utc>,
    /// The final values.
    values: BTreeMap<Key, Option<String>>,
    amendments: Vec<Amendment>,
    /// Score groups: (group OID, lesion) → (item OID, value).
    scores: ScoreGroups,
}

fn value_of(v: &Value) -> Option<String> {
    if v.is_null() { None } else { Some(cell(v)) }
}

fn parse_at(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn form(app: &App, r: ResponseRow, staff: &HashSet<String>) -> Result<Option<Form>> {
    let Some(v) = app
        .library
        .get(&r.questionnaire_key, &r.questionnaire_version)
    else {
        return Ok(None);
    };
    let def = &v.definition;
    let group_of = |item: &str| def.item(item).and_then(|p| p.group.map(|g| g.id.clone()));
    let mut values = BTreeMap::new();
    for a in store::responses::answers(&app.db, r.id).await? {
        if def.item(&a.item).is_none() {
            continue;
        }
        values.insert(
            (group_of(&a.item), a.lesion.clone(), a.item.clone()),
            value_of(&a.value),
        );
    }
    let events = store::audit::for_entity(&app.db, "response", &r.id.to_string()).await?;
    let submitted_at = r.submitted_at.unwrap_or(r.started_at);
    let submitted = events
        .iter()
        .find(|e| e.content.action == "response.submitted")
        .map(|e| Audit {
            user: user_ref(&e.content.actor_kind, e.content.actor_id.as_deref(), staff),
            at: parse_at(&e.content.at)
                .map(iso)
                .unwrap_or_else(|| e.content.at.clone()),
            reason: None,
            source: Some(e.content.seq.to_string()),
        })
        .unwrap_or_else(|| Audit {
            user: SYSTEM_USER.into(),
            at: iso(submitted_at),
            reason: None,
            source: None,
        });
    let mut amendments = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.content.action == "response.amended")
    {
        let c = &e.content;
        let parse = |s: &Option<String>| -> Value {
            s.as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default()
        };
        let (before, after) = (parse(&c.before), parse(&c.after));
        let olds = before["answers"].as_array().cloned().unwrap_or_default();
        let changes = after["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let item = n["item"].as_str()?.to_string();
                let lesion = n["lesion"].as_str().unwrap_or_default().to_string();
                let old = olds
                    .iter()
                    .find(|o| o["item"] == n["item"] && o["lesion"] == n["lesion"])
                    .and_then(|o| value_of(&o["value"]));
                Some((item, lesion, old, value_of(&n["value"])))
            })
            .collect();
        let basis = after["basis"].as_str().unwrap_or_default();
        let why = c.reason.clone().unwrap_or_default();
        let at = parse_at(&c.at).unwrap_or(submitted_at);
        amendments.push(Amendment {
            at,
            audit: Audit {
                user: user_ref(&c.actor_kind, c.actor_id.as_deref(), staff),
                at: iso(at),
                reason: Some(match (basis.is_empty(), why.is_empty()) {
                    (false, false) => format!("{basis}: {why}"),
                    (false, true) => basis.to_string(),
                    _ => why,
                }),
                source: Some(c.seq.to_string()),
            },
            changes,
        });
    }
    let mut scores = ScoreGroups::new();
    for s in store::responses::scores(&app.db, r.id).await? {
        let Some((n, (file, _))) = v.scorings.iter().find(|(_, (f, _))| f.id() == s.scoring) else {
            continue;
        };
        let results: &Value = &s.results;
        let scales = results["scales"].as_array().cloned().unwrap_or_default();
        let summaries = results["summaries"].as_array().cloned().unwrap_or_default();
        for scale in scales.iter().chain(summaries.iter()) {
            let code = scale["code"].as_str().unwrap_or_default();
            let lesion = scale["lesion"].as_str().filter(|l| !l.is_empty());
            let flag = file
                .scales
                .iter()
                .find(|sc| sc.code == code)
                .is_some_and(|sc| per_lesion(def, &sc.items));
            if flag != lesion.is_some() {
                continue;
            }
            scores
                .entry((
                    score_group_oid(&def.key, &def.version, *n, flag),
                    lesion.map(str::to_string),
                ))
                .or_default()
                .push((
                    score_item_oid(&def.key, &def.version, *n, code),
                    scale["score"].as_f64().map(|x| format!("{x:.4}")),
                ));
        }
    }
    Ok(Some(Form {
        response: r,
        submitted,
        submitted_at,
        values,
        amendments,
        scores,
    }))
}

/// Write one item group's items: `(group, lesion) → [(item, value, audit)]`.
#[allow(clippy::type_complexity)]
fn item_groups(
    x: &mut Xml,
    key: &str,
    version: &str,
    groups: &BTreeMap<(Option<String>, String), Vec<(String, Option<String>, Option<&Audit>)>>,
    transaction: Option<&str>,
    site: &str,
) {
    for ((group, lesion), items) in groups {
        let oid = group_oid(key, version, group.as_deref());
        let mut attrs = vec![("ItemGroupOID", oid.as_str())];
        if group.is_some() {
            attrs.push(("ItemGroupRepeatKey", lesion.as_str()));
        }
        if let Some(t) = transaction {
            attrs.push(("TransactionType", t));
        }
        x.start("ItemGroupData", &attrs);
        for (item, value, audit) in items {
            item_data(
                x,
                &item_oid(key, version, item),
                value.as_deref(),
                transaction,
                *audit,
                site,
            );
        }
        x.end("ItemGroupData");
    }
}

fn item_data(
    x: &mut Xml,
    oid: &str,
    value: Option<&str>,
    transaction: Option<&str>,
    audit: Option<&Audit>,
    site: &str,
) {
    let mut attrs = vec![("ItemOID", oid)];
    if let Some(t) = transaction {
        attrs.push(("TransactionType", t));
    }
    match value {
        Some(v) => attrs.push(("Value", v)),
        None => attrs.push(("IsNull", "Yes")),
    }
    match audit {
        Some(a) => {
            x.start("ItemData", &attrs);
            audit_record(x, a, site);
            x.end("ItemData");
        }
        None => x.empty("ItemData", &attrs),
    }
}

/// The shared form group: response id, status, entry mode, paper day, language, late.
fn form_group(x: &mut Xml, r: &ResponseRow, transaction: Option<&str>, site: &str) {
    let mut attrs = vec![("ItemGroupOID", FORM_GROUP)];
    if let Some(t) = transaction {
        attrs.push(("TransactionType", t));
    }
    x.start("ItemGroupData", &attrs);
    let id = r.id.to_string();
    let mode = r.mode.map(|m| m.to_string());
    let completed = r.completed_on.map(|d| d.to_string());
    let late = r.late.to_string();
    for (oid, value) in [
        ("I.FORM.RESPONSE_ID", Some(id.as_str())),
        ("I.FORM.STATUS", Some("received")),
        ("I.FORM.ENTRY_MODE", mode.as_deref()),
        ("I.FORM.COMPLETED_ON", completed.as_deref()),
        ("I.FORM.LANGUAGE", Some(r.language.as_str())),
        ("I.FORM.LATE", Some(late.as_str())),
    ] {
        if value.is_some() {
            item_data(x, oid, value, transaction, None, site);
        }
    }
    x.end("ItemGroupData");
}

/// Score groups (derived items), as they stand.
fn score_groups(x: &mut Xml, f: &Form, transaction: Option<&str>, site: &str) {
    for ((group, lesion), items) in &f.scores {
        let mut attrs = vec![("ItemGroupOID", group.as_str())];
        if let Some(l) = lesion {
            attrs.push(("ItemGroupRepeatKey", l.as_str()));
        }
        if let Some(t) = transaction {
            attrs.push(("TransactionType", t));
        }
        x.start("ItemGroupData", &attrs);
        for (oid, value) in items {
            item_data(x, oid, value.as_deref(), transaction, None, site);
        }
        x.end("ItemGroupData");
    }
}

/// A form as it stands: final values; an amended item carries its last amendment's audit record.
fn snapshot_form(x: &mut Xml, f: &Form, site: &str) {
    let r = &f.response;
    let (key, version) = (&r.questionnaire_key, &r.questionnaire_version);
    x.start("FormData", &[("FormOID", &form_oid(key, version))]);
    audit_record(x, &f.submitted, site);
    form_group(x, r, None, site);
    let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for ((group, lesion, item), value) in &f.values {
        let last = f.amendments.iter().rev().find(|a| {
            a.changes
                .iter()
                .any(|(i, l, _, _)| i == item && l == lesion)
        });
        groups
            .entry((group.clone(), lesion.clone()))
            .or_default()
            .push((item.clone(), value.clone(), last.map(|a| &a.audit)));
    }
    item_groups(x, key, version, &groups, None, site);
    score_groups(x, f, None, site);
    x.end("FormData");
}

/// A form's transactions in `[since, until)`: its submission (Insert, with the values as
/// submitted) and each amendment (Update, with the changed items); the scores (Upsert) go with
/// the form's last change when it lies in the period.
fn transactional_form(
    x: &mut Xml,
    f: &Form,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    site: &str,
) -> bool {
    let r = &f.response;
    let (key, version) = (&r.questionnaire_key, &r.questionnaire_version);
    let inside = |t: DateTime<Utc>| t >= since && t < until;
    let last = f.amendments.last().map_or(f.submitted_at, |a| a.at);
    let mut wrote = false;
    if inside(f.submitted_at) {
        // The values as submitted: the final ones with every amendment undone, newest first.
        let mut values = f.values.clone();
        for a in f.amendments.iter().rev() {
            for (item, lesion, old, _) in &a.changes {
                if let Some(k) = values
                    .keys()
                    .find(|(_, l, i)| l == lesion && i == item)
                    .cloned()
                {
                    values.insert(k, old.clone());
                }
            }
        }
        x.start(
            "FormData",
            &[
                ("FormOID", &form_oid(key, version)),
                ("TransactionType", "Insert"),
            ],
        );
        audit_record(x, &f.submitted, site);
        form_group(x, r, Some("Insert"), site);
        let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for ((group, lesion, item), value) in values {
            groups
                .entry((group, lesion))
                .or_default()
                .push((item, value, None));
        }
        item_groups(x, key, version, &groups, Some("Insert"), site);
        if inside(last) && f.amendments.is_empty() {
            score_groups(x, f, Some("Upsert"), site);
        }
        x.end("FormData");
        wrote = true;
    }
    for (i, a) in f.amendments.iter().enumerate() {
        if !inside(a.at) {
            continue;
        }
        x.start(
            "FormData",
            &[
                ("FormOID", &form_oid(key, version)),
                ("TransactionType", "Update"),
            ],
        );
        audit_record(x, &a.audit, site);
        let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for (item, lesion, _, new) in &a.changes {
            let group = f
                .values
                .keys()
                .find(|(_, l, i)| i == item && l == lesion)
                .and_then(|(g, _, _)| g.clone());
            groups.entry((group, lesion.clone())).or_default().push((
                item.clone(),
                new.clone(),
                Some(&a.audit),
            ));
        }
        item_groups(x, key, version, &groups, Some("Update"), site);
        if i + 1 == f.amendments.len() {
            score_groups(x, f, Some("Upsert"), site);
        }
        x.end("FormData");
        wrote = true;
    }
    wrote
}

/// A missed form (snapshot only): the form group with its status and reason.
fn missed_form(x: &mut Xml, q: &str, reason: Option<&str>) {
    let Some((key, version)) = q.split_once('@') else {
        return;
    };
    x.start("FormData", &[("FormOID", &form_oid(key, version))]);
    x.start("ItemGroupData", &[("ItemGroupOID", FORM_GROUP)]);
    x.empty(
        "ItemData",
        &[("ItemOID", "I.FORM.STATUS"), ("Value", "missed")],
    );
    // The stored reason is `<code>` or `<code>: <words>`; the code goes here (visits.csv keeps
    // the words).
    let code = reason
        .map(|r| r.split(':').next().unwrap_or(r).trim().to_string())
        .unwrap_or_else(|| "no_reason".into());
    x.empty(
        "ItemData",
        &[("ItemOID", "I.FORM.MISSED_REASON"), ("Value", &code)],
    );
    x.end("ItemGroupData");
    x.end("FormData");
}

/// One participant's `SubjectData` (empty when a transactional file has nothing of theirs).
async fn subject(
    app: &App,
    p: &ParticipantRow,
    file: OdmFile,
    staff: &HashSet<String>,
) -> Result<Bytes> {
    let site = p.site_code.as_str();
    let responses = store::responses::of_participant(&app.db, p.id).await?;
    let mut forms = Vec::new();
    for r in responses.iter().filter(|r| r.status.is_submitted()) {
        if let Some(f) = form(app, r.clone(), staff).await? {
            forms.push(f);
        }
    }
    // Missed forms with their reasons (snapshot only: a form becomes missed as time passes).
    let mut missed: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    if file == OdmFile::Snapshot {
        let views = participants::current_views(&app.db, app, p, app.clock.now()).await?;
        let ids: Vec<_> = forms.iter().map(|f| f.response.id).collect();
        let scorable = store::bulk::scorable(&app.db, &ids).await?;
        for v in &views {
            for (q, outcome) in form_outcomes(v, &responses, &scorable) {
                if let Outcome::Missed(reason) = outcome {
                    missed.entry(v.code.clone()).or_default().push((q, reason));
                }
            }
        }
    }
    let transaction = match file {
        OdmFile::Snapshot => None,
        OdmFile::Transactional { .. } => Some("Upsert"),
    };
    let mut x = Xml::new();
    let mut attrs = vec![("SubjectKey", p.study_id.as_str())];
    if let Some(t) = transaction {
        attrs.push(("TransactionType", t));
    }
    let mut any = false;
    x.start("SubjectData", &attrs);
    x.empty("SiteRef", &[("LocationOID", &location_oid(site))]);
    for visit in &app.study.protocol.visits {
        let mut inner = Xml::new();
        let mut wrote = false;
        for f in forms.iter().filter(|f| f.response.visit_code == visit.code) {
            match file {
                OdmFile::Snapshot => {
                    snapshot_form(&mut inner, f, site);
                    wrote = true;
                }
                OdmFile::Transactional { since, until } => {
                    let until = until
                        .unwrap_or_else(|| app.clock.now() + chrono::Duration::microseconds(1));
                    wrote |= transactional_form(&mut inner, f, since, until, site);
                }
            }
        }
        for (q, reason) in missed.get(&visit.code).into_iter().flatten() {
            missed_form(&mut inner, q, reason.as_deref());
            wrote = true;
        }
        if wrote {
            let oid = event_oid(&visit.code);
            let mut attrs = vec![("StudyEventOID", oid.as_str())];
            if let Some(t) = transaction {
                attrs.push(("TransactionType", t));
            }
            x.start("StudyEventData", &attrs);
            x.0.get_mut().extend_from_slice(&inner.bytes());
            x.end("StudyEventData");
            any = true;
        }
    }
    x.end("SubjectData");
    if !any && file != OdmFile::Snapshot {
        return Ok(Bytes::new());
    }
    Ok(x.bytes())
}
