//! Password hashing as a bounded resource: a few dedicated threads, a bounded queue.
//!
//! Each argon2id hash takes 19 MiB. On tokio's blocking pool (up to 512 threads, each with
//! its own malloc arena) a flood of sign-ins would take gigabytes; here at most `workers`
//! hashes run at once, on threads that reuse their memory, and at most `queue` more wait.
//! Past that a request is turned away at once with [`Busy`].
//!
//! Each thread keeps one argon2 memory buffer and reuses it for every hash: allocating
//! 19 MiB per hash left glibc's arenas holding some 20 of them (about 380 MB) after a
//! few dozen sign-ins, even on two threads.

use std::cell::RefCell;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Largest argon2 memory (in 1 KiB blocks) a stored hash may ask for: 64 MiB. Ours use
/// 19 MiB; a larger one in the database must not make a sign-in allocate without bound.
const MAX_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// This thread's argon2 memory, kept between hashes.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with `argon`'s parameters into `out`, on this thread's reused memory.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let need = argon.params().block_count();
    if need > MAX_BLOCKS {
        return Err(argon2::Error::MemoryTooMuch);
    }
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
    })
}

/// An argon2id hash of `password` with the default parameters, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(
    password: &[u8],
    salt: &SaltString,
) -> Result<String, argon2::password_hash::Error> {
    let argon = Argon2::default();
    let salt = salt.as_salt();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let hash = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        Ok(argon2_into(&argon, password, salt_bytes, out)?)
    })?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params())?,
        salt: Some(salt),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `hash` (compared in constant time).
pub fn verify_password(password: &[u8], hash: &str) -> bool {
    let check = || -> Result<bool, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(hash)?;
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let params = Params::try_from(&parsed)?;
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
            return Ok(false);
        };
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf)?;
        let argon = Argon2::new(algorithm, version, params);
        let actual = Output::init_with(expected.len(), |out| {
            Ok(argon2_into(&argon, password, salt_bytes, out)?)
        })?;
        Ok(actual == expected)
    };
    check().unwrap_or(false)
}

type Job = Box<dyn FnOnce() + Send>;

/// Every worker is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A pool of hashing threads. Cheap to clone; the threads end when the last clone drops.
#[derive(Clone)]
pub struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    /// Starts `workers` threads (at least one) with room for `queue` waiting jobs.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for index in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("hash-{index}"))
                .spawn(move || work(&rx))?;
        }
        Ok(HashPool { jobs })
    }

    /// Queues `f` without waiting for it; `Err(Busy)` when the queue is full.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        self.queue(counted(f))
    }

    /// Puts `job` in the queue, or counts it turned away.
    fn queue(&self, job: Job) -> Result<(), Busy> {
        self.jobs.try_send(job).map_err(|_| {
            crate::metrics::hash_busy();
            Busy
        })
    }

    /// Runs `f` on a hashing thread; `Err(Busy)` at once when the queue is full.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.queue(counted(move || {
            let _ = tx.send(f());
        }))?;
        rx.await.map_err(|_| Busy)
    }
}

/// `f` as a job that counts as waiting until a thread takes it (or it is dropped
/// unrun), then as running until it ends.
fn counted(f: impl FnOnce() + Send + 'static) -> Job {
    let waiting = crate::metrics::hash_waiting();
    Box::new(move || {
        drop(waiting);
        let _running = crate::metrics::hash_running();
        f()
    })
}

/// Nice value of the hashing threads: honest requests (and `GET /api/me` during a
/// flood of sign-ins) get the CPU first; hashing takes what is left.
#[cfg(target_os = "linux")]
const HASH_NICENESS: libc::c_int = 10;

fn work(jobs: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = {
            let rx = jobs.lock().unwrap_or_else(|poison| poison.into_inner());
            rx.recv()
        };
        match job {
            Ok(job) => {
                // A panicking job must not take the thread, and so the pool, with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

/// Lowers this thread's scheduling priority (Linux sets niceness per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread's own id; they touch no memory of ours.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, HASH_NICENESS) != 0 {
            tracing::debug!("could not lower the priority of a hashing thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    use std::time::Duration;

    fn salt() -> SaltString {
        SaltString::encode_b64(b"sixteen byte sal").unwrap()
    }

    #[test]
    fn hashes_match_the_argon2_crates_own() {
        let ours = hash_password(b"correct horse", &salt()).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt())
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs);
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
    }

    #[test]
    fn verify_accepts_the_password_and_nothing_else() {
        let hash = hash_password(b"correct horse", &salt()).unwrap();
        assert!(verify_password(b"correct horse", &hash));
        assert!(!verify_password(b"correct horsf", &hash));
        assert!(!verify_password(b"correct horse", "not a hash"));
        assert!(!verify_password(b"correct horse", ""));
    }

    #[test]
    fn stored_hash_asking_for_too_much_memory_is_refused() {
        let params = Params::new(MAX_BLOCKS as u32 + 8, 1, 1, None).unwrap();
        let huge = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt())
            .unwrap()
            .to_string();
        assert!(!verify_password(b"pw", &huge));
    }

    #[tokio::test]
    async fn jobs_past_the_queue_are_turned_away_at_once() {
        let pool = HashPool::new(1, 2).unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut running = Vec::new();
        for _ in 0..3 {
            let pool = pool.clone();
            let gate = gate.clone();
            running.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = gate.lock().unwrap().recv();
                })
                .await
            }));
            // Let the first job reach the worker before queueing the next.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // One runs, two wait: the fourth finds the queue full.
        assert_eq!(pool.run(|| ()).await, Err(Busy));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for job in running {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_panicking_job_leaves_the_pool_working() {
        let pool = HashPool::new(1, 4).unwrap();
        assert_eq!(pool.run(|| panic!("boom")).await, Err::<(), _>(Busy));
        assert_eq!(pool.run(|| 1 + 1).await, Ok(2));
    }
}
