//! Draws the charts in `docs/plots/` from criterion's results.
//!
//! Run the benchmarks first (they leave their estimates under
//! `target/criterion`), then:
//!
//! ```text
//! cargo run -p corral-bench --example plots
//! ```
//!
//! Each chart is a set of horizontal bars, one per contender, of criterion's
//! point estimate divided by the group's throughput: nanoseconds per element.
//! Groups that were not run are skipped with a note.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// One chart: a title, criterion group directories and the bars to draw
/// (label, group, benchmark id), and the unit of one element.
struct Chart {
    file: &'static str,
    title: &'static str,
    element: &'static str,
    per_element: f64,
    bars: &'static [(&'static str, &'static str, &'static str)],
}

const CHARTS: &[Chart] = &[
    Chart {
        file: "spawn_join.svg",
        title: "spawn + join of 100 000 trivial children",
        element: "child",
        per_element: 100_000.0,
        bars: &[
            ("corral scope", "spawn_join_100000", "corral_scope"),
            (
                "corral local_scope",
                "spawn_join_100000",
                "corral_local_scope",
            ),
            ("FuturesUnordered", "spawn_join_100000", "futures_unordered"),
            ("futures-buffered", "spawn_join_100000", "futures_buffered"),
            (
                "async-executor",
                "spawn_join_100000",
                "async_executor_local",
            ),
            ("tokio JoinSet", "spawn_join_100000", "tokio_joinset"),
        ],
    },
    Chart {
        file: "timeouts.svg",
        title: "100 000 timeouts armed and cancelled (in a FuturesUnordered)",
        element: "timeout",
        per_element: 100_000.0,
        bars: &[
            (
                "no timeout (floor)",
                "pending_once_100000",
                "futures_unordered_alone",
            ),
            ("corral", "pending_once_100000", "corral"),
            ("async-io", "pending_once_100000", "async_io"),
            ("tokio", "pending_once_100000", "tokio"),
        ],
    },
    Chart {
        file: "arm_cancel.svg",
        title: "arm + cancel with 1 000 000 other timers pending",
        element: "arm + cancel",
        per_element: 1.0,
        bars: &[
            ("corral", "arm_cancel_1000000", "corral"),
            ("tokio", "arm_cancel_1000000", "tokio"),
            ("async-io", "arm_cancel_1000000", "async_io"),
        ],
    },
    Chart {
        file: "semaphore.svg",
        title: "semaphore: uncontended acquire + release",
        element: "acquire",
        per_element: 1.0,
        bars: &[
            ("corral (fair)", "uncontended", "corral"),
            ("async-lock (unfair)", "uncontended", "async_lock"),
            ("tokio (fair)", "uncontended", "tokio"),
        ],
    },
    Chart {
        file: "spawn_on.svg",
        title: "spawn + join of 10 000 trivial children on a runtime",
        element: "child",
        per_element: 10_000.0,
        bars: &[
            (
                "async-executor, direct",
                "spawn_on_join_10000",
                "async_executor_direct",
            ),
            (
                "corral spawn_on (async-executor)",
                "spawn_on_join_10000",
                "async_executor_corral",
            ),
            ("tokio, direct", "spawn_on_join_10000", "tokio_direct"),
            (
                "corral spawn_on (tokio)",
                "spawn_on_join_10000",
                "tokio_corral",
            ),
        ],
    },
    Chart {
        file: "crawl.svg",
        title: "crawl client, 2 000 pages, no injected latency",
        element: "request",
        per_element: 2_000.0,
        bars: &[
            (
                "corral scope + max_concurrency",
                "crawl_no_delay_2000",
                "corral",
            ),
            (
                "async-lock Semaphore + FuturesUnordered",
                "crawl_no_delay_2000",
                "semaphore_futures_unordered",
            ),
        ],
    },
];

/// Criterion's point estimate of the mean, in nanoseconds.
fn estimate(root: &Path, group: &str, id: &str) -> Option<f64> {
    let path = root.join(group).join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // {"mean":{"confidence_interval":{...},"point_estimate":123.4,...
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let rest = &mean[at..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

fn draw(
    chart: &Chart,
    values: &[(&str, f64)],
    out: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let height = 70 + 34 * values.len() as u32;
    let root = SVGBackend::new(out, (760, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = values.iter().map(|v| v.1).fold(0.0, f64::max) * 1.15;
    let mut plot = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(250)
        .build_cartesian_2d(0.0..max, (0..values.len()).into_segmented())?;
    plot.configure_mesh()
        .disable_y_mesh()
        .x_desc(format!("ns per {}", chart.element))
        .y_labels(values.len())
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => values.get(*i).map_or(String::new(), |v| v.0.to_string()),
            _ => String::new(),
        })
        .draw()?;
    plot.draw_series(values.iter().enumerate().map(|(i, (label, value))| {
        let color = if label.starts_with("corral") {
            RGBColor(0x2b, 0x6c, 0xb0)
        } else {
            RGBColor(0x9a, 0xa5, 0xb1)
        };
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(i)),
                (*value, SegmentValue::Exact(i + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(5, 5, 0, 0);
        bar
    }))?;
    plot.draw_series(values.iter().enumerate().map(|(i, (_, value))| {
        Text::new(
            format!("{value:.1}"),
            (*value + max * 0.01, SegmentValue::CenterOf(i)),
            ("sans-serif", 13),
        )
    }))?;
    root.present()?;
    Ok(())
}

fn main() {
    let root = PathBuf::from("target/criterion");
    let out = PathBuf::from("docs/plots");
    std::fs::create_dir_all(&out).expect("docs/plots");
    for chart in CHARTS {
        let values: Option<Vec<(&str, f64)>> = chart
            .bars
            .iter()
            .map(|(label, group, id)| {
                estimate(&root, group, id).map(|ns| (*label, ns / chart.per_element))
            })
            .collect();
        match values {
            Some(values) => {
                let path = out.join(chart.file);
                draw(chart, &values, &path).expect("drawing");
                println!("wrote {}", path.display());
            }
            None => println!("skipped {}: run its benchmark first", chart.file),
        }
    }
}
