//! The `Study` element of odm.xml: GlobalVariables and the MetaDataVersion (visits, forms per
//! questionnaire version, item groups, items, code lists, scoring methods). Licensed wording is
//! never read here: only the shipped wording of open instruments.

use super::*;

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
pub(super) fn per_lesion(def: &Definition, items: &[String]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| def.item(i).is_some_and(|p| p.group.is_some()))
}

/// `Study`: GlobalVariables and the one MetaDataVersion of the registered study file.
pub(super) fn metadata(app: &App, x: &mut Xml) {
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
                    .map(|l| {
                        (
                            l.clone(),
                            crate::exports::dictionary::yes_no_word(c, l).to_string(),
                        )
                    })
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
        .map(|m| (m.as_str(), crate::exports::dictionary::mode_meaning(*m)))
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
