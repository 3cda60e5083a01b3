//! Study ids: the example and the check of the file's `id_pattern` ("HERMES-{site}-{nnn}").

use super::{Arm, Study};
use crate::domain::schedule::VisitSpec;

impl Study {
    /// The first study id of a site, as an example of the pattern ("HERMES-ZAS-001").
    pub fn example_study_id(&self, site: &str) -> String {
        let (number_token, digits) = self.id_number_token();
        self.id_pattern
            .replace("{site}", site)
            .replace(&number_token, &format!("{:0digits$}", 1))
    }

    /// The number placeholder of the id pattern (`{nnn}`) and its digit count.
    fn id_number_token(&self) -> (String, usize) {
        let digits = self
            .id_pattern
            .split('{')
            .filter_map(|p| p.split_once('}').map(|(inner, _)| inner))
            .find(|inner| !inner.is_empty() && inner.chars().all(|c| c == 'n'))
            .map_or(0, str::len);
        (format!("{{{}}}", "n".repeat(digits)), digits)
    }

    /// Check a study id against the pattern for the participant's site.
    pub fn check_study_id(
        &self,
        study_id: &str,
        site: &str,
    ) -> Result<(), crate::domain::problem::Problem> {
        let (number_token, digits) = self.id_number_token();
        let expected = self.id_pattern.replace("{site}", site);
        let (prefix, suffix) = expected
            .split_once(&number_token)
            .unwrap_or((&expected, ""));
        let ok = study_id
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| n.len() == digits && n.chars().all(|c| c.is_ascii_digit()));
        if ok {
            Ok(())
        } else {
            Err(crate::domain::problem::Problem::StudyIdPattern {
                given: study_id.to_string(),
                pattern: self.id_pattern.clone(),
                example: self.example_study_id(site),
            })
        }
    }

    pub fn arm(&self, code: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.code == code)
    }

    pub fn visit_spec(&self, code: &str) -> Option<&VisitSpec> {
        self.protocol.visits.iter().find(|v| v.code == code)
    }
}
