//! The stream scheduler: which stream's data goes into the next frame.
//!
//! RFC 9218-style priorities: eight urgency levels served lowest first;
//! within a level, non-incremental streams one at a time in stream-ID order
//! (a `BTreeSet`, so the lowest ID is first), then incremental streams
//! round-robin (a `VecDeque`, rotated after each frame). Only streams with
//! something to send are in it, so picking the next one costs O(log n) at
//! most, never a scan of all streams. Membership is tracked by the caller
//! (a flag per stream), so inserts are never duplicated.

use std::collections::{BTreeSet, VecDeque};

use super::Priority;
use crate::frame::StreamId;

#[derive(Debug, Default)]
struct Level {
    sequential: BTreeSet<StreamId>,
    incremental: VecDeque<StreamId>,
}

impl Level {
    fn front(&self) -> Option<StreamId> {
        self.sequential
            .first()
            .copied()
            .or_else(|| self.incremental.front().copied())
    }

    fn is_empty(&self) -> bool {
        self.sequential.is_empty() && self.incremental.is_empty()
    }
}

/// Streams with something to send, by priority.
///
/// The levels are allocated on first use, so a connection that never sends
/// stream data pays one pointer for them.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    levels: Option<Box<Levels>>,
}

#[derive(Debug, Default)]
struct Levels {
    by_urgency: [Level; 8],
    /// Bit `u` set: level `u` is not empty.
    occupied: u8,
}

impl Levels {
    fn level_mut(&mut self, p: Priority) -> &mut Level {
        &mut self.by_urgency[level(p)]
    }

    /// Updates level `p`'s bit in `occupied`.
    fn update_occupied(&mut self, p: Priority) {
        let u = level(p);
        if self.by_urgency[u].is_empty() {
            self.occupied &= !(1 << u);
        } else {
            self.occupied |= 1 << u;
        }
    }
}

fn level(p: Priority) -> usize {
    usize::from(p.urgency.min(Priority::MAX_URGENCY))
}

impl Scheduler {
    /// Adds a stream that is not yet in the scheduler.
    pub(crate) fn insert(&mut self, id: StreamId, p: Priority) {
        let levels = self.levels.get_or_insert_with(Default::default);
        let l = levels.level_mut(p);
        if p.incremental {
            l.incremental.push_back(id);
        } else {
            l.sequential.insert(id);
        }
        levels.update_occupied(p);
    }

    /// Removes a stream that is in the scheduler with priority `p`. O(log n)
    /// for non-incremental streams; O(n) in the level for incremental ones,
    /// which only happens on reset or a priority change (streams that run
    /// dry are removed from the front by [`Scheduler::served`]).
    pub(crate) fn remove(&mut self, id: StreamId, p: Priority) {
        let Some(levels) = self.levels.as_mut() else {
            return;
        };
        let l = levels.level_mut(p);
        if p.incremental {
            if let Some(i) = l.incremental.iter().position(|&x| x == id) {
                l.incremental.remove(i);
            }
        } else {
            l.sequential.remove(&id);
        }
        levels.update_occupied(p);
    }

    /// Removes `id` whatever its priority (a defensive path for a stream
    /// that vanished; scans the incremental queues).
    pub(crate) fn remove_any(&mut self, id: StreamId) {
        let Some(levels) = self.levels.as_mut() else {
            return;
        };
        for l in levels.by_urgency.iter_mut() {
            l.sequential.remove(&id);
            l.incremental.retain(|&x| x != id);
        }
        for urgency in 0..=Priority::MAX_URGENCY {
            levels.update_occupied(Priority {
                urgency,
                incremental: false,
            });
        }
    }

    /// The stream to serve next: the front of the most urgent level with
    /// a stream in it.
    pub(crate) fn peek(&self) -> Option<StreamId> {
        let levels = self.levels.as_ref()?;
        let u = levels.occupied.trailing_zeros() as usize;
        levels.by_urgency.get(u)?.front()
    }

    /// The stream returned by [`Scheduler::peek`] got a frame; `more` says
    /// whether it still has something to send. An incremental stream goes to
    /// the back of its level; a non-incremental one keeps its place.
    pub(crate) fn served(&mut self, id: StreamId, p: Priority, more: bool) {
        let Some(levels) = self.levels.as_mut() else {
            return;
        };
        let l = levels.level_mut(p);
        if p.incremental {
            if l.incremental.front() == Some(&id) {
                l.incremental.pop_front();
                if more {
                    l.incremental.push_back(id);
                } else {
                    levels.update_occupied(p);
                }
                return;
            }
        } else if more {
            return;
        }
        if !more {
            self.remove(id, p);
        }
    }

    /// Whether no stream is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.levels.as_ref().is_none_or(|l| l.occupied == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Dir;
    use crate::Side;

    fn id(i: u64) -> StreamId {
        StreamId::new(Side::Client, Dir::Bi, i)
    }

    fn p(urgency: u8, incremental: bool) -> Priority {
        Priority {
            urgency,
            incremental,
        }
    }

    #[test]
    fn lower_urgency_first_then_sequential_by_id_then_round_robin() {
        let mut s = Scheduler::default();
        s.insert(id(5), p(3, false));
        s.insert(id(2), p(3, false));
        s.insert(id(9), p(1, true));
        s.insert(id(7), p(1, true));
        s.insert(id(1), p(3, true));
        let mut order = Vec::new();
        for _ in 0..6 {
            let Some(x) = s.peek() else { break };
            order.push(x.index());
            let prio = match x.index() {
                9 | 7 => p(1, true),
                1 => p(3, true),
                _ => p(3, false),
            };
            // Streams 9 and 7 have two frames each, the rest one.
            let more =
                matches!(x.index(), 9 | 7) && order.iter().filter(|&&i| i == x.index()).count() < 2;
            s.served(x, prio, more);
        }
        assert_eq!(order, [9, 7, 9, 7, 2, 5]);
        assert_eq!(s.peek(), Some(id(1)));
        s.remove(id(1), p(3, true));
        assert!(s.is_empty());
    }

    #[test]
    fn non_incremental_stream_keeps_its_place_while_it_has_data() {
        let mut s = Scheduler::default();
        s.insert(id(1), p(3, false));
        s.insert(id(2), p(3, false));
        s.served(id(1), p(3, false), true);
        assert_eq!(s.peek(), Some(id(1)));
        s.served(id(1), p(3, false), false);
        assert_eq!(s.peek(), Some(id(2)));
    }
}
