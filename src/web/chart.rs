//! The per-lesion worst-pain chart: an inline SVG drawn on the server (no script, prints as
//! it shows). One line per lesion over the visits, 0–10 on the vertical axis; lines differ in
//! colour and dash so they stay apart in black-and-white print; every point has a title.

use std::fmt::Write;

use minijinja::HtmlEscape;

use crate::answering::pain::{self, LesionPain};

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
const COLOURS: [&str; 5] = ["#1f4e9c", "#b3261e", "#1b6e3a", "#7a4a00", "#5b2a86"];
const DASHES: [&str; 5] = ["", "6 3", "2 3", "8 3 2 3", "1 2"];

/// `visit_label`: a visit's name in the page's language (the axis and tooltips never show a
/// visit code).
pub fn pain_svg(
    lesions: &[LesionPain],
    lang: &str,
    title: &str,
    visit_label: &dyn Fn(&str) -> String,
) -> String {
    // Visits in the order they first appear.
    let mut visits: Vec<String> = Vec::new();
    for l in lesions {
        for p in &l.points {
            if !visits.contains(&p.visit) {
                visits.push(p.visit.clone());
            }
        }
    }
    let total_h = H + 20.0 * lesions.len() as f64;
    let scale = Scale {
        visits: visits.len(),
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 {W} {total_h}" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title>"#,
        HtmlEscape(title)
    );
    let names: Vec<String> = visits.iter().map(|v| visit_label(v)).collect();
    axes(&mut s, &names, &scale);
    for (n, l) in lesions.iter().enumerate() {
        lesion_line(&mut s, n, l, lang, (&visits, &names), &scale);
    }
    s.push_str("</svg>");
    s
}

/// Where visit `i` and pain `v` (0–10) sit on the plot.
struct Scale {
    visits: usize,
}

impl Scale {
    fn x(&self, i: usize) -> f64 {
        let plot_w = W - LEFT - RIGHT;
        if self.visits <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (self.visits - 1) as f64
        }
    }

    fn y(&self, v: i64) -> f64 {
        TOP + (H - TOP - BOTTOM) * (1.0 - v as f64 / 10.0)
    }
}

/// The 0–10 grid and the visits' names under it.
fn axes(s: &mut String, visits: &[String], scale: &Scale) {
    for v in [0, 2, 4, 6, 8, 10] {
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#ccc" stroke-width="1"/><text x="{}" y="{}" font-size="12" text-anchor="end" fill="#222">{v}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            scale.y(v) + 4.0,
            y = scale.y(v),
        );
    }
    for (i, v) in visits.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#222">{}</text>"##,
            scale.x(i),
            H - BOTTOM + 18.0,
            HtmlEscape(v)
        );
    }
}

/// One lesion's line (its own colour and dash), its points (flagged ones larger, with a
/// tooltip) and its legend entry.
fn lesion_line(
    s: &mut String,
    n: usize,
    l: &LesionPain,
    lang: &str,
    (visits, names): (&[String], &[String]),
    scale: &Scale,
) {
    let colour = COLOURS[n % COLOURS.len()];
    let dash = DASHES[n % DASHES.len()];
    let label = pain::label_of(l, lang);
    let pts: Vec<(f64, f64, &pain::PainPoint, &String)> = l
        .points
        .iter()
        .filter_map(|p| {
            visits
                .iter()
                .position(|v| *v == p.visit)
                .map(|i| (scale.x(i), scale.y(p.value), p, &names[i]))
        })
        .collect();
    let path: Vec<String> = pts
        .iter()
        .map(|(px, py, _, _)| format!("{px:.1},{py:.1}"))
        .collect();
    let _ = write!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/>"#,
        path.join(" ")
    );
    for (px, py, p, name) in &pts {
        let flag = if p.assess_for_sse { " ⚠" } else { "" };
        let _ = write!(
            s,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="{}" fill="{colour}"><title>{} {}: {}{flag}</title></circle>"#,
            if p.assess_for_sse { 6 } else { 4 },
            HtmlEscape(&label),
            HtmlEscape(name),
            p.value
        );
    }
    let ly = H + 20.0 * n as f64 + 4.0;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="13" fill="#222">{}</text>"##,
        LEFT + 30.0,
        LEFT + 38.0,
        ly + 4.0,
        HtmlEscape(&label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answering::pain::PainPoint;

    fn point(visit: &str, value: i64) -> PainPoint {
        PainPoint {
            visit: visit.into(),
            day: chrono::NaiveDate::default(),
            value,
            change: None,
            assess_for_sse: false,
            omed: None,
            category: None,
            not_evaluable: None,
            progression: None,
            progression_basis: None,
        }
    }

    #[test]
    fn one_line_per_lesion_and_labels_are_escaped() {
        let lesions = vec![
            LesionPain {
                lesion: "a".into(),
                labels: [("en".to_string(), "Left <hip>".to_string())].into(),
                active: true,
                irradiation_date: None,
                reference: None,
                baseline: None,
                time_to_progression_days: None,
                points: vec![point("BL", 2), point("M1", 7)],
            },
            LesionPain {
                lesion: "b".into(),
                labels: [("en".to_string(), "Spine".to_string())].into(),
                active: true,
                irradiation_date: None,
                reference: None,
                baseline: None,
                time_to_progression_days: None,
                points: vec![point("BL", 0)],
            },
        ];
        let name = |v: &str| match v {
            "BL" => "Baseline".to_string(),
            _ => "Month 1".to_string(),
        };
        let svg = pain_svg(&lesions, "en", "Worst pain", &name);
        assert_eq!(svg.matches("<polyline").count(), 2);
        // Visits by name on the axis and in the tooltips, never by code.
        assert!(svg.contains(">Baseline</text>") && svg.contains("Month 1: 7"));
        assert!(!svg.contains(">BL<") && !svg.contains("M1"), "{svg}");
        assert!(svg.contains("Left &lt;hip&gt;"));
        assert!(!svg.contains("<hip>"));
        assert_eq!(svg.matches("<circle").count(), 3);
    }
}
