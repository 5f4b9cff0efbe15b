//! What the figures measure with: process CPU time, the counting global
//! allocator, and the payload with its check.

use std::time::Duration;

use bytes::Bytes;
use cpu_time::ProcessTime;

/// Process CPU time since `start` (both sides run in this one thread).
pub(crate) struct Cpu(ProcessTime);

impl Cpu {
    pub(crate) fn start() -> Self {
        Self(ProcessTime::now())
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A reading of the counting allocator.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Heap {
    /// Allocations plus reallocations.
    pub allocs: u64,
    /// Bytes currently allocated.
    pub live: i64,
}

impl Heap {
    /// Reads `stats_alloc`'s counters. They move only when the binary
    /// installs `stats_alloc::INSTRUMENTED_SYSTEM` as its global allocator
    /// (perf-compare does); see [`counting`].
    pub(crate) fn now() -> Self {
        let s = stats_alloc::INSTRUMENTED_SYSTEM.stats();
        Self {
            allocs: (s.allocations + s.reallocations) as u64,
            // A realloc already moves bytes_allocated / bytes_deallocated
            // by the difference; bytes_reallocated repeats it.
            live: s.bytes_allocated as i64 - s.bytes_deallocated as i64,
        }
    }

    pub(crate) fn since(self, earlier: Heap) -> Heap {
        Heap {
            allocs: self.allocs - earlier.allocs,
            live: self.live - earlier.live,
        }
    }
}

/// Whether allocations are being counted (the counting allocator is the
/// global one).
pub(crate) fn counting() -> bool {
    let before = Heap::now().allocs;
    let probe = std::hint::black_box(Box::new(0u64));
    drop(probe);
    Heap::now().allocs > before
}

/// The bytes every bulk transfer sends: a fixed pseudo-random pattern of
/// an odd length, so a chunk delivered at the wrong offset cannot match.
/// Writers send zero-copy slices of it; the reader compares every byte
/// received with the pattern at its stream offset (a `memcmp`, cheaper
/// than any checksum and stronger).
pub(crate) struct Pattern {
    bytes: Bytes,
}

/// The pattern's length: about 1 MiB, odd, prime.
const PATTERN_LEN: usize = 1_048_573;
/// Largest slice handed to one write call.
const WRITE_CHUNK: usize = 64 * 1024;

impl Pattern {
    pub(crate) fn new() -> Self {
        let mut state = 0x5eed_u64;
        let mut out = Vec::with_capacity(PATTERN_LEN + 8);
        while out.len() < PATTERN_LEN {
            // SplitMix64.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(PATTERN_LEN);
        Self {
            bytes: Bytes::from(out),
        }
    }

    /// The next slice to write at stream `offset`, at most `left` bytes.
    pub(crate) fn chunk(&self, offset: u64, left: u64) -> Bytes {
        let start = (offset % PATTERN_LEN as u64) as usize;
        let len = (PATTERN_LEN - start)
            .min(WRITE_CHUNK)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        self.bytes.slice(start..start + len)
    }

    /// Whether `data`, received at stream `offset`, is what was sent.
    pub(crate) fn matches(&self, mut offset: u64, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let start = (offset % PATTERN_LEN as u64) as usize;
            let n = (PATTERN_LEN - start).min(data.len());
            if data[..n] != self.bytes[start..start + n] {
                return false;
            }
            data = &data[n..];
            offset += n as u64;
        }
        true
    }
}

/// A received stream: its length so far and whether every byte matched.
pub(crate) struct Received {
    pub len: u64,
    pub intact: bool,
    pub fin: bool,
}

impl Received {
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            intact: true,
            fin: false,
        }
    }

    pub(crate) fn take(&mut self, pattern: &Pattern, data: &[u8]) {
        if !pattern.matches(self.len, data) {
            self.intact = false;
        }
        self.len += data.len() as u64;
    }
}
