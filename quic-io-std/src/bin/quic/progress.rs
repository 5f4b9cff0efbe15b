//! Progress bars on stderr (indicatif): drawn on a terminal, or anywhere
//! with `--progress`; never with `--no-progress`.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use quic_io_std::apps::Progress;

/// Whether to draw a progress bar.
#[derive(Clone, Copy, Debug, Default, Args)]
pub struct ProgressArgs {
    /// Draw the progress bar even when stderr is not a terminal.
    #[arg(long, conflicts_with = "no_progress")]
    pub progress: bool,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// How often the bar takes the app's progress.
const UPDATE_EVERY: Duration = Duration::from_millis(50);

/// A progress bar following an app.
pub struct Bar {
    bar: ProgressBar,
    last: Option<Instant>,
}

impl Bar {
    /// A bar for a transfer of `total` bytes (unknown: a counter with a
    /// rate), or `None` when none should be drawn.
    pub fn new(args: &ProgressArgs, total: Option<u64>) -> Option<Self> {
        if args.no_progress {
            return None;
        }
        let target = if io::stderr().is_terminal() {
            ProgressDrawTarget::stderr_with_hz(10)
        } else if args.progress {
            ProgressDrawTarget::term_like_with_hz(Box::new(PlainStderr), 2)
        } else {
            return None;
        };
        let template = match total {
            Some(_) => {
                "{spinner} {elapsed_precise} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} \
                 {decimal_bytes_per_sec} eta {eta} {msg}"
            }
            None => "{spinner} {elapsed_precise} {decimal_bytes} {decimal_bytes_per_sec} {msg}",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(total, target).with_style(style);
        Some(Self { bar, last: None })
    }

    /// Takes the app's progress, at most every 50 ms.
    pub fn update(&mut self, now: Instant, progress: Progress) {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < UPDATE_EVERY)
        {
            return;
        }
        self.last = Some(now);
        self.bar.set_position(progress.bytes);
        let mut msg = format!("{}/{} done", progress.completed, progress.requests);
        if progress.failed > 0 {
            msg.push_str(&format!(", {} failed", progress.failed));
        }
        self.bar.set_message(msg);
    }

    /// Removes the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// stderr as a terminal for `--progress` when it is not one (a log, a
/// pipe): ANSI cursor movements, 80 columns.
struct PlainStderr;

impl fmt::Debug for PlainStderr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainStderr")
    }
}

impl PlainStderr {
    fn escape(n: usize, code: char) -> io::Result<()> {
        if n > 0 {
            write!(io::stderr(), "\x1b[{n}{code}")?;
        }
        Ok(())
    }
}

impl TermLike for PlainStderr {
    fn width(&self) -> u16 {
        80
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        Self::escape(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        Self::escape(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        Self::escape(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        Self::escape(n, 'D')
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        writeln!(io::stderr(), "{s}")
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        write!(io::stderr(), "{s}")
    }

    fn clear_line(&self) -> io::Result<()> {
        write!(io::stderr(), "\r\x1b[2K")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
