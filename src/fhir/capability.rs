//! The CapabilityStatement: exactly the interactions and search parameters `resources` serves,
//! and the SMART Backend Services security service. Claims the SDC Form Response Manager role
//! only as far as implemented: QuestionnaireResponse read and search, no create or update;
//! Observations derived from responses are served as resources, not as the `$extract` operation.

use serde_json::{Value, json};

use super::smart;
use crate::app::App;

fn param(name: &str, kind: &str, doc: &str) -> Value {
    json!({ "name": name, "type": kind, "documentation": doc })
}

pub fn statement(app: &App) -> Value {
    let read_search = json!([{ "code": "read" }, { "code": "search-type" }]);
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-07",
        "kind": "instance",
        "software": { "name": "epro", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "epro FHIR R4 read access", "url": smart::fhir_base(app) },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "instantiates": [
            // SDC Form Response Manager: read and search of responses only (docs/fhir.md).
            "http://hl7.org/fhir/uv/sdc/CapabilityStatement/sdc-form-response-manager"
        ],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only. Unknown search parameters are ignored unless the request sends Prefer: handling=strict.",
            "security": {
                "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR" }] }],
                "description": "SMART Backend Services (client_credentials with a JWT client assertion, RS384 or ES384) or an epro staff session token.",
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{ "url": "token", "valueUri": smart::token_url(app) }]
                }]
            },
            "resource": [
                {
                    "type": "QuestionnaireResponse",
                    "interaction": read_search,
                    "searchParam": [
                        param("patient", "reference", "Patient/<id>"),
                        param("subject", "reference", "Patient/<id>"),
                        param("questionnaire", "reference", "canonical url, with or without |version"),
                        param("authored", "date", "ge, gt, le, lt, eq; no offset = the study's time zone"),
                        param("status", "token", "completed or amended"),
                        param("_lastUpdated", "date", "the last change (submission or amendment); prefixes as authored"),
                        param("_count", "number", "page size, capped"),
                        param("_sort", "string", "authored or -authored"),
                        param("_summary", "token", "count"),
                    ],
                },
                {
                    "type": "Questionnaire",
                    "interaction": read_search,
                    "searchParam": [
                        param("url", "uri", "canonical url, with or without |version"),
                        param("version", "token", "the version"),
                        param("name", "string", "computer-friendly name"),
                        param("status", "token", "active"),
                    ],
                },
                {
                    // rest-hook Subscriptions (#26.3): created by an epro admin, not over FHIR;
                    // a client reads and searches its own.
                    "type": "Subscription",
                    "documentation": "channel rest-hook only; criteria QuestionnaireResponse?status=completed and/or amended, optionally &questionnaire=url[|version]; created by an epro admin (docs/fhir.md), not by create",
                    "interaction": read_search,
                    "searchParam": [
                        param("status", "token", "requested, active, error, off"),
                        param("_id", "token", "the resource id"),
                    ],
                },
                {
                    // Derived from the stored scores of submitted responses (docs/fhir.md).
                    "type": "Observation",
                    "interaction": read_search,
                    "searchParam": [
                        param("patient", "reference", "Patient/<id>"),
                        param("subject", "reference", "Patient/<id>"),
                        param("code", "token", "a scale key of the study's code system (system|code or code)"),
                        param("date", "date", "the response's authored; prefixes as authored"),
                        param("derived-from", "reference", "QuestionnaireResponse/<id>"),
                        param("_lastUpdated", "date", "the last change of the response it is derived from"),
                        param("_count", "number", "page size, capped"),
                        param("_summary", "token", "count"),
                    ],
                },
                {
                    "type": "Patient",
                    "interaction": read_search,
                    "searchParam": [
                        param("identifier", "token", "the study id (system|value or value)"),
                        param("_id", "token", "the resource id"),
                    ],
                },
            ],
        }],
    })
}
