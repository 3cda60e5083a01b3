//! Password and PIN hashing (argon2id) on a small fixed pool of dedicated threads behind an
//! admission bound: at most `workers` hashes run at once, a caller waits at most `wait` for a
//! place and is then refused with `Error::Busy` (503 + Retry-After). Why dedicated threads: each
//! argon2id hash needs 19 MiB; on tokio's blocking pool every new thread kept its own copy in its
//! malloc arena (a burst of 100 logins grew the server to 2 GB). A fixed pool keeps memory flat
//! at about `workers` × 19 MiB whatever the burst. Who may try at all is decided before (throttle).

use std::{
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::Duration,
};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::{Semaphore, oneshot};

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct Hasher {
    permits: Arc<Semaphore>,
    wait: Duration,
    jobs: mpsc::Sender<Job>,
    workers: usize,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("workers", &self.workers)
            .field("wait", &self.wait)
            .finish()
    }
}

/// glibc raises its mmap threshold dynamically once a large block is freed, after which
/// argon2's 19 MiB block arrays come from the thread's arena and are kept there, fragmented:
/// measured +25 MB of RSS per hash, 440 MB after a burst of logins with two workers. A fixed
/// threshold (which also switches the dynamic one off) makes every block array a mapping of its
/// own, returned to the OS when the hash is done; the cost is the page faults of 19 MiB per hash
/// (a few milliseconds next to the hash's own tens). See docs/benchmarks.md.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 4 * 1024 * 1024;
        // SAFETY: mallopt only sets an allocator tunable; it is thread-safe in glibc and has
        // no other effect on memory already allocated.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        }
    }
}

impl Hasher {
    /// `workers`: hashes at once (0 = one per CPU core); `wait`: how long a caller may queue.
    pub fn new(workers: usize, wait: Duration) -> Self {
        return_large_blocks_to_the_os();
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("epro-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking the next job.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the Hasher was dropped
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a hashing thread");
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(workers)),
            wait,
            jobs: tx,
            workers,
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Run `f` on a hashing thread once a place is free (at most `wait`), else `Busy`.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let busy = || Error::Busy {
            retry_after_secs: self.wait.as_secs().max(1) as i64,
        };
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| Error::Internal("the hashing threads have stopped".into()))?;
        let out = rx
            .await
            .map_err(|_| Error::Internal("a hashing thread failed".into()));
        drop(permit);
        out
    }

    /// Hash a password or PIN (argon2id, a fresh salt).
    pub async fn hash(&self, secret: String) -> Result<String> {
        self.run(move || {
            Argon2::default()
                .hash_password(secret.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
        })
        .await?
    }

    /// Check a password or PIN. `None` checks against a fixed dummy hash, so an unknown account
    /// costs the same time as a known one.
    pub async fn verify(&self, secret: String, hash: Option<String>) -> Result<bool> {
        self.run(move || {
            let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
            Argon2::default()
                .verify_password(secret.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"epro-dummy-password-for-timing")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn hashing_round_trips_and_rejects_other_passwords() {
        let h = Hasher::new(2, Duration::from_secs(30));
        let hash = h.hash("correct horse battery".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            h.verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("v")
        );
        assert!(
            !h.verify("wrong horse battery".into(), Some(hash))
                .await
                .expect("v")
        );
        assert!(!h.verify("anything".into(), None).await.expect("dummy"));
    }

    /// However many callers arrive at once, no more than `workers` jobs run together, and those
    /// that cannot get a place within `wait` are refused as busy rather than queued forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_runs_at_most_workers_at_once_and_the_excess_is_refused() {
        let h = Arc::new(Hasher::new(2, Duration::from_millis(200)));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (h, running, peak) = (h.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                h.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // Stands for a slow hash: 40 of them need 8 s on two workers, far more
                    // than the 200 ms a caller may wait.
                    std::thread::sleep(Duration::from_millis(400));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut done = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(()) => done += 1,
                Err(Error::Busy { retry_after_secs }) => {
                    assert!(retry_after_secs >= 1);
                    busy += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(
            peak.load(Ordering::SeqCst) <= 2,
            "never more than two at once"
        );
        assert!(done >= 2, "the first two ran");
        assert!(busy > 0, "the excess was refused as busy");
        assert_eq!(done + busy, 40);
    }
}
