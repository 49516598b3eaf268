//! The run as a picture: an SVG with throughput per second, latency percentiles per
//! second and tern's CPU and memory, one panel each, sharing the time axis. People look at
//! a curve before they read a table: a stall, a slow start or memory that keeps climbing
//! shows at a glance. Plain SVG, written here, so the benchmark needs no plotting stack.

use std::fmt::Write;

use crate::report::Report;

/// One line: name, colour, points (seconds, value).
pub struct Series {
    /// Legend text.
    pub name: String,
    /// SVG colour.
    pub color: &'static str,
    /// (x seconds, y value).
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 960.0;
const PANEL_H: f64 = 220.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 30.0;

/// A round axis top at or above `v`.
fn nice_top(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws one panel at vertical offset `y0`.
fn panel(out: &mut String, y0: f64, title: &str, unit: &str, x_max: f64, series: &[Series]) {
    let y_max = nice_top(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let (w, h) = (WIDTH - LEFT - RIGHT, PANEL_H - TOP - BOTTOM);
    let x = |v: f64| LEFT + v / x_max * w;
    let y = |v: f64| y0 + TOP + h - v / y_max * h;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        y0 + 18.0,
        esc(title)
    );
    for i in 0..=4 {
        let v = y_max * i as f64 / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{} {}</text>"##,
            LEFT + w,
            LEFT - 6.0,
            y(v) + 4.0,
            fmt_num(v),
            esc(unit),
            yy = y(v)
        );
    }
    let step = nice_top(x_max / 10.0).max(1.0);
    let mut v = 0.0;
    while v <= x_max {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.0} s</text>"#,
            x(v),
            y0 + TOP + h + 16.0,
            v
        );
        v += step;
    }
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{}" width="{w}" height="{h}" fill="none" stroke="black"/>"#,
        y0 + TOP
    );
    for (i, s) in series.iter().enumerate() {
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|&(px, py)| format!("{:.1},{:.1}", x(px), y(py)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            s.color,
            pts.join(" ")
        );
        // legends on the panel's title line, clear of the curves
        let lx = LEFT + 250.0 + 210.0 * i as f64;
        let ly = y0 + 14.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            lx + 18.0,
            s.color,
            lx + 24.0,
            ly + 4.0,
            esc(&s.name)
        );
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 1000.0 {
        let k = format!("{:.1}", v / 1000.0);
        format!("{}k", k.trim_end_matches(".0"))
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The SVG for a run through tern: throughput, latency, and (when sampled) tern's CPU in
/// % of one core and RSS in MiB (`usage`: seconds, cpu, rss).
pub fn svg(title: &str, r: &Report, usage: &[(f64, f64, f64)]) -> String {
    let secs = &r.timeline.seconds;
    let x_max = (secs.len().max(1) as f64).max(usage.last().map_or(0.0, |u| u.0));
    let per_sec = |f: &dyn Fn(&crate::timeline::Second) -> Option<f64>| -> Vec<(f64, f64)> {
        secs.iter()
            .enumerate()
            .filter_map(|(i, s)| f(s).map(|v| (i as f64 + 0.5, v)))
            .collect()
    };
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    };
    let mut panels: Vec<(&str, &str, Vec<Series>)> = vec![
        (
            "throughput per second",
            "msg/s",
            vec![
                Series {
                    name: "submit_sm_resp OK".into(),
                    color: "#1f77b4",
                    points: per_sec(&|s| Some(s.resps as f64)),
                },
                Series {
                    name: "receipts matched".into(),
                    color: "#2ca02c",
                    points: per_sec(&|s| Some(s.receipts as f64)),
                },
            ],
        ),
        (
            "latency per second",
            "ms",
            vec![
                Series {
                    name: "submit -> resp p50".into(),
                    color: "#1f77b4",
                    points: per_sec(&|s| ms(&s.submit, 0.5)),
                },
                Series {
                    name: "submit -> resp p99".into(),
                    color: "#d62728",
                    points: per_sec(&|s| ms(&s.submit, 0.99)),
                },
                Series {
                    name: "submit -> receipt p99".into(),
                    color: "#9467bd",
                    points: per_sec(&|s| ms(&s.receipt, 0.99)),
                },
            ],
        ),
    ];
    if !usage.is_empty() {
        panels.push((
            "tern CPU (% of one core)",
            "%",
            vec![Series {
                name: "CPU".into(),
                color: "#ff7f0e",
                points: usage.iter().map(|u| (u.0, u.1)).collect(),
            }],
        ));
        panels.push((
            "tern RSS",
            "MiB",
            vec![Series {
                name: "RSS".into(),
                color: "#8c564b",
                points: usage.iter().map(|u| (u.0, u.2)).collect(),
            }],
        ));
    }
    let height = 40.0 + PANEL_H * panels.len() as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="16">{}</text>"#,
        esc(title)
    );
    for (i, (t, unit, series)) in panels.iter().enumerate() {
        panel(&mut out, 40.0 + PANEL_H * i as f64, t, unit, x_max, series);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_and_cover_the_data() {
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(7.0), 10.0);
        assert_eq!(nice_top(12_300.0), 20_000.0);
        assert_eq!(nice_top(2_400.0), 2_500.0);
    }

    #[test]
    fn a_run_becomes_an_svg_with_every_panel() {
        let mut r = Report::new(10);
        for i in 0..10 {
            r.timeline.resp(i / 5, 1000);
            r.timeline.receipt(i / 5, 5000);
        }
        let s = svg("t <1>", &r, &[(0.0, 50.0, 100.0), (1.0, 80.0, 120.0)]);
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 7);
        assert!(s.contains("t &lt;1&gt;"));
    }
}
