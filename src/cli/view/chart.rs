//! The agreement chart of a `[stabilize]` switch's page, as SVG drawn on the server: a point
//! per run with shadow comparisons (its live agreement, a link to the run), joined by a line,
//! over the worker's noise floor (a dashed line). No script, nothing loaded from elsewhere.

use std::fmt::Write as _;

use super::pages::{Ask, esc, link, url_part};
use crate::cli::stats::of;
use crate::log::agreement::{self, RunAgreement};

/// Width and height of the chart, and its margins (left for the axis labels, bottom for the
/// dates).
const W: f64 = 640.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// The y of a share (0 to 1) on the chart.
fn y_of(share: f64) -> f64 {
    TOP + (1.0 - share.clamp(0.0, 1.0)) * (H - TOP - BOTTOM)
}

/// Live agreement per run (a point per run with comparisons, joined by a line) over the
/// noise floor (a dashed line), as SVG drawn here: no script, nothing loaded.
pub(super) fn chart(runs: &[RunAgreement], floor: Option<f64>, ask: &Ask) -> String {
    let points: Vec<(&RunAgreement, f64)> = runs
        .iter()
        .filter_map(|r| Some((r, agreement::share(r.counts.agreed, r.counts.compared)?)))
        .collect();
    if points.is_empty() {
        return "<p id=\"no-chart\">No shadow comparisons in this window to draw.</p>".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let step = (W - LEFT - 10.0) / points.len() as f64;
    #[allow(clippy::cast_precision_loss)]
    let x_of = |i: usize| LEFT + step * (i as f64 + 0.5);
    let mut svg = format!(
        "<figure><svg id=\"agreement\" role=\"img\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\"><title>live agreement per run against the noise floor</title>"
    );
    for share in [0.0, 0.5, 1.0] {
        let y = y_of(share);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{:.0}%</text>",
            W - 10.0,
            LEFT - 4.0,
            y + 4.0,
            share * 100.0
        );
    }
    if let Some(f) = floor {
        let y = y_of(f);
        let _ = write!(
            svg,
            "<line class=\"floor\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" \
             stroke=\"#a60\" stroke-dasharray=\"6 4\"><title>noise floor {:.1}%</title></line>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" fill=\"#a60\" text-anchor=\"end\">noise floor</text>",
            W - 10.0,
            f * 100.0,
            W - 12.0,
            if f > 0.9 { y + 14.0 } else { y - 4.0 }
        );
    }
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, s))| format!("{:.1},{:.1}", x_of(i), y_of(*s)))
        .collect();
    let _ = write!(
        svg,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#48c\" stroke-width=\"2\"/>",
        line.join(" ")
    );
    for (i, (r, s)) in points.iter().enumerate() {
        let _ = write!(
            svg,
            "<a href=\"{}\"><circle class=\"run\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#48c\">\
             <title>run {}: agreed {}</title></circle></a>",
            link(&format!("/run/{}", url_part(&r.run)), ask, false),
            x_of(i),
            y_of(*s),
            esc(&r.run),
            of(r.counts.agreed, r.counts.compared)
        );
    }
    let day = |r: &RunAgreement| esc(r.first.get(..10).unwrap_or(&r.first));
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    let _ = write!(
        svg,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        H - 6.0,
        day(first),
        W - 10.0,
        H - 6.0,
        day(last)
    );
    let _ = write!(
        svg,
        "<figcaption>Live agreement of {} with comparisons (blue) against the worker's \
         noise floor (dashed){}.</figcaption></figure>",
        crate::output::count(points.len() as u64, "run"),
        if floor.is_none() {
            ", not measured yet"
        } else {
            ""
        }
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_puts_the_floor_and_a_point_per_run_with_comparisons() {
        let run = |id: &str, compared, agreed| RunAgreement {
            run: id.into(),
            first: "2026-01-01T00:00:00.000Z".into(),
            counts: agreement::SwitchCounts {
                calls: 4,
                deferred: 1,
                compared,
                agreed,
            },
        };
        let ask = Ask {
            token: "t",
            since: None,
        };
        let svg = chart(
            &[run("r1", 2, 1), run("r2", 0, 0), run("r3", 4, 4)],
            Some(0.75),
            &ask,
        );
        assert_eq!(svg.matches("<circle class=\"run\"").count(), 2);
        assert_eq!(svg.matches("<line class=\"floor\"").count(), 1);
        assert!(svg.contains(&format!("y1=\"{:.1}\"", y_of(0.75))));
        assert!(svg.contains("<title>run r1: agreed 1/2 (50.0%)</title>"));
        assert!(svg.contains("href=\"/run/r3?token=t\""));
        assert_eq!(
            chart(&[run("r2", 0, 0)], None, &ask),
            "<p id=\"no-chart\">No shadow comparisons in this window to draw.</p>"
        );
    }
}
