//! The reports of one bench run, grouped by scenario and server, with medians.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{file}: {err}")]
    Json {
        file: String,
        err: serde_json::Error,
    },
    #[error("chart: {0}")]
    Chart(String),
}

/// The servers compared.
pub const SERVERS: [&str; 2] = ["ours", "peer"];

/// What `bench/run` wrote about the machine.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Machine {
    pub date: String,
    pub nproc: u32,
    pub cpu: String,
    pub kernel: String,
    pub node: String,
    /// PostgreSQL's version, when the cluster scenarios ran.
    pub postgres: String,
    pub reps: u32,
    pub quick: bool,
    pub server_core: u32,
    pub loadgen_core: u32,
    pub command: String,
}

/// The parts of a load generator report the page uses.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Report {
    pub scenario: String,
    pub ok: bool,
    pub failures: Vec<String>,
    pub setup: Setup,
    pub steps: Vec<Step>,
    pub closes: BTreeMap<String, u64>,
    pub idle: Option<Idle>,
    pub slow: Option<Slow>,
    pub server: Option<Process>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Setup {
    pub clients: u64,
    pub users: u64,
    pub connects_ok: u64,
    pub connect_errors: u64,
    pub connects_per_s: f64,
    pub signins_per_s: f64,
    pub connect_s: f64,
    pub signin_s: f64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Step {
    pub name: String,
    pub warmup: bool,
    pub rate: f64,
    pub receivers: u64,
    pub sent: u64,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub deliveries_per_s: f64,
    pub latency_us: Latency,
    /// Server CPU seconds spent during the step, when the generator measured it.
    pub server_cpu_s: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Idle {
    pub rss_before_bytes: u64,
    pub rss_after_connect_bytes: u64,
    pub rss_per_connection_bytes: u64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Slow {
    pub sockets: u64,
    pub closed_1008: u64,
    pub endings: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Process {
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    pub rss_min_bytes: u64,
    pub rss_max_bytes: u64,
    pub cpu_seconds: f64,
}

/// Every report of the run: `runs[name][server]` in repetition order.
#[derive(Debug, Default)]
pub struct ResultSet {
    pub machine: Machine,
    pub runs: BTreeMap<String, BTreeMap<String, Vec<Report>>>,
}

impl ResultSet {
    pub fn load(dir: &Path) -> Result<ResultSet, Error> {
        let mut set = ResultSet::default();
        let machine = dir.join("machine.json");
        if machine.exists() {
            set.machine = read_json(&machine)?;
        }
        let mut files: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for path in files {
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let parts: Vec<&str> = stem.split("--").collect();
            let [name, server, _rep] = parts[..] else {
                continue;
            };
            let report: Report = read_json(&path)?;
            set.runs
                .entry(name.to_owned())
                .or_default()
                .entry(server.to_owned())
                .or_default()
                .push(report);
        }
        Ok(set)
    }

    /// The reports of `name` on `server`.
    pub fn reports(&self, name: &str, server: &str) -> &[Report] {
        self.runs
            .get(name)
            .and_then(|by_server| by_server.get(server))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Names of the idle runs, by socket count.
    pub fn idle_sizes(&self) -> Vec<(u64, String)> {
        let mut sizes: Vec<(u64, String)> = self
            .runs
            .keys()
            .filter_map(|name| Some((name.strip_prefix("idle-")?.parse().ok()?, name.clone())))
            .collect();
        sizes.sort();
        sizes
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|err| Error::Json {
        file: path.display().to_string(),
        err,
    })
}

/// The median of some numbers (the mean of the middle two for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The median over reports of one number taken from each.
pub fn median_of(reports: &[Report], f: impl Fn(&Report) -> Option<f64>) -> Option<f64> {
    median(reports.iter().filter_map(f).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
