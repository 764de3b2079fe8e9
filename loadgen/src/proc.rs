//! The operating system's side: the open-file limit, and memory and CPU time of a process
//! read from `/proc` (the server's, given `--server-pid`, and our own).

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the sampler reads the server's memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// Samples kept at most (an hour at two a second); later ones only update min/max.
const MAX_SAMPLES: usize = 7200;

/// Raises this process's soft limit on open files to the hard limit and returns it.
/// Every socket is a file: the limit decides how many clients one process can hold.
pub fn raise_open_file_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit that only reads are made from.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Ok(limit.rlim_cur)
}

/// Which process to read: a pid, or this process.
#[derive(Debug, Clone, Copy)]
pub enum Pid {
    Of(u32),
    This,
}

impl Pid {
    fn path(self, file: &str) -> String {
        match self {
            Pid::Of(pid) => format!("/proc/{pid}/{file}"),
            Pid::This => format!("/proc/self/{file}"),
        }
    }

    /// Resident memory (VmRSS) in bytes.
    pub fn rss_bytes(self) -> io::Result<u64> {
        let status = std::fs::read_to_string(self.path("status"))?;
        parse_vm_rss(&status).ok_or_else(|| io::Error::other("no VmRSS line"))
    }

    /// User plus system CPU time in seconds.
    pub fn cpu_seconds(self) -> io::Result<f64> {
        let stat = std::fs::read_to_string(self.path("stat"))?;
        let ticks = parse_cpu_ticks(&stat).ok_or_else(|| io::Error::other("bad stat line"))?;
        Ok(ticks as f64 / clock_ticks_per_second())
    }
}

/// CPU seconds of a process and its children: those still running, and those it has
/// waited for (`cutime` and `cstime`). 0 for a process that is gone.
pub fn tree_cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let mut ticks = parse_cpu_ticks(&stat).unwrap_or(0) + parse_child_ticks(&stat).unwrap_or(0);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            if parse_ppid(&stat) == Some(pid) {
                ticks += parse_cpu_ticks(&stat).unwrap_or(0);
            }
        }
    }
    ticks as f64 / clock_ticks_per_second()
}

/// The parent's pid, field 4 of `/proc/<pid>/stat`.
fn parse_ppid(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// cutime + cstime, fields 16 and 17: children that ended and were waited for.
fn parse_child_ticks(stat: &str) -> Option<u64> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(13);
    let cutime: u64 = fields.next()?.parse().ok()?;
    let cstime: u64 = fields.next()?.parse().ok()?;
    Some(cutime + cstime)
}

/// `VmRSS:   12345 kB` → bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime from `/proc/<pid>/stat`, fields 14 and 15. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Bytes of TCP buffer memory in use on the machine.
fn kernel_tcp_bytes() -> Option<u64> {
    let pages = parse_tcp_mem_pages(&std::fs::read_to_string("/proc/net/sockstat").ok()?)?;
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).unwrap_or(4096))
}

/// `TCP: inuse 9 orphan 0 tw 0 alloc 12 mem 34` → 34 (pages).
fn parse_tcp_mem_pages(sockstat: &str) -> Option<u64> {
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut fields = line.split_whitespace();
    fields.find(|&f| f == "mem")?;
    fields.next()?.parse().ok()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// What the sampler saw of a process over a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessReport {
    pub pid: Option<u32>,
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    pub rss_min_bytes: u64,
    pub rss_max_bytes: u64,
    pub cpu_seconds: f64,
    /// CPU time over wall time: 1.0 is one core busy all the time.
    pub cpu_cores: f64,
    /// `[milliseconds since start, RSS bytes]` every 500 ms.
    pub rss_samples: Vec<(u64, u64)>,
    /// Memory the kernel holds for TCP buffers, machine-wide (`/proc/net/sockstat`):
    /// unread and unsent socket data is not in any process's RSS.
    pub kernel_tcp_start_bytes: u64,
    pub kernel_tcp_max_bytes: u64,
    pub kernel_tcp_end_bytes: u64,
}

/// Reads a process's memory every 500 ms until stopped.
pub struct Sampler {
    pid: Pid,
    started: Instant,
    cpu_start: f64,
    stop: CancellationToken,
    task: JoinHandle<ProcessReport>,
}

impl Sampler {
    /// Starts sampling; fails if the process cannot be read now.
    pub fn start(pid: Pid) -> io::Result<Sampler> {
        let rss_start = pid.rss_bytes()?;
        let cpu_start = pid.cpu_seconds()?;
        let stop = CancellationToken::new();
        let started = Instant::now();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut report = ProcessReport {
                pid: match pid {
                    Pid::Of(pid) => Some(pid),
                    Pid::This => None,
                },
                rss_start_bytes: rss_start,
                rss_min_bytes: rss_start,
                rss_max_bytes: rss_start,
                rss_samples: vec![(0, rss_start)],
                kernel_tcp_start_bytes: kernel_tcp_bytes().unwrap_or(0),
                ..Default::default()
            };
            report.kernel_tcp_max_bytes = report.kernel_tcp_start_bytes;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Ok(rss) = pid.rss_bytes() else { break };
                if let Some(tcp) = kernel_tcp_bytes() {
                    report.kernel_tcp_max_bytes = report.kernel_tcp_max_bytes.max(tcp);
                }
                report.rss_min_bytes = report.rss_min_bytes.min(rss);
                report.rss_max_bytes = report.rss_max_bytes.max(rss);
                if report.rss_samples.len() < MAX_SAMPLES {
                    report
                        .rss_samples
                        .push((started.elapsed().as_millis() as u64, rss));
                }
            }
            report
        });
        Ok(Sampler {
            pid,
            started,
            cpu_start,
            stop,
            task,
        })
    }

    /// Memory now, between samples (e.g. right after every socket connected).
    pub fn rss_now(&self) -> Option<u64> {
        self.pid.rss_bytes().ok()
    }

    /// Stops sampling and adds the final reading and the CPU time used.
    pub async fn finish(self) -> ProcessReport {
        self.stop.cancel();
        let mut report = self.task.await.unwrap_or_default();
        if let Ok(rss) = self.pid.rss_bytes() {
            report.rss_end_bytes = rss;
            report.rss_min_bytes = report.rss_min_bytes.min(rss);
            report.rss_max_bytes = report.rss_max_bytes.max(rss);
        }
        if let Some(tcp) = kernel_tcp_bytes() {
            report.kernel_tcp_end_bytes = tcp;
            report.kernel_tcp_max_bytes = report.kernel_tcp_max_bytes.max(tcp);
        }
        if let Ok(cpu) = self.pid.cpu_seconds() {
            report.cpu_seconds = round3(cpu - self.cpu_start);
            let wall = self.started.elapsed().as_secs_f64();
            if wall > 0.0 {
                report.cpu_cores = round3(report.cpu_seconds / wall);
            }
        }
        report
    }
}

/// How busy the whole machine was over a run: the generator shares it with the server,
/// and on a shared machine other work can skew latencies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MachineReport {
    pub cores: usize,
    /// 1-minute load average at the start and the end.
    pub load_start: f64,
    pub load_end: f64,
    /// Share of the run during which some runnable task waited for a CPU
    /// (`/proc/pressure/cpu`, "some"), in percent; absent where the kernel lacks it.
    pub cpu_pressure_pct: Option<f64>,
}

/// Watches the machine's load over a run.
pub struct MachineWatch {
    started: Instant,
    load_start: f64,
    pressure_start: Option<u64>,
}

impl MachineWatch {
    pub fn start() -> Self {
        MachineWatch {
            started: Instant::now(),
            load_start: load_average().unwrap_or(0.0),
            pressure_start: cpu_pressure_total_us(),
        }
    }

    pub fn finish(self) -> MachineReport {
        let wall_us = self.started.elapsed().as_micros() as f64;
        let pressure = match (self.pressure_start, cpu_pressure_total_us()) {
            (Some(a), Some(b)) if wall_us > 0.0 => {
                Some(((b.saturating_sub(a)) as f64 / wall_us * 1000.0).round() / 10.0)
            }
            _ => None,
        };
        MachineReport {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_start: self.load_start,
            load_end: load_average().unwrap_or(0.0),
            cpu_pressure_pct: pressure,
        }
    }
}

fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn cpu_pressure_total_us() -> Option<u64> {
    parse_pressure_some(&std::fs::read_to_string("/proc/pressure/cpu").ok()?)
}

/// `some avg10=1.00 avg60=0.50 avg300=0.10 total=12345` → 12345.
fn parse_pressure_some(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tbackend\nVmPeak:\t  99999 kB\nVmRSS:\t   51200 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(51200 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 70 0 0 20 0 4 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(320));
        assert_eq!(parse_cpu_ticks("1234 (x) S 1"), None);
    }

    #[test]
    fn parent_and_waited_for_children_are_read_from_stat() {
        let stat = "1234 (post (gres)) S 77 1234 1234 0 -1 4194560 500 0 0 0 250 70 9 4 20 0 4 0 100 1000 200";
        assert_eq!(parse_ppid(stat), Some(77));
        assert_eq!(parse_child_ticks(stat), Some(13));
    }

    #[test]
    fn a_process_tree_counts_at_least_its_own_cpu_time() {
        let me = std::process::id();
        // Burn a little CPU so there is something to count.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i ^ x));
        }
        assert!(x != 1);
        let own = Pid::This.cpu_seconds().unwrap();
        assert!(own > 0.0, "the loop took CPU time");
        assert!(
            tree_cpu_seconds(me) >= own,
            "the tree of {me} counts its own time"
        );
        assert_eq!(
            tree_cpu_seconds(u32::MAX),
            0.0,
            "a process that is gone counts 0"
        );
    }

    #[test]
    fn kernel_tcp_memory_is_read_in_pages() {
        let sockstat =
            "sockets: used 290\nTCP: inuse 9 orphan 0 tw 0 alloc 12 mem 34\nUDP: inuse 0 mem 0\n";
        assert_eq!(parse_tcp_mem_pages(sockstat), Some(34));
        assert_eq!(parse_tcp_mem_pages("UDP: inuse 0 mem 0\n"), None);
    }

    #[test]
    fn cpu_pressure_total_is_read_from_the_some_line() {
        let text = "some avg10=52.41 avg60=47.47 avg300=41.66 total=1387350912\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure_some(text), Some(1_387_350_912));
        assert_eq!(parse_pressure_some("full total=3\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(Pid::This.rss_bytes().unwrap() > 0);
        assert!(Pid::This.cpu_seconds().unwrap() >= 0.0);
        assert!(raise_open_file_limit().unwrap() > 0);
    }
}
