//! Who may do what: the role × action table of docs/permissions.md, as code. `decide` is the one
//! place every staff request is judged; handlers never check roles themselves. A unit test
//! reads docs/permissions.md and asserts each of its cells against this table.

use std::fmt;

use super::staff::Role;

/// Everything a staff member can ask of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Own account: who am I, change my password, log out.
    OwnAccount,
    UserList,
    UserCreate,
    UserDisable,
    UserResetPassword,
    SiteRead,
    SiteDisable,
    AuditHeadRead,
    /// Reference lists (lesion locations, high-risk reasons).
    ReferenceRead,
    ParticipantRead,
    ParticipantEnrol,
    /// Record events, add and change lesions.
    ParticipantUpdate,
    /// Correct an event or the randomization date, mark an event entered-in-error.
    ParticipantCorrect,
    /// See a participant's email and phone.
    ParticipantContact,
    /// Issue a participant's access link, reset the PIN.
    ParticipantAccess,
    /// Enter answers for a participant (teleconsultation interview, paper), record a missed visit.
    ResponseEnter,
    /// Amend a submitted response (with a reason).
    ResponseAmend,
    /// Read responses and download exports.
    ResponseRead,
    /// Raise a data query on a response.
    QueryRaise,
    /// Export unsubmitted drafts too (`include=drafts`).
    ExportDrafts,
}

impl Action {
    pub const ALL: [Action; 20] = [
        Action::OwnAccount,
        Action::UserList,
        Action::UserCreate,
        Action::UserDisable,
        Action::UserResetPassword,
        Action::SiteRead,
        Action::SiteDisable,
        Action::AuditHeadRead,
        Action::ReferenceRead,
        Action::ParticipantRead,
        Action::ParticipantEnrol,
        Action::ParticipantUpdate,
        Action::ParticipantCorrect,
        Action::ParticipantContact,
        Action::ParticipantAccess,
        Action::ResponseEnter,
        Action::ResponseAmend,
        Action::ResponseRead,
        Action::QueryRaise,
        Action::ExportDrafts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::OwnAccount => "own_account",
            Action::UserList => "user.list",
            Action::UserCreate => "user.create",
            Action::UserDisable => "user.disable",
            Action::UserResetPassword => "user.reset_password",
            Action::SiteRead => "site.read",
            Action::SiteDisable => "site.disable",
            Action::AuditHeadRead => "audit.head",
            Action::ReferenceRead => "reference.read",
            Action::ParticipantRead => "participant.read",
            Action::ParticipantEnrol => "participant.enrol",
            Action::ParticipantUpdate => "participant.update",
            Action::ParticipantCorrect => "participant.correct",
            Action::ParticipantContact => "participant.contact",
            Action::ParticipantAccess => "participant.access",
            Action::ResponseEnter => "response.enter",
            Action::ResponseAmend => "response.amend",
            Action::ResponseRead => "response.read",
            Action::QueryRaise => "query.raise",
            Action::ExportDrafts => "export.drafts",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a role's permission for an action reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Denied,
    /// Only on the sites the user belongs to.
    OwnSites,
    AllSites,
}

impl Access {
    /// The word docs/permissions.md uses for this access.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Denied => "no",
            Access::OwnSites => "own sites",
            Access::AllSites => "yes",
        }
    }
}

/// The table. Keep docs/permissions.md in step: a test compares them cell by cell.
pub fn access(role: Role, action: Action) -> Access {
    use Access::*;
    use Action::*;
    match (action, role) {
        (OwnAccount, _) => AllSites,
        (UserList | UserCreate | UserDisable | UserResetPassword, Role::Admin) => AllSites,
        (UserList | UserCreate | UserDisable | UserResetPassword, _) => Denied,
        (SiteRead, _) => AllSites,
        (SiteDisable, Role::Admin) => AllSites,
        (SiteDisable, _) => Denied,
        (AuditHeadRead, Role::Admin | Role::DataManager | Role::Monitor) => AllSites,
        (AuditHeadRead, Role::SiteStaff) => Denied,
        (ReferenceRead, _) => AllSites,
        (ParticipantRead, Role::DataManager) => AllSites,
        (ParticipantRead, Role::Monitor | Role::SiteStaff) => OwnSites,
        (ParticipantRead, Role::Admin) => Denied,
        (
            ParticipantEnrol | ParticipantUpdate | ParticipantContact | ParticipantAccess,
            Role::SiteStaff,
        ) => OwnSites,
        (ParticipantEnrol | ParticipantUpdate | ParticipantContact | ParticipantAccess, _) => {
            Denied
        }
        (ResponseEnter | ResponseAmend, Role::SiteStaff) => OwnSites,
        (ResponseEnter | ResponseAmend, _) => Denied,
        (ResponseRead, Role::DataManager) => AllSites,
        (ResponseRead, Role::Monitor | Role::SiteStaff) => OwnSites,
        (ResponseRead, Role::Admin) => Denied,
        (QueryRaise | ExportDrafts, Role::DataManager) => AllSites,
        (QueryRaise | ExportDrafts, _) => Denied,
        (ParticipantCorrect, Role::DataManager) => AllSites,
        (ParticipantCorrect, _) => Denied,
    }
}

/// Why a request was refused. `NotVisible` becomes 404: another site's records must look absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Forbidden { action: Action },
    NotVisible,
}

/// Judge one request: `site` is the site of the record it touches, when it touches one.
pub fn decide(
    role: Role,
    own_sites: &[String],
    action: Action,
    site: Option<&str>,
) -> Result<(), Refusal> {
    apply(access(role, action), own_sites, action, site)
}

/// Apply one cell of the table to a request on `site`.
fn apply(
    access: Access,
    own_sites: &[String],
    action: Action,
    site: Option<&str>,
) -> Result<(), Refusal> {
    match access {
        Access::Denied => Err(Refusal::Forbidden { action }),
        Access::AllSites => Ok(()),
        Access::OwnSites => match site {
            None => Ok(()),
            Some(code) if own_sites.iter().any(|s| s == code) => Ok(()),
            Some(_) => Err(Refusal::NotVisible),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse the markdown table of docs/permissions.md: `| action | admin | data_manager | … |`.
    fn documented_table() -> Vec<(String, Vec<(Role, String)>)> {
        let doc = include_str!("../../docs/permissions.md");
        let mut header: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        // The role × action table comes before the endpoint matrix (which the API test checks).
        let doc = doc
            .split("## Endpoint × actor matrix")
            .next()
            .unwrap_or(doc);
        for line in doc.lines().map(str::trim).filter(|l| l.starts_with('|')) {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
            {
                continue;
            }
            match &header {
                None => header = Some(cells),
                Some(h) => {
                    let roles = h[1..]
                        .iter()
                        .zip(&cells[1..])
                        .filter_map(|(role, cell)| {
                            role.parse::<Role>().ok().map(|r| (r, cell.to_string()))
                        })
                        .collect();
                    rows.push((cells[0].clone(), roles));
                }
            }
        }
        rows
    }

    #[test]
    fn docs_permissions_md_matches_the_code_cell_by_cell() {
        let rows = documented_table();
        for action in Action::ALL {
            let (_, cells) = rows
                .iter()
                .find(|(name, _)| name == action.as_str())
                .unwrap_or_else(|| panic!("docs/permissions.md has no row for {action}"));
            assert_eq!(
                cells.len(),
                Role::ALL.len(),
                "row {action} lacks a role column"
            );
            for (role, cell) in cells {
                assert_eq!(
                    cell,
                    access(*role, action).as_str(),
                    "docs/permissions.md says {role} × {action} = {cell:?}"
                );
            }
        }
        for (name, _) in &rows {
            assert!(
                Action::ALL.iter().any(|a| a.as_str() == name),
                "docs/permissions.md names an action the code does not know: {name}"
            );
        }
    }

    #[test]
    fn site_bound_access_hides_other_sites() {
        let own = vec!["ZAS".to_string()];
        // Table-driven: (role, action, site, expected)
        let cases = [
            (
                Role::SiteStaff,
                Action::UserList,
                None,
                Err(Refusal::Forbidden {
                    action: Action::UserList,
                }),
            ),
            (Role::Admin, Action::UserList, None, Ok(())),
            (Role::Monitor, Action::AuditHeadRead, None, Ok(())),
            (
                Role::SiteStaff,
                Action::AuditHeadRead,
                None,
                Err(Refusal::Forbidden {
                    action: Action::AuditHeadRead,
                }),
            ),
            (Role::SiteStaff, Action::SiteRead, Some("UZG"), Ok(())),
            (
                Role::DataManager,
                Action::SiteDisable,
                Some("ZAS"),
                Err(Refusal::Forbidden {
                    action: Action::SiteDisable,
                }),
            ),
        ];
        for (role, action, site, expected) in cases {
            assert_eq!(
                decide(role, &own, action, site),
                expected,
                "{role} {action} {site:?}"
            );
        }
    }

    #[test]
    fn own_sites_access_refuses_other_sites_as_not_visible() {
        let own = vec!["ZAS".to_string()];
        let a = Action::SiteRead;
        assert_eq!(apply(Access::OwnSites, &own, a, Some("ZAS")), Ok(()));
        assert_eq!(apply(Access::OwnSites, &own, a, None), Ok(()));
        assert_eq!(
            apply(Access::OwnSites, &own, a, Some("UZG")),
            Err(Refusal::NotVisible)
        );
        assert_eq!(apply(Access::AllSites, &own, a, Some("UZG")), Ok(()));
    }
}
