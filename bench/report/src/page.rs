//! The Markdown page: how it was measured, the targets, then one section per scenario.

use std::fmt::Write as _;
use std::path::Path;

use crate::charts::{fanout_points, idle_points, Charts};
use crate::results::{median, median_of, Report, ResultSet, Step, SERVERS};

/// Highest offered rate that counts as sustained: p99 under this and nothing lost.
pub(crate) const SUSTAINED_P99_MS: f64 = 50.0;

pub fn render(set: &ResultSet, charts: &Charts, results: &Path) -> String {
    let mut page = String::new();
    header(&mut page, set, results);
    targets(&mut page, set);
    idle(&mut page, set, charts);
    fanout(&mut page, set, charts);
    alltalk(&mut page, set);
    slow(&mut page, set);
    storm(&mut page, set);
    crate::cluster::section(&mut page, set);
    page
}

fn header(page: &mut String, set: &ResultSet, results: &Path) {
    let m = &set.machine;
    let _ = writeln!(page, "# Benchmarks\n");
    let _ = writeln!(
        page,
        "Every figure on this page comes from one run of `{}` on {}. It built both servers \
         in release mode and ran each scenario {} time(s) against this server and against \
         a compact Node.js `ws` server speaking the same protocol (`bench/peer/server.js`, \
         Node {}), alternating between them, each run on a freshly started server with a \
         fresh data directory. Tables show medians over the runs; the ratio column is ours \
         divided by the peer's.\n",
        or(&m.command, "bench/run"),
        or(&m.date, "an unrecorded date"),
        m.reps.max(1),
        or(&m.node, "?"),
    );
    let _ = writeln!(page, "| machine | |\n|---|---|");
    let _ = writeln!(page, "| CPU | {} |", or(&m.cpu, "?"));
    let _ = writeln!(page, "| cores (`nproc`) | {} |", m.nproc);
    let _ = writeln!(page, "| kernel | {} |", or(&m.kernel, "?"));
    let _ = writeln!(
        page,
        "| pinning | server on core {}, load generator on core {} (`taskset`) |",
        m.server_core, m.loadgen_core
    );
    let _ = writeln!(
        page,
        "| raw reports | `{}` (not committed) |\n",
        relative(results)
    );
    let _ = writeln!(
        page,
        "The two servers do not do the same work: this one writes every `join`, `left` and \
         `chat` to SQLite and waits for the commit (synchronous=FULL) before broadcasting, \
         and answers each new socket with the stored history; the peer keeps nothing and \
         sends an empty history. Latency is measured from when a message was *due* to be \
         sent (open loop), so a server that falls behind cannot hide it.\n"
    );
    if m.quick {
        let _ = writeln!(
            page,
            "> This page came from a `--quick` run: small sizes, one run each. It checks the \
             pipeline; its numbers are not the benchmark.\n"
        );
    }
}

fn targets(page: &mut String, set: &ResultSet) {
    let _ = writeln!(page, "## Targets\n");
    let _ = writeln!(page, "| target | measured | met |\n|---|---|---|");
    // Idle memory at the largest size.
    if let Some((n, _)) = set.idle_sizes().last().cloned() {
        let ours = point_at(&idle_points(set, "ours"), n as f64);
        let peer = point_at(&idle_points(set, "peer"), n as f64);
        if let Some(ours) = ours {
            let _ = writeln!(
                page,
                "| at most 8 KB resident per idle connection at {n} sockets (peer: {}) | {} | {} |",
                peer.map(kb).unwrap_or_else(|| "?".into()),
                kb(ours),
                yes(ours <= 8192.0)
            );
        }
    }
    // Fan-out efficiency.
    if let Some(ratio) = efficiency_ratio(set) {
        let _ = writeln!(
            page,
            "| at least 2× the peer's deliveries per server CPU-second at 1000 clients, no loss | {ratio:.2}× (median over the rates both sustain) | {} |",
            yes(ratio >= 2.0)
        );
    }
    // p99 at 200k deliveries/s.
    let ours = fanout_points(set, "ours");
    if let Some(&(offered, p99)) = ours
        .iter()
        .min_by(|a, b| (a.0 - 200_000.0).abs().total_cmp(&(b.0 - 200_000.0).abs()))
    {
        let _ = writeln!(
            page,
            "| p99 at most 20 ms at 200k deliveries/s | {:.1} ms at {} deliveries/s | {} |",
            p99,
            thousands(offered),
            yes(p99 <= 20.0 && (offered - 200_000.0).abs() < 20_000.0)
        );
    }
    // Slow readers.
    let slow = set.reports("slow", "ours");
    if !slow.is_empty() {
        let closed = median_of(slow, |r| r.slow.as_ref().map(|s| s.closed_1008 as f64));
        let sockets = median_of(slow, |r| r.slow.as_ref().map(|s| s.sockets as f64));
        let growth = median_of(slow, |r| {
            r.server
                .as_ref()
                .map(|p| p.rss_max_bytes.saturating_sub(p.rss_start_bytes) as f64)
        });
        let lost = median_of(slow, |r| Some(measured(r).map(|s| s.lost as f64).sum()));
        let _ = writeln!(
            page,
            "| slow readers: closed with 1008, memory bounded, others unaffected | {}/{} closed with 1008; RSS grew at most {}; healthy sockets lost {} | {} |",
            num(closed),
            num(sockets),
            growth.map(mib).unwrap_or_else(|| "?".into()),
            num(lost),
            yes(closed == sockets && lost == Some(0.0))
        );
    }
    // Persistence cost.
    if let (Some(disk), Some(memory)) = (
        sustained(set, "fanout", "ours"),
        sustained(set, "fanout-memory", "ours"),
    ) {
        let cut = 1.0 - disk / memory;
        let _ = writeln!(
            page,
            "| storing messages cuts the sustained fan-out rate by at most 10% | {} deliveries/s stored vs {} in memory: {:+.1}% | {} |",
            thousands(disk),
            thousands(memory),
            -cut * 100.0,
            yes(cut <= 0.10)
        );
    }
    page.push('\n');
}

fn idle(page: &mut String, set: &ResultSet, charts: &Charts) {
    let sizes = set.idle_sizes();
    if sizes.is_empty() {
        return;
    }
    let _ = writeln!(page, "## 1. Idle sockets: memory per connection\n");
    let _ = writeln!(
        page,
        "Signed-in sockets (50 per user) connected and held; the server's resident memory \
         growth divided by the sockets.\n"
    );
    let _ = writeln!(
        page,
        "| sockets | ours per connection | peer per connection | ratio |\n|---|---|---|---|"
    );
    let ours = idle_points(set, "ours");
    let peer = idle_points(set, "peer");
    for (n, _) in sizes {
        let o = point_at(&ours, n as f64);
        let p = point_at(&peer, n as f64);
        let _ = writeln!(
            page,
            "| {} | {} | {} | {} |",
            thousands(n as f64),
            o.map(kb).unwrap_or_else(|| "?".into()),
            p.map(kb).unwrap_or_else(|| "?".into()),
            ratio(o, p)
        );
    }
    if let Some(chart) = &charts.memory {
        let _ = writeln!(page, "\n![memory per connection]({})\n", chart_link(chart));
    }
}

fn fanout(page: &mut String, set: &ResultSet, charts: &Charts) {
    if set.reports("fanout", "ours").is_empty() {
        return;
    }
    let _ = writeln!(page, "## 2. Fan-out: one sender, 1000 receivers\n");
    let _ = writeln!(
        page,
        "One sender at a rising rate; every socket receives every message. Deliveries per \
         CPU-second divide the deliveries of a step by the server's CPU time during it.\n"
    );
    let _ = writeln!(
        page,
        "| offered deliveries/s | server | delivered/s | p50 | p99 | p99.9 | max | lost | deliveries per CPU-second |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (i, label) in step_labels(set, "fanout").iter().enumerate() {
        for server in SERVERS {
            let steps = nth_steps(set.reports("fanout", server), i);
            if steps.is_empty() {
                continue;
            }
            let _ = writeln!(
                page,
                "| {label} | {server} | {} | {} |",
                traffic_cells(&steps),
                num(median(steps.iter().filter_map(per_cpu_second).collect())),
            );
        }
    }
    for server in SERVERS {
        if let Some(rate) = sustained(set, "fanout", server) {
            let _ = writeln!(
                page,
                "\nHighest offered rate with p99 under {SUSTAINED_P99_MS} ms and nothing lost, {server}: **{} deliveries/s**.",
                thousands(rate)
            );
        }
    }
    if let Some(rate) = sustained(set, "fanout-memory", "ours") {
        let _ = writeln!(
            page,
            "\nThe same on this server with `--in-memory` (nothing stored): {} deliveries/s.",
            thousands(rate)
        );
    }
    if let Some(chart) = &charts.latency {
        let _ = writeln!(
            page,
            "\n![p99 latency against offered load]({})\n",
            chart_link(chart)
        );
    }
}

fn alltalk(page: &mut String, set: &ResultSet) {
    if set.reports("alltalk", "ours").is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "## 3. All talk: 200 clients, each sending 1 message per second\n"
    );
    latency_table(page, set, "alltalk");
}

fn slow(page: &mut String, set: &ResultSet) {
    if set.reports("slow", "ours").is_empty() {
        return;
    }
    let _ = writeln!(page, "## 4. Slow readers\n");
    let _ = writeln!(
        page,
        "20 sockets stop reading while the others receive at a steady rate. The slow ones \
         should be closed with 1008 and the server's memory should stay flat.\n"
    );
    let _ = writeln!(page, "| server | slow sockets closed with 1008 | RSS min | RSS max | healthy p99 | healthy lost |\n|---|---|---|---|---|---|");
    for server in SERVERS {
        let reports = set.reports("slow", server);
        if reports.is_empty() {
            continue;
        }
        let _ = writeln!(
            page,
            "| {server} | {} of {} | {} | {} | {} | {} |",
            num(median_of(reports, |r| r
                .slow
                .as_ref()
                .map(|s| s.closed_1008 as f64))),
            num(median_of(reports, |r| r
                .slow
                .as_ref()
                .map(|s| s.sockets as f64))),
            median_of(reports, |r| r
                .server
                .as_ref()
                .map(|p| p.rss_min_bytes as f64))
            .map(mib)
            .unwrap_or_default(),
            median_of(reports, |r| r
                .server
                .as_ref()
                .map(|p| p.rss_max_bytes as f64))
            .map(mib)
            .unwrap_or_default(),
            ms(median_of(reports, |r| measured(r)
                .map(|s| s.latency_us.p99_us as f64)
                .reduce(f64::max))),
            num(median_of(reports, |r| Some(
                measured(r).map(|s| s.lost as f64).sum()
            ))),
        );
    }
    page.push('\n');
}

fn storm(page: &mut String, set: &ResultSet) {
    if set.reports("storm", "ours").is_empty() {
        return;
    }
    let _ = writeln!(page, "## 5. Connect storm\n");
    let _ = writeln!(page, "Sign-ins and WebSocket connects as fast as the server accepts them (at most 200 in flight).\n");
    let _ = writeln!(
        page,
        "| server | sockets | sign-ins/s | connects/s | errors |\n|---|---|---|---|---|"
    );
    for server in SERVERS {
        let reports = set.reports("storm", server);
        if reports.is_empty() {
            continue;
        }
        let _ = writeln!(
            page,
            "| {server} | {} | {} | {} | {} |",
            num(median_of(reports, |r| Some(r.setup.connects_ok as f64))),
            num(median_of(reports, |r| Some(r.setup.signins_per_s))),
            num(median_of(reports, |r| Some(r.setup.connects_per_s))),
            num(median_of(reports, |r| Some(r.setup.connect_errors as f64))),
        );
    }
    page.push('\n');
}

fn latency_table(page: &mut String, set: &ResultSet, name: &str) {
    let _ = writeln!(page, "| server | delivered/s | p50 | p99 | p99.9 | max | lost | duplicates |\n|---|---|---|---|---|---|---|---|");
    for server in SERVERS {
        let steps: Vec<Step> = set
            .reports(name, server)
            .iter()
            .flat_map(|r| measured(r).cloned())
            .collect();
        if steps.is_empty() {
            continue;
        }
        let _ = writeln!(
            page,
            "| {server} | {} | {} |",
            traffic_cells(&steps),
            num(median(steps.iter().map(|s| s.duplicates as f64).collect())),
        );
    }
    page.push('\n');
}

/// Medians over steps: delivered/s, p50, p99, p99.9, max and lost, as table cells.
pub(crate) fn traffic_cells(steps: &[Step]) -> String {
    let latency = |f: fn(&Step) -> u64| ms(median(steps.iter().map(|s| f(s) as f64).collect()));
    [
        num(median(steps.iter().map(|s| s.deliveries_per_s).collect())),
        latency(|s| s.latency_us.p50_us),
        latency(|s| s.latency_us.p99_us),
        latency(|s| s.latency_us.p999_us),
        latency(|s| s.latency_us.max_us),
        num(median(steps.iter().map(|s| s.lost as f64).collect())),
    ]
    .join(" | ")
}

/// The measured (not warm-up) steps of a report.
pub(crate) fn measured(report: &Report) -> impl Iterator<Item = &Step> {
    report.steps.iter().filter(|s| !s.warmup)
}

/// The `i`-th measured step of every report.
pub(crate) fn nth_steps(reports: &[Report], i: usize) -> Vec<Step> {
    reports
        .iter()
        .filter_map(|r| measured(r).nth(i).cloned())
        .collect()
}

fn step_labels(set: &ResultSet, name: &str) -> Vec<String> {
    let reports = set.reports(name, "ours");
    let count = reports
        .iter()
        .map(|r| measured(r).count())
        .max()
        .unwrap_or(0);
    (0..count)
        .map(|i| {
            let steps = nth_steps(reports, i);
            thousands(
                median(steps.iter().map(|s| s.rate * s.receivers as f64).collect()).unwrap_or(0.0),
            )
        })
        .collect()
}

pub(crate) fn per_cpu_second(step: &Step) -> Option<f64> {
    let cpu = step.server_cpu_s?;
    (cpu > 0.0).then(|| step.delivered as f64 / cpu)
}

/// Highest offered deliveries/s whose median p99 is under the limit with nothing lost in
/// any run.
fn sustained(set: &ResultSet, name: &str, server: &str) -> Option<f64> {
    let reports = set.reports(name, server);
    let count = reports
        .iter()
        .map(|r| measured(r).count())
        .max()
        .unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            let steps = nth_steps(reports, i);
            let p99 = median(
                steps
                    .iter()
                    .map(|s| s.latency_us.p99_us as f64 / 1000.0)
                    .collect(),
            )?;
            let clean = steps.iter().all(|s| s.lost == 0 && s.duplicates == 0);
            let offered = median(steps.iter().map(|s| s.rate * s.receivers as f64).collect())?;
            (p99 < SUSTAINED_P99_MS && clean).then_some(offered)
        })
        .reduce(f64::max)
}

/// Median over the rates both servers sustain of ours / peer deliveries per CPU-second.
fn efficiency_ratio(set: &ResultSet) -> Option<f64> {
    let ours = set.reports("fanout", "ours");
    let peer = set.reports("fanout", "peer");
    let count = ours.iter().map(|r| measured(r).count()).max().unwrap_or(0);
    median(
        (0..count)
            .filter_map(|i| {
                let (o, p) = (nth_steps(ours, i), nth_steps(peer, i));
                let clean = o.iter().chain(&p).all(|s| s.lost == 0);
                let o = median(o.iter().filter_map(per_cpu_second).collect())?;
                let p = median(p.iter().filter_map(per_cpu_second).collect())?;
                (clean && p > 0.0).then(|| o / p)
            })
            .collect(),
    )
}

fn point_at(points: &[(f64, f64)], x: f64) -> Option<f64> {
    points.iter().find(|p| p.0 == x).map(|p| p.1)
}

fn ratio(ours: Option<f64>, peer: Option<f64>) -> String {
    match (ours, peer) {
        (Some(o), Some(p)) if p > 0.0 => format!("{:.2}", o / p),
        _ => "?".into(),
    }
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1024.0)
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

pub(crate) fn ms(us: Option<f64>) -> String {
    us.map(|us| format!("{:.1} ms", us / 1000.0))
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn num(value: Option<f64>) -> String {
    value.map(thousands).unwrap_or_else(|| "?".into())
}

pub(crate) fn thousands(value: f64) -> String {
    let rounded = value.round() as i64;
    let digits = rounded.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0 {
        out.insert(0, '-');
    }
    out
}

fn yes(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "**no**"
    }
}

fn or<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.is_empty() {
        fallback
    } else {
        value
    }
}

fn relative(path: &Path) -> String {
    let text = path.display().to_string();
    match text.find("target/") {
        Some(i) => text[i..].to_owned(),
        None => text,
    }
}

/// The chart's path relative to the page: the charts sit in `bench/` beside it.
fn chart_link(chart: &Path) -> String {
    format!("bench/{}", chart.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
    }
}
