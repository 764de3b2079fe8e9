//! Bringing many clients into the room: every sign-in first, then every connect, each
//! phase with a cap on what is in flight and timed on its own for the report.
//!
//! A socket starts being read the moment its greeting is in, not once all are connected:
//! every connect makes the server broadcast a `join`, and a socket left unread while
//! thousands join would be closed as a slow consumer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::client;
use crate::connect::{ConnectError, Connector, Ws};
use crate::report::SetupReport;
use crate::run::Run;
use crate::sender::Sender;
use crate::stalled;
use crate::stats::{histogram, Counters, LatencySummary};

/// Connect errors quoted in full in the report.
const ERROR_SAMPLES: usize = 5;

/// What a socket does once it is in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads everything.
    Reader,
    /// Sends probes and reads everything.
    Sender,
    /// Stops reading after its greeting.
    Slow,
}

/// How many clients to bring in and how.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    pub clients: usize,
    pub sockets_per_user: usize,
    /// Number of this process's first user (user names are `lg-<run>-<n>`).
    pub name_offset: usize,
    pub concurrency: usize,
}

/// The clients that made it in, by role.
pub struct Fleet {
    pub senders: Vec<Sender>,
    /// The stalled sockets' tasks; each ends with how the socket ended.
    pub slow: Vec<JoinHandle<stalled::Ending>>,
    pub readers: Vec<JoinHandle<()>>,
    pub setup: SetupReport,
}

enum Opened {
    Reader(JoinHandle<()>),
    Sender(Sender, JoinHandle<()>),
    Slow(JoinHandle<stalled::Ending>),
    Failed(ConnectError),
}

/// Signs in and connects `plan.clients` sockets; `role(i)` says what socket `i` does.
/// Sockets are opened in index order, so the last indices join last.
pub async fn assemble(
    connector: &Connector,
    run: &Arc<Run>,
    plan: &FleetPlan,
    role: impl Fn(usize) -> Role,
) -> Fleet {
    let concurrency = plan.concurrency.max(1);
    let per_user = plan.sockets_per_user.max(1);
    let counters = &run.tally.counters;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut note = |err: &ConnectError| {
        *errors.entry(err.kind()).or_default() += 1;
        let text = err.to_string();
        if samples.len() < ERROR_SAMPLES && !samples.contains(&text) {
            samples.push(text);
        }
    };

    // Sign-ins.
    let users = plan.clients.div_ceil(per_user);
    let signin_start = Instant::now();
    let mut cookies: Vec<Option<Arc<str>>> = vec![None; users];
    let mut signins = futures_util::stream::iter(0..users)
        .map(|user| {
            let connector = connector.clone();
            let name = user_name(&run.id, plan.name_offset + user);
            // On the server of the user's first socket.
            let first = user * per_user;
            tokio::spawn(async move { (user, connector.sign_in(first, &name).await) })
        })
        .buffer_unordered(concurrency);
    while let Some(joined) = signins.next().await {
        match joined {
            Ok((user, Ok(cookie))) => {
                cookies[user] = Some(cookie.into());
                Counters::add(&counters.signed_in, 1);
            }
            Ok((_, Err(err))) => note(&err),
            Err(_) => note(&ConnectError::SignIn("task failed".into())),
        }
    }
    let signin_s = signin_start.elapsed().as_secs_f64();
    let signins_ok = Counters::get(&counters.signed_in);

    // Connects.
    let connect_start = Instant::now();
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut fleet = Fleet {
        senders: Vec::new(),
        slow: Vec::new(),
        readers: Vec::new(),
        setup: SetupReport::default(),
    };
    let mut connect_times = histogram();
    let mut take = |opened: Opened, took_us: u64, fleet: &mut Fleet| match opened {
        Opened::Reader(handle) => {
            connect_times.saturating_record(took_us.max(1));
            fleet.readers.push(handle);
        }
        Opened::Sender(sender, handle) => {
            connect_times.saturating_record(took_us.max(1));
            fleet.senders.push(sender);
            fleet.readers.push(handle);
        }
        Opened::Slow(handle) => {
            connect_times.saturating_record(took_us.max(1));
            fleet.slow.push(handle);
        }
        Opened::Failed(err) => note(&err),
    };
    for index in 0..plan.clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let user = index / per_user;
        let cookie = cookies[user].clone();
        let role = role(index);
        let name = user_name(&run.id, plan.name_offset + user);
        let connector = connector.clone();
        let run = run.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let opened = match cookie {
                None => Err(ConnectError::NoSession),
                Some(cookie) => connector.open(index, &cookie, role == Role::Slow).await,
            };
            let took_us = started.elapsed().as_micros() as u64;
            (place(opened, index, &name, role, &run), took_us)
        });
        while let Some(done) = tasks.try_join_next() {
            if let Ok((opened, took)) = done {
                take(opened, took, &mut fleet);
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok((opened, took)) = done {
            take(opened, took, &mut fleet);
        }
    }
    let connect_s = connect_start.elapsed().as_secs_f64();
    let connects_ok = Counters::get(&counters.connected);
    fleet.setup = SetupReport {
        clients: plan.clients,
        users,
        signins_ok,
        signin_s: round3(signin_s),
        signins_per_s: rate(signins_ok, signin_s),
        connects_ok,
        connect_errors: plan.clients as u64 - connects_ok.min(plan.clients as u64),
        connect_s: round3(connect_s),
        connects_per_s: rate(connects_ok, connect_s),
        connect_latency_us: LatencySummary::of(&connect_times),
        errors,
        error_samples: samples,
    };
    fleet.senders.sort_by_key(|s| s.index);
    fleet
}

/// Puts a freshly connected socket to work according to its role.
fn place(
    opened: Result<(Ws, u64), ConnectError>,
    index: usize,
    name: &str,
    role: Role,
    run: &Arc<Run>,
) -> Opened {
    let counters = &run.tally.counters;
    let (ws, frames) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            Counters::add(&counters.connect_errors, 1);
            return Opened::Failed(err);
        }
    };
    Counters::add(&counters.connected, 1);
    Counters::add(&counters.frames, frames);
    match role {
        Role::Slow => {
            let left = run.left.register(name);
            Opened::Slow(tokio::spawn(stalled::hold(ws, left, run.clone())))
        }
        Role::Reader => {
            counters.readers.fetch_add(1, Ordering::Relaxed);
            Opened::Reader(tokio::spawn(client::read(ws, run.clone())))
        }
        Role::Sender => {
            counters.readers.fetch_add(1, Ordering::Relaxed);
            let (sink, stream) = ws.split();
            let reader = tokio::spawn(client::read(stream, run.clone()));
            Opened::Sender(Sender::new(index as u32, sink), reader)
        }
    }
}

/// The guest name of user number `n` of run `run`: at most 3 + 12 + 1 + 20 characters,
/// within the protocol's 32 for any realistic `n`.
pub fn user_name(run: &str, n: usize) -> String {
    format!("lg-{run}-{n}")
}

/// Events per second, to one decimal.
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (count as f64 / seconds * 10.0).round() / 10.0
    } else {
        0.0
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
