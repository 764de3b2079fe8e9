//! One shutdown signal for the whole server, and a record of the tasks to wait for.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cheap clonable handle: tasks spawned through it are waited for on shutdown, and
/// every task can watch [`Shutdown::cancelled`].
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// Spawns a task the server waits for before it exits.
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Resolves once shutdown has begun.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Starts shutdown and waits for every tracked task to finish.
    pub async fn begin_and_wait(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
