//! SVG plots of an analysis or a decoded file: per-block net bits against `-ELBO` and
//! `-log2 P(x)`, and the fit traces.

use crate::inference::trace::Trace;
use crate::math;
use crate::report::BlockRecord;

/// A named, colored line of points.
type Series<'a> = (&'a str, plotters::style::RGBColor, Vec<(f64, f64)>);

/// Plot per-block net bits against `-ELBO` and `-log2 P(x)` (and, if given, the fit
/// traces) into an SVG file.
pub fn plot_svg(
    path: &std::path::Path,
    blocks: &[BlockRecord],
    traces: &[Trace],
    title: &str,
) -> Result<(), String> {
    use plotters::prelude::*;
    let panels = if traces.is_empty() { 1 } else { 2 };
    let root = SVGBackend::new(path, (1000, 420 * panels as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels, 1));
    let bb: Vec<&BlockRecord> = blocks.iter().filter(|b| !b.bootstrap).collect();
    let series: [Series; 3] = [
        (
            "net bits (measured)",
            RGBColor(31, 119, 180),
            bb.iter()
                .enumerate()
                .map(|(i, b)| (i as f64, b.net_bits))
                .collect(),
        ),
        (
            "-ELBO (predicted)",
            RGBColor(255, 127, 14),
            bb.iter()
                .enumerate()
                .map(|(i, b)| (i as f64, -b.terms.elbo_joint_entropy()))
                .collect(),
        ),
        (
            "-log2 P(x)",
            RGBColor(44, 160, 44),
            bb.iter()
                .enumerate()
                .map(|(i, b)| (i as f64, -b.terms.log_evidence))
                .collect(),
        ),
    ];
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, _, s) in &series {
        for &(_, y) in s {
            if y.is_finite() {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
    }
    if !lo.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    let pad = (hi - lo).max(1.0) * 0.05;
    let mut chart = ChartBuilder::on(&areas[0])
        .caption(format!("{title}: bits per block"), ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..(bb.len().max(1) as f64), (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("block")
        .y_desc("bits")
        .draw()
        .map_err(|e| e.to_string())?;
    for (name, color, s) in series.iter() {
        let c = *color;
        if name.starts_with("net") {
            chart
                .draw_series(s.iter().map(|&(x, y)| Circle::new((x, y), 2, c.filled())))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, c.filled()));
        } else {
            chart
                .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(1)))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;

    if panels == 2 {
        let log = traces[0].metric == "kl_bits";
        let tr = |v: f64| {
            if log {
                math::log2(v.max(1e-6)) / math::log2(10.0)
            } else {
                v
            }
        };
        let n = traces.iter().map(|t| t.mean.len()).max().unwrap_or(1);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for t in traces {
            for v in t.p10.iter().chain(&t.p90).chain(&t.mean) {
                lo = lo.min(tr(*v));
                hi = hi.max(tr(*v));
            }
        }
        let ylabel = if log {
            "log10 KL(Q || P(z|x)) per block, bits"
        } else {
            "-ELBO per block, bits"
        };
        let mut chart = ChartBuilder::on(&areas[1])
            .caption(
                "fit traces: mean over blocks, band = 10th..90th percentile",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(n as f64), (lo - 0.1)..(hi + 0.1))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc(ylabel)
            .draw()
            .map_err(|e| e.to_string())?;
        let colors = [
            RGBColor(214, 39, 40),
            RGBColor(148, 103, 189),
            RGBColor(140, 86, 75),
            RGBColor(31, 119, 180),
        ];
        for (t, c) in traces.iter().zip(colors.iter().cycle()) {
            let c = *c;
            let band: Vec<(f64, f64)> = t
                .p90
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64, tr(*v)))
                .chain(
                    t.p10
                        .iter()
                        .enumerate()
                        .rev()
                        .map(|(i, v)| (i as f64, tr(*v))),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.15))))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(
                    t.mean.iter().enumerate().map(|(i, v)| (i as f64, tr(*v))),
                    c.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(t.estimator.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
