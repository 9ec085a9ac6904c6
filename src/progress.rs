//! Progress bars on stderr for long work, hidden when stderr is not a
//! terminal (so logs and pipes stay clean).

use std::io::{self, IsTerminal, Read, Seek, SeekFrom};

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-counting bar of `total` bytes, or a hidden one.
pub fn bytes_bar(total: u64, message: &'static str, enabled: bool) -> ProgressBar {
    if !enabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// A bar of `total` items drawn with `template`, or a hidden one.
fn item_bar(total: u64, template: &str, enabled: bool) -> ProgressBar {
    if !enabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A bar counting `total` items, or a hidden one.
pub fn count_bar(total: u64, message: &'static str, enabled: bool) -> ProgressBar {
    let bar = item_bar(
        total,
        "{msg:>9} [{bar:30}] {human_pos}/{human_len} eta {eta}",
        enabled,
    );
    bar.set_message(message);
    bar
}

/// A bar counting `total` items under a fixed `label`, with a message
/// after it that changes (`fetch`: the budget left, the countdown), or a
/// hidden one.
pub fn labelled_bar(total: u64, label: &'static str, enabled: bool) -> ProgressBar {
    let bar = item_bar(
        total,
        "{prefix:>9} [{bar:30}] {human_pos}/{human_len}  {msg}",
        enabled,
    );
    bar.set_prefix(label);
    bar
}

/// A spinner with `message` for work whose size is not known, or a hidden
/// one.
pub fn spinner(message: &'static str, enabled: bool) -> ProgressBar {
    if !enabled || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A reader (and seeker) that shows its position on a bar, offset by
/// `base` (the bytes of the files before it).
pub struct ProgressReader<R> {
    inner: R,
    bar: ProgressBar,
    base: u64,
    pos: u64,
}

impl<R> ProgressReader<R> {
    pub fn new(inner: R, bar: ProgressBar, base: u64) -> Self {
        ProgressReader {
            inner,
            bar,
            base,
            pos: 0,
        }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A long read (an ingest copying a large export) stops when asked.
        if crate::interrupt::requested() {
            return Err(io::Error::other("interrupted (Ctrl-C or SIGTERM)"));
        }
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        self.bar.set_position(self.base + self.pos);
        Ok(n)
    }
}

impl<R: Seek> Seek for ProgressReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        self.bar.set_position(self.base + self.pos);
        Ok(self.pos)
    }
}
