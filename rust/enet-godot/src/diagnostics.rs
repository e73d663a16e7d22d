//! What the core, the driver and this adapter report through `tracing`, in Godot's output:
//! errors as `push_error` and warnings as `push_warning` (the editor's Debugger > Errors tab),
//! information and debug lines in the verbose log (`--verbose`). The level is the
//! `network/rust_enet/log_level` project setting, read when the extension loads.
//!
//! A hostile sender must not flood the output: each kind of line (each `tracing` call site) may
//! print [`LINES_PER_WINDOW`] times per [`WINDOW`]; the rest are counted and summed up in one
//! "N more suppressed" line when the kind next prints, or when a `RustENetPeer` polls after the
//! window ended ([`flush_pending`]).
//!
//! Lines raised on another thread than Godot's main thread (a service thread's pass, under its
//! host's lock) are not printed there: printing may run a script's `Logger` on that thread. They
//! wait in a queue (at most [`QUEUED_LINES`]) that the main thread prints at the next poll or
//! `service` ([`flush_pending`]).
//!
//! [`GodotSubscriber`] is a minimal `tracing::Subscriber` (events only; spans are not used by
//! this workspace): `tracing-subscriber`'s registry and layers would add a dependency tree for
//! nothing this needs.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::Hash;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use godot::prelude::*;
use parking_lot::Mutex;
use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Lines of one kind per window, at most.
pub(crate) const LINES_PER_WINDOW: u32 = 3;
/// The rate limiter's window.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);
/// Lines from other threads kept for the main thread, at most; more are counted.
pub(crate) const QUEUED_LINES: usize = 64;

/// One kind's count in the current window.
#[derive(Debug)]
struct Window {
    start: Instant,
    printed: u32,
    suppressed: u64,
    /// The first suppressed line, to say what was suppressed.
    sample: String,
}

/// Per-kind rate limiting (Godot-free).
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    kinds: HashMap<K, Window>,
}

impl<K: Hash + Eq + Clone> Default for RateLimiter<K> {
    fn default() -> Self {
        RateLimiter {
            kinds: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// An event of `kind` at `now` with text `line`: the lines to print now (the summary of
    /// the previous window's suppressed lines, if any, then `line`), or none when suppressed.
    pub(crate) fn admit(&mut self, kind: K, now: Instant, line: &str) -> Vec<String> {
        let window = self.kinds.entry(kind).or_insert_with(|| Window {
            start: now,
            printed: 0,
            suppressed: 0,
            sample: String::new(),
        });
        let mut out = Vec::new();
        if now.saturating_duration_since(window.start) >= WINDOW {
            if let Some(summary) = summary(window) {
                out.push(summary);
            }
            *window = Window {
                start: now,
                printed: 0,
                suppressed: 0,
                sample: String::new(),
            };
        }
        if window.printed < LINES_PER_WINDOW {
            window.printed += 1;
            out.push(line.to_owned());
        } else {
            if window.suppressed == 0 {
                window.sample = line.to_owned();
            }
            window.suppressed += 1;
        }
        out
    }

    /// Summaries of the windows that ended before `now` with suppressed lines.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for window in self.kinds.values_mut() {
            if now.saturating_duration_since(window.start) >= WINDOW
                && let Some(line) = summary(window)
            {
                out.push(line);
                window.suppressed = 0;
            }
        }
        out
    }
}

fn summary(window: &Window) -> Option<String> {
    (window.suppressed > 0).then(|| {
        format!(
            "{} more like this suppressed in {} s: {}",
            window.suppressed,
            WINDOW.as_secs(),
            window.sample
        )
    })
}

/// Where a line goes in Godot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Error,
    Warning,
    Verbose,
}

/// The subscriber installed by [`install`].
#[derive(Debug)]
pub(crate) struct GodotSubscriber {
    max: Level,
    verbose: bool,
    limiter: Mutex<RateLimiter<Identifier>>,
}

/// The level names of the `network/rust_enet/log_level` setting, in its order.
pub(crate) const LEVELS: &str = "Off,Error,Warning,Info,Debug";

fn level_of(setting: i64) -> Option<Level> {
    match setting {
        1 => Some(Level::ERROR),
        2 => Some(Level::WARN),
        3 => Some(Level::INFO),
        4 => Some(Level::DEBUG),
        _ => None,
    }
}

static INSTALLED: OnceLock<&'static GodotSubscriber> = OnceLock::new();
/// Godot's main thread: the thread that installed the subscriber (extension initialisation).
static MAIN_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Lines raised on other threads, waiting for the main thread, and how many did not fit.
#[derive(Debug, Default)]
struct Queued {
    lines: Vec<(Sink, String)>,
    dropped: u64,
}

static QUEUED: Mutex<Queued> = Mutex::new(Queued {
    lines: Vec::new(),
    dropped: 0,
});

/// Installs the subscriber for `setting` (an index into [`LEVELS`]; 0 installs none). `verbose`:
/// Godot runs with `--verbose`, so information and debug lines are shown.
pub(crate) fn install(setting: i64, verbose: bool) {
    let Some(max) = level_of(setting) else {
        return;
    };
    let subscriber: &'static GodotSubscriber = Box::leak(Box::new(GodotSubscriber {
        max,
        verbose,
        limiter: Mutex::new(RateLimiter::default()),
    }));
    let _ = MAIN_THREAD.set(std::thread::current().id());
    if tracing::subscriber::set_global_default(Forward(subscriber)).is_ok() {
        let _ = INSTALLED.set(subscriber);
    }
}

/// On the main thread: prints the lines other threads raised since the last call, and the
/// summaries of windows that ended with suppressed lines.
pub(crate) fn flush_pending() {
    let queued = std::mem::take(&mut *QUEUED.lock());
    for (sink, line) in &queued.lines {
        emit(*sink, line);
    }
    if queued.dropped > 0 {
        emit(
            Sink::Warning,
            &format!(
                "{} more lines from service threads were dropped",
                queued.dropped
            ),
        );
    }
    if let Some(subscriber) = INSTALLED.get() {
        let lines = subscriber.limiter.lock().expired(Instant::now());
        for line in lines {
            emit(Sink::Warning, &line);
        }
    }
}

/// Prints `line` now on the main thread, or queues it for the main thread (see the module doc).
fn emit_or_queue(sink: Sink, line: String) {
    if MAIN_THREAD.get() == Some(&std::thread::current().id()) {
        emit(sink, &line);
        return;
    }
    let mut queued = QUEUED.lock();
    if queued.lines.len() < QUEUED_LINES {
        queued.lines.push((sink, line));
    } else {
        queued.dropped += 1;
    }
}

fn emit(sink: Sink, line: &str) {
    match sink {
        Sink::Error => godot_error!("rust_enet: {line}"),
        Sink::Warning => godot_warn!("rust_enet: {line}"),
        Sink::Verbose => godot_print!("rust_enet: {line}"),
    }
}

/// Collects an event's message and fields as `message (field=value, ...)`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push_str(", ");
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl GodotSubscriber {
    fn sink(&self, level: &Level) -> Option<Sink> {
        if *level > self.max {
            return None;
        }
        match *level {
            Level::ERROR => Some(Sink::Error),
            Level::WARN => Some(Sink::Warning),
            _ if self.verbose => Some(Sink::Verbose),
            _ => None,
        }
    }
}

/// `&'static GodotSubscriber` as the global subscriber (so `flush_pending` reaches it).
struct Forward(&'static GodotSubscriber);

impl Subscriber for Forward {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.sink(metadata.level()).is_some()
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let Some(sink) = self.0.sink(metadata.level()) else {
            return;
        };
        let mut line = Line::default();
        event.record(&mut line);
        let text = if line.fields.is_empty() {
            line.message
        } else {
            format!("{} ({})", line.message, line.fields)
        };
        let lines = self
            .0
            .limiter
            .lock()
            .admit(metadata.callsite(), Instant::now(), &text);
        for line in lines {
            emit_or_queue(sink, line);
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::{Duration, GodotSubscriber, Instant, Level, Mutex, RateLimiter, Sink, level_of};

    #[test]
    fn a_flood_prints_a_few_lines_and_one_summary_per_window() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let mut printed = Vec::new();
        for i in 0..10_000u32 {
            let now = start + Duration::from_micros(u64::from(i) * 150);
            printed.extend(limiter.admit("malformed", now, &format!("datagram {i}")));
        }
        // 1.5 s: two windows of 3 lines, one summary of the first window's 6 663 others.
        assert_eq!(printed.len(), 7, "{printed:?}");
        assert_eq!(printed[..3], ["datagram 0", "datagram 1", "datagram 2"]);
        assert!(
            printed[3].starts_with("6664 more like this suppressed in 1 s: datagram 3"),
            "{}",
            printed[3]
        );
        let later = limiter.expired(start + Duration::from_secs(3));
        assert_eq!(later.len(), 1);
        assert!(later[0].starts_with("3330 more like this"), "{}", later[0]);
        assert!(limiter.expired(start + Duration::from_secs(4)).is_empty());
    }

    #[test]
    fn kinds_are_limited_apart() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        for _ in 0..5 {
            limiter.admit(1, now, "noisy");
        }
        assert_eq!(limiter.admit(2, now, "rare"), ["rare"]);
    }

    #[test]
    fn the_setting_picks_the_level() {
        assert_eq!(level_of(0), None);
        assert_eq!(level_of(2), Some(Level::WARN));
        assert_eq!(level_of(4), Some(Level::DEBUG));
        let quiet = GodotSubscriber {
            max: Level::WARN,
            verbose: false,
            limiter: Mutex::new(RateLimiter::default()),
        };
        assert_eq!(quiet.sink(&Level::ERROR), Some(Sink::Error));
        assert_eq!(quiet.sink(&Level::WARN), Some(Sink::Warning));
        assert_eq!(quiet.sink(&Level::INFO), None);
        let chatty = GodotSubscriber {
            max: Level::DEBUG,
            verbose: true,
            limiter: Mutex::new(RateLimiter::default()),
        };
        assert_eq!(chatty.sink(&Level::DEBUG), Some(Sink::Verbose));
    }
}
