//! The network thread, its waker, and commands from other threads.
//!
//! The endpoint is never shared: it lives in the network thread, and other
//! threads reach it by queueing a command and waking the loop, whose
//! [`Callbacks::wake`](crate::Callbacks::wake) runs the commands with the
//! endpoint at hand:
//!
//! ```text
//! app thread                          network thread
//! commands.send(Cmd::Write(..))  -->  wake(cx): for cmd in inbox.drain() { cx.endpoint... }
//! ```

use std::fmt;
use std::io;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::LoopError;

/// Wakes a socket loop from any thread: the loop returns from its wait
/// and calls [`Callbacks::wake`](crate::Callbacks::wake). Wakes that come
/// while the loop is busy are merged into one.
#[derive(Clone)]
pub struct LoopWaker {
    waker: Arc<mio::Waker>,
}

impl fmt::Debug for LoopWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopWaker").finish_non_exhaustive()
    }
}

impl LoopWaker {
    /// A waker over `waker`, which wakes whatever `mio::Poll` it was
    /// registered with: [`SocketLoop::waker`](crate::SocketLoop::waker)
    /// makes these, and loops of one's own (quic-io-mio's) can too, for
    /// [`commands`].
    pub fn new(waker: Arc<mio::Waker>) -> Self {
        Self { waker }
    }

    /// Wakes the loop.
    pub fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }
}

/// A socket loop running in its own thread (see
/// [`SocketLoop::spawn`](crate::SocketLoop::spawn)). Dropping it detaches
/// the thread, which runs on until a callback ends it.
pub struct NetworkThread<T, E> {
    handle: JoinHandle<Result<T, LoopError<E>>>,
    waker: LoopWaker,
}

impl<T, E> fmt::Debug for NetworkThread<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkThread")
            .field("finished", &self.handle.is_finished())
            .finish_non_exhaustive()
    }
}

impl<T, E> NetworkThread<T, E> {
    pub(crate) fn new(handle: JoinHandle<Result<T, LoopError<E>>>, waker: LoopWaker) -> Self {
        Self { handle, waker }
    }

    /// A waker for the thread's loop (cloneable, usable from any thread).
    pub fn waker(&self) -> LoopWaker {
        self.waker.clone()
    }

    /// Whether the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the loop to end and returns its result; a panic in the
    /// thread becomes [`LoopError::Panicked`].
    pub fn join(self) -> Result<T, LoopError<E>> {
        match self.handle.join() {
            Ok(result) => result,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                Err(LoopError::Panicked(message))
            }
        }
    }
}

/// A command could not be delivered.
#[non_exhaustive]
pub enum SendError<C> {
    /// The loop's [`Inbox`] is gone (the loop ended); the command is back.
    Closed(C),
    /// The command is queued but waking the loop failed.
    Wake(io::Error),
}

impl<C> fmt::Display for SendError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => write!(f, "the socket loop has ended"),
            Self::Wake(e) => write!(f, "waking the socket loop: {e}"),
        }
    }
}

impl<C> fmt::Debug for SendError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::Wake(e) => f.debug_tuple("Wake").field(e).finish(),
        }
    }
}

impl<C> std::error::Error for SendError<C> {}

/// The sending side of a command queue into a socket loop: each
/// [`Commands::send`] queues a command and wakes the loop. Cloneable and
/// usable from any thread.
pub struct Commands<C> {
    tx: mpsc::Sender<C>,
    waker: LoopWaker,
}

impl<C> Clone for Commands<C> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<C> fmt::Debug for Commands<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands").finish_non_exhaustive()
    }
}

impl<C> Commands<C> {
    /// Queues `command` and wakes the loop.
    pub fn send(&self, command: C) -> Result<(), SendError<C>> {
        self.tx.send(command).map_err(|e| SendError::Closed(e.0))?;
        self.waker.wake().map_err(SendError::Wake)
    }
}

/// The loop's side of a command queue: keep it in the callbacks and drain
/// it in [`Callbacks::wake`](crate::Callbacks::wake).
pub struct Inbox<C> {
    rx: mpsc::Receiver<C>,
}

impl<C> fmt::Debug for Inbox<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl<C> Inbox<C> {
    /// The commands queued so far, oldest first, without waiting.
    pub fn drain(&mut self) -> mpsc::TryIter<'_, C> {
        self.rx.try_iter()
    }
}

/// A command queue into the loop that `waker` wakes (from
/// [`SocketLoop::waker`](crate::SocketLoop::waker)): give the [`Inbox`] to
/// the callbacks, the [`Commands`] to the threads that need the endpoint.
pub fn commands<C>(waker: LoopWaker) -> (Commands<C>, Inbox<C>) {
    let (tx, rx) = mpsc::channel();
    (Commands { tx, waker }, Inbox { rx })
}
