//! The page's section on several servers sharing one PostgreSQL: fan-out across servers
//! on 1, 2 and 3 servers beside one SQLite server, and the ceiling of the global order.

use std::fmt::Write as _;

use crate::page::{
    measured, ms, nth_steps, num, per_cpu_second, thousands, traffic_cells, SUSTAINED_P99_MS,
};
use crate::results::{median, Report, ResultSet, Step};

/// The fan-out runs compared: label, run name, server tag, servers.
const FANOUT: [(&str, &str, &str, u32); 4] = [
    ("SQLite", "cluster-fanout-1", "ours", 1),
    ("PostgreSQL", "cluster-fanout-1", "pg", 1),
    ("PostgreSQL", "cluster-fanout-2", "pg", 2),
    ("PostgreSQL", "cluster-fanout-3", "pg", 3),
];
/// Every socket sends, spread over three servers.
const ORDER: &str = "cluster-order-3";

pub fn section(page: &mut String, set: &ResultSet) {
    if FANOUT
        .iter()
        .all(|(_, name, server, _)| set.reports(name, server).is_empty())
    {
        return;
    }
    let version = match set.machine.postgres.as_str() {
        "" => String::new(),
        v => format!(" {v}"),
    };
    let _ = writeln!(page, "## 6. Several servers on one PostgreSQL\n");
    let _ = writeln!(
        page,
        "`bench/run` starts a throwaway PostgreSQL{version} of its own (default settings, \
         fsync on, as SQLite's synchronous=FULL) and 1, 2 or 3 servers on one database, \
         PostgreSQL and every server pinned to the server core. A second server adds no \
         hardware here: these rows show what sharing one log costs, not how far more \
         machines go. One sender on the first server; the readers are spread over all \
         servers (socket *i* on server *i* mod *n*), so on 2 and 3 servers most deliveries \
         cross servers: a commit, a NOTIFY, a read of the log on the other server. The CPU \
         time of a step is every server's plus every PostgreSQL process's. The SQLite row \
         is the same load on one server with its embedded database.\n"
    );
    let _ = writeln!(
        page,
        "| store | servers | highest sustained messages/s | deliveries/s there | p99 there | deliveries per CPU-second there |\n|---|---|---|---|---|---|"
    );
    for (store, name, server, servers) in FANOUT {
        let reports = set.reports(name, server);
        if reports.is_empty() {
            continue;
        }
        match sustained_index(reports) {
            Some(i) => {
                let steps = nth_steps(reports, i);
                let _ = writeln!(
                    page,
                    "| {store} | {servers} | {} | {} | {} | {} |",
                    num(median(steps.iter().map(|s| s.rate).collect())),
                    num(median(steps.iter().map(|s| s.deliveries_per_s).collect())),
                    ms(median(
                        steps.iter().map(|s| s.latency_us.p99_us as f64).collect()
                    )),
                    num(median(steps.iter().filter_map(per_cpu_second).collect())),
                );
            }
            None => {
                let _ = writeln!(
                    page,
                    "| {store} | {servers} | none: even the lowest rate lost messages or had p99 over {SUSTAINED_P99_MS} ms | | | |"
                );
            }
        }
    }
    cost(page, set);
    let _ = writeln!(
        page,
        "\n| offered messages/s | store | servers | delivered/s | p50 | p99 | p99.9 | max | lost | deliveries per CPU-second |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for (store, name, server, servers) in FANOUT {
        let reports = set.reports(name, server);
        for i in 0..step_count(reports) {
            let steps = nth_steps(reports, i);
            let _ = writeln!(
                page,
                "| {} | {store} | {servers} | {} | {} |",
                num(median(steps.iter().map(|s| s.rate).collect())),
                traffic_cells(&steps),
                num(median(steps.iter().filter_map(per_cpu_second).collect())),
            );
        }
    }
    order(page, set);
    page.push('\n');
}

/// PostgreSQL against SQLite on one server: sustained rate and CPU per delivery.
fn cost(page: &mut String, set: &ResultSet) {
    let at = |name: &str, server: &str| {
        let reports = set.reports(name, server);
        let steps = nth_steps(reports, sustained_index(reports)?);
        Some((
            median(steps.iter().map(|s| s.rate).collect())?,
            median(steps.iter().filter_map(per_cpu_second).collect()),
        ))
    };
    if let (Some((sqlite, sqlite_eff)), Some((pg, pg_eff))) =
        (at("cluster-fanout-1", "ours"), at("cluster-fanout-1", "pg"))
    {
        let _ = write!(
            page,
            "\nOne server on PostgreSQL sustains {} messages/s where SQLite sustains {}",
            thousands(pg),
            thousands(sqlite)
        );
        if let (Some(s), Some(p)) = (sqlite_eff, pg_eff) {
            let _ = write!(
                page,
                ", and spends {:.2}× the CPU per delivery",
                if p > 0.0 { s / p } else { 0.0 }
            );
        }
        let _ = writeln!(page, ".");
    }
}

/// The ceiling of the global order: every socket sends, over three servers.
fn order(page: &mut String, set: &ResultSet) {
    let reports = set.reports(ORDER, "pg");
    if reports.is_empty() {
        return;
    }
    let sockets = median(reports.iter().map(|r| r.setup.clients as f64).collect());
    let _ = writeln!(page, "\n### The ceiling of the global order\n");
    let _ = writeln!(
        page,
        "{} sockets spread over 3 servers all send, at a rising total rate; every socket \
         reads everything. Every message of every server takes its id under one advisory \
         lock (one lock per batch), so this is the rate the whole chat can order.\n",
        num(sockets)
    );
    let _ = writeln!(
        page,
        "| offered messages/s | delivered messages/s | p50 | p99 | lost | deliveries per CPU-second |\n|---|---|---|---|---|---|"
    );
    for i in 0..step_count(reports) {
        let steps = nth_steps(reports, i);
        let messages = |s: &Step| {
            if s.receivers > 0 {
                s.deliveries_per_s / s.receivers as f64
            } else {
                0.0
            }
        };
        let _ = writeln!(
            page,
            "| {} | {} | {} | {} | {} | {} |",
            num(median(steps.iter().map(|s| s.rate).collect())),
            num(median(steps.iter().map(messages).collect())),
            ms(median(
                steps.iter().map(|s| s.latency_us.p50_us as f64).collect()
            )),
            ms(median(
                steps.iter().map(|s| s.latency_us.p99_us as f64).collect()
            )),
            num(median(steps.iter().map(|s| s.lost as f64).collect())),
            num(median(steps.iter().filter_map(per_cpu_second).collect())),
        );
    }
    match sustained_index(reports) {
        Some(i) => {
            let rate = median(nth_steps(reports, i).iter().map(|s| s.rate).collect());
            let _ = writeln!(
                page,
                "\nHighest rate with p99 under {SUSTAINED_P99_MS} ms and nothing lost, across 3 servers: **{} messages/s**.",
                num(rate)
            );
        }
        None => {
            let _ = writeln!(
                page,
                "\nNo rate was sustained (p99 under {SUSTAINED_P99_MS} ms, nothing lost)."
            );
        }
    }
}

fn step_count(reports: &[Report]) -> usize {
    reports
        .iter()
        .map(|r| measured(r).count())
        .max()
        .unwrap_or(0)
}

/// The highest measured step whose median p99 is under the limit with nothing lost or
/// duplicated in any run.
fn sustained_index(reports: &[Report]) -> Option<usize> {
    (0..step_count(reports))
        .filter(|&i| {
            let steps = nth_steps(reports, i);
            let p99 = median(
                steps
                    .iter()
                    .map(|s| s.latency_us.p99_us as f64 / 1000.0)
                    .collect(),
            );
            let clean = steps
                .iter()
                .all(|s| s.lost == 0 && s.duplicates == 0 && s.sent > 0);
            clean && p99.is_some_and(|p| p < SUSTAINED_P99_MS)
        })
        .max_by(|&a, &b| {
            let rate = |i| median(nth_steps(reports, i).iter().map(|s| s.rate).collect());
            rate(a).unwrap_or(0.0).total_cmp(&rate(b).unwrap_or(0.0))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Latency;

    fn step(rate: f64, lost: u64, p99_ms: u64) -> Step {
        Step {
            rate,
            sent: 10,
            lost,
            receivers: 10,
            latency_us: Latency {
                p99_us: p99_ms * 1000,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_sustained_step_is_the_fastest_without_loss_and_under_the_p99_limit() {
        let report = Report {
            steps: vec![
                step(50.0, 0, 5),
                step(100.0, 0, 20),
                step(200.0, 3, 10),
                step(400.0, 0, 80),
            ],
            ..Default::default()
        };
        assert_eq!(sustained_index(&[report]), Some(1));
    }

    #[test]
    fn nothing_is_sustained_when_every_step_loses() {
        let report = Report {
            steps: vec![step(50.0, 1, 5)],
            ..Default::default()
        };
        assert_eq!(sustained_index(&[report]), None);
    }
}
