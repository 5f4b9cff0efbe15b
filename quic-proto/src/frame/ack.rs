//! ACK frames (RFC 9000 §19.3), decoded without allocating and encoded from
//! an iterator of ranges.

use core::fmt;
use core::ops::RangeInclusive;

use super::FrameType;
use crate::coding::{DecodeError, Encode, Encoder, LenCounter, Reader, VarInt};

/// The three ECN counters of an ACK_ECN frame (RFC 9000 §19.3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EcnCounts {
    /// Packets received with the ECT(0) codepoint.
    pub ect0: VarInt,
    /// Packets received with the ECT(1) codepoint.
    pub ect1: VarInt,
    /// Packets received with the ECN-CE codepoint.
    pub ce: VarInt,
}

impl EcnCounts {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            ect0: r.varint()?,
            ect1: r.varint()?,
            ce: r.varint()?,
        })
    }
}

impl Encode for EcnCounts {
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        e.put_varint(self.ect0);
        e.put_varint(self.ect1);
        e.put_varint(self.ce);
    }
}

/// A decoded ACK frame (types 0x02 and 0x03), borrowing from the packet.
///
/// Decoding allocates nothing: the frame keeps the first range in fields and
/// the additional (Gap, ACK Range Length) pairs as the raw bytes they came
/// in, after checking every packet number they imply (RFC 9000 §19.3.1).
/// [`AckFrame::iter`] walks those bytes again. The fields are private so that
/// the raw bytes are always ones decoding has validated; frames to send are
/// written with [`AckFrame::encode_ranges`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AckFrame<'a> {
    largest: VarInt,
    ack_delay: VarInt,
    first_range: VarInt,
    range_count: VarInt,
    ranges: &'a [u8],
    ecn: Option<EcnCounts>,
}

/// RFC 9000 §19.3.1: "If any computed packet number is negative, an endpoint
/// MUST generate a connection error of type FRAME_ENCODING_ERROR."
const NEGATIVE: DecodeError = DecodeError::InvalidValue("ACK range below packet number 0");

/// Reads one (Gap, ACK Range Length) pair following a range whose smallest
/// packet number is `prev_smallest`; returns the new range as
/// `(smallest, largest)`.
fn next_range(r: &mut Reader<'_>, prev_smallest: u64) -> Result<(u64, u64), DecodeError> {
    let gap = r.varint_u64()?;
    let len = r.varint_u64()?;
    // RFC 9000 §19.3.1: largest = previous_smallest - gap - 2.
    let largest = prev_smallest
        .checked_sub(gap)
        .and_then(|x| x.checked_sub(2))
        .ok_or(NEGATIVE)?;
    // RFC 9000 §19.3.1: smallest = largest - ack_range.
    let smallest = largest.checked_sub(len).ok_or(NEGATIVE)?;
    Ok((smallest, largest))
}

impl<'a> AckFrame<'a> {
    /// Decodes the body of an ACK frame of type `ty` (ACK or ACK_ECN).
    ///
    /// Costs one pass over the ranges and no allocation. A range count the
    /// remaining bytes cannot hold (each range takes at least two bytes) is
    /// rejected before any range is read.
    pub(super) fn decode(ty: FrameType, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let largest = r.varint()?;
        let ack_delay = r.varint()?;
        let range_count = r.varint()?;
        let first_range = r.varint()?;
        let mut smallest = largest
            .into_inner()
            .checked_sub(first_range.into_inner())
            .ok_or(NEGATIVE)?;
        let count = range_count.into_inner();
        if count > (r.remaining() / 2) as u64 {
            return Err(DecodeError::UnexpectedEnd);
        }
        let mut probe = r.clone();
        for _ in 0..count {
            smallest = next_range(&mut probe, smallest)?.0;
        }
        let ranges = r.bytes(probe.position() - r.position())?;
        let ecn = if ty == FrameType::ACK_ECN {
            Some(EcnCounts::decode(r)?)
        } else {
            None
        };
        Ok(Self {
            largest,
            ack_delay,
            first_range,
            range_count,
            ranges,
            ecn,
        })
    }

    /// ACK or ACK_ECN, as the frame carries ECN counts or not.
    pub const fn ty(&self) -> FrameType {
        if self.ecn.is_some() {
            FrameType::ACK_ECN
        } else {
            FrameType::ACK
        }
    }

    /// The largest packet number acknowledged.
    pub const fn largest(&self) -> u64 {
        self.largest.into_inner()
    }

    /// The ACK Delay field as sent: microseconds divided by
    /// 2^ack_delay_exponent (RFC 9000 §19.3). The caller scales it.
    pub const fn ack_delay(&self) -> u64 {
        self.ack_delay.into_inner()
    }

    /// The First ACK Range field: how many packets below
    /// [`AckFrame::largest`] the first range covers.
    pub const fn first_range(&self) -> u64 {
        self.first_range.into_inner()
    }

    /// The number of ranges after the first (the ACK Range Count field).
    pub const fn additional_ranges(&self) -> u64 {
        self.range_count.into_inner()
    }

    /// The ECN counts, present in ACK_ECN frames only.
    pub const fn ecn(&self) -> Option<EcnCounts> {
        self.ecn
    }

    /// The acknowledged ranges, largest first, each as an inclusive range of
    /// packet numbers. Allocation-free; each step decodes two varints.
    pub fn iter(&self) -> AckIter<'a> {
        let largest = self.largest();
        // Decoding checked that first_range <= largest.
        let smallest = largest.saturating_sub(self.first_range());
        AckIter {
            r: Reader::new(self.ranges),
            first: Some(smallest..=largest),
            prev_smallest: smallest,
            left: self.additional_ranges(),
        }
    }

    /// Writes an ACK frame for `ranges`, which must be in descending order,
    /// non-empty, and separated by at least one missing packet (a range's
    /// end at least two below the previous range's start), with the largest
    /// packet number below 2^62.
    ///
    /// `ack_delay` is the ACK Delay field, already divided by
    /// 2^ack_delay_exponent; it saturates at 2^62-1. With `ecn`, the frame is
    /// an ACK_ECN frame.
    ///
    /// The iterator is walked twice (once to check and count the ranges,
    /// once to write), so it must be `Clone` and cheap to clone, as slice
    /// iterators are. Nothing is written when the ranges are invalid.
    /// Truncate with `.take(n)` to fit a packet, sizing with
    /// [`AckFrame::ranges_encoded_len`].
    pub fn encode_ranges<I, E>(
        ranges: I,
        ack_delay: u64,
        ecn: Option<&EcnCounts>,
        e: &mut E,
    ) -> Result<(), InvalidAckRanges>
    where
        I: IntoIterator<Item = RangeInclusive<u64>>,
        I::IntoIter: Clone,
        E: Encoder + ?Sized,
    {
        let ranges = ranges.into_iter();
        let plan = AckPlan::new(ranges.clone())?;
        let ty = if ecn.is_some() {
            FrameType::ACK_ECN
        } else {
            FrameType::ACK
        };
        e.put_varint(VarInt::saturating(ty.0));
        e.put_varint(VarInt::saturating(plan.largest));
        e.put_varint(VarInt::saturating(ack_delay));
        e.put_varint(VarInt::saturating(plan.count));
        e.put_varint(VarInt::saturating(plan.first_range));
        let mut prev_smallest = plan.smallest;
        for range in ranges.skip(1) {
            // AckPlan::new checked end + 2 <= prev_smallest and start <= end;
            // saturating only guards against an iterator whose clone lies.
            let gap = prev_smallest.saturating_sub(*range.end()).saturating_sub(2);
            e.put_varint(VarInt::saturating(gap));
            e.put_varint(VarInt::saturating(
                range.end().saturating_sub(*range.start()),
            ));
            prev_smallest = *range.start();
        }
        if let Some(ecn) = ecn {
            ecn.encode(e);
        }
        Ok(())
    }

    /// The number of bytes [`AckFrame::encode_ranges`] writes for the same
    /// arguments. Walks the iterator twice, like the encoder.
    pub fn ranges_encoded_len<I>(
        ranges: I,
        ack_delay: u64,
        ecn: Option<&EcnCounts>,
    ) -> Result<usize, InvalidAckRanges>
    where
        I: IntoIterator<Item = RangeInclusive<u64>>,
        I::IntoIter: Clone,
    {
        let mut c = LenCounter::default();
        Self::encode_ranges(ranges, ack_delay, ecn, &mut c)?;
        Ok(c.len())
    }
}

impl Encode for AckFrame<'_> {
    /// Writes the frame back as decoded: the additional ranges are copied
    /// byte for byte.
    fn encode<E: Encoder + ?Sized>(&self, e: &mut E) {
        e.put_varint(VarInt::saturating(self.ty().0));
        e.put_varint(self.largest);
        e.put_varint(self.ack_delay);
        e.put_varint(self.range_count);
        e.put_varint(self.first_range);
        e.put_slice(self.ranges);
        if let Some(ecn) = &self.ecn {
            ecn.encode(e);
        }
    }
}

impl<'a> IntoIterator for &AckFrame<'a> {
    type Item = RangeInclusive<u64>;
    type IntoIter = AckIter<'a>;
    fn into_iter(self) -> AckIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for AckFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Ranges<'b, 'a>(&'b AckFrame<'a>);
        impl fmt::Debug for Ranges<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("AckFrame")
            .field("ranges", &Ranges(self))
            .field("ack_delay", &self.ack_delay)
            .field("ecn", &self.ecn)
            .finish()
    }
}

/// The ranges of an [`AckFrame`], largest first.
#[derive(Clone, Debug)]
pub struct AckIter<'a> {
    r: Reader<'a>,
    first: Option<RangeInclusive<u64>>,
    prev_smallest: u64,
    left: u64,
}

impl Iterator for AckIter<'_> {
    type Item = RangeInclusive<u64>;

    fn next(&mut self) -> Option<RangeInclusive<u64>> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match next_range(&mut self.r, self.prev_smallest) {
            Ok((smallest, largest)) => {
                self.prev_smallest = smallest;
                Some(smallest..=largest)
            }
            // Unreachable for a decoded frame (decoding validated these
            // bytes); stop rather than panic.
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.left.saturating_add(u64::from(self.first.is_some()));
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for AckIter<'_> {}

impl core::iter::FusedIterator for AckIter<'_> {}

/// The ranges given to [`AckFrame::encode_ranges`] were empty, not in
/// descending order, overlapping or adjacent, or above 2^62-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidAckRanges;

impl fmt::Display for InvalidAckRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ACK ranges must be non-empty, descending and separated by gaps")
    }
}

impl std::error::Error for InvalidAckRanges {}

/// The header fields of an ACK frame to send, computed by checking the ranges.
struct AckPlan {
    largest: u64,
    first_range: u64,
    smallest: u64,
    count: u64,
}

impl AckPlan {
    fn new<I: Iterator<Item = RangeInclusive<u64>>>(
        mut ranges: I,
    ) -> Result<Self, InvalidAckRanges> {
        let first = ranges.next().ok_or(InvalidAckRanges)?;
        let (smallest, largest) = (*first.start(), *first.end());
        if smallest > largest || largest > VarInt::MAX.into_inner() {
            return Err(InvalidAckRanges);
        }
        let mut prev_smallest = smallest;
        let mut count = 0u64;
        for range in ranges {
            let (start, end) = (*range.start(), *range.end());
            // A gap of at least one packet: end <= prev_smallest - 2.
            let separated = end.checked_add(2).is_some_and(|x| x <= prev_smallest);
            if start > end || !separated {
                return Err(InvalidAckRanges);
            }
            prev_smallest = start;
            count += 1;
        }
        Ok(Self {
            largest,
            first_range: largest - smallest,
            smallest,
            count,
        })
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl<'a> AckFrame<'a> {
    /// A valid ACK frame whose additional ranges are the longest valid
    /// prefix of bytes drawn from `u` (borrowed, so the frame borrows from
    /// the fuzzer's input like a decoded one).
    pub(super) fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let largest = super::arb::varint(u)?;
        let first_range = VarInt::saturating(u.int_in_range(0..=largest.into_inner())?);
        let ack_delay = super::arb::varint(u)?;
        let raw_len = u.int_in_range(0..=64usize)?.min(u.len());
        let raw = u.bytes(raw_len)?;
        let mut r = Reader::new(raw);
        let mut smallest = largest.into_inner() - first_range.into_inner();
        let (mut count, mut used) = (0u64, 0usize);
        while let Ok((s, _)) = next_range(&mut r, smallest) {
            smallest = s;
            count += 1;
            used = r.position();
        }
        let ecn = if u.arbitrary::<bool>()? {
            Some(EcnCounts {
                ect0: super::arb::varint(u)?,
                ect1: super::arb::varint(u)?,
                ce: super::arb::varint(u)?,
            })
        } else {
            None
        };
        Ok(Self {
            largest,
            ack_delay,
            first_range,
            range_count: VarInt::saturating(count),
            ranges: raw.get(..used).unwrap_or_default(),
            ecn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::VarInt;
    use crate::frame::Frame;
    use crate::TransportErrorCode;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> Result<AckFrame<'_>, crate::TransportError> {
        match Frame::decode(&mut Reader::new(bytes))? {
            Frame::Ack(ack) => Ok(ack),
            other => panic!("not an ACK: {other:?}"),
        }
    }

    fn encode(ranges: &[RangeInclusive<u64>], delay: u64, ecn: Option<&EcnCounts>) -> Vec<u8> {
        let mut v = Vec::new();
        AckFrame::encode_ranges(ranges.iter().cloned(), delay, ecn, &mut v).unwrap();
        v
    }

    #[test]
    fn encodes_byte_exact() {
        // ranges 10..=12 and 3..=5: gap = 10 - 5 - 2 = 3, length 2.
        let bytes = encode(&[10..=12, 3..=5], 7, None);
        assert_eq!(bytes, [0x02, 12, 7, 1, 2, 3, 2]);
        let ack = decode(&bytes).unwrap();
        assert_eq!(ack.iter().collect::<Vec<_>>(), [10..=12, 3..=5]);
        assert_eq!(
            (ack.largest(), ack.ack_delay(), ack.first_range()),
            (12, 7, 2)
        );
        assert_eq!(ack.additional_ranges(), 1);
        assert_eq!(ack.to_vec(), bytes);
    }

    #[test]
    fn ack_ecn_carries_counts() {
        let ecn = EcnCounts {
            ect0: VarInt::from_u32(1),
            ect1: VarInt::from_u32(2),
            ce: VarInt::from_u32(300),
        };
        let bytes = encode(&[0..=0], 0, Some(&ecn));
        assert_eq!(bytes, [0x03, 0, 0, 0, 0, 1, 2, 0x41, 0x2c]);
        let ack = decode(&bytes).unwrap();
        assert_eq!(ack.ecn(), Some(ecn));
        assert_eq!(ack.ty(), FrameType::ACK_ECN);
        assert_eq!(ack.to_vec(), bytes);
    }

    #[test]
    fn first_range_below_zero_is_frame_encoding_error() {
        let e = decode(&[0x02, 5, 0, 0, 6]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, Some(FrameType::ACK));
    }

    #[test]
    fn gap_below_zero_is_frame_encoding_error() {
        // smallest of the first range is 3; gap 2 gives largest 3 - 2 - 2 < 0.
        let e = decode(&[0x02, 5, 0, 1, 2, 2, 0]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        // gap 1 gives largest 0; length 1 gives smallest -1.
        let e = decode(&[0x02, 5, 0, 1, 2, 1, 1]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        // gap 1, length 0: packet 0 alone, valid.
        let ack = decode(&[0x02, 5, 0, 1, 2, 1, 0]).unwrap();
        assert_eq!(ack.iter().collect::<Vec<_>>(), [3..=5, 0..=0]);
    }

    #[test]
    fn huge_range_count_fails_before_reading_ranges() {
        // A range count of 2^62-1 in eight bytes, followed by two ranges.
        let mut bytes = vec![0x02, 0x3f, 0];
        bytes.extend_from_slice(&[0xff; 8]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0]);
        let e = decode(&bytes).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.reason, "frame truncated");
    }

    #[test]
    fn truncated_ecn_counts_are_an_error() {
        let e = decode(&[0x03, 0, 0, 0, 0, 1, 2]).unwrap_err();
        assert_eq!(e.code, TransportErrorCode::FRAME_ENCODING_ERROR);
        assert_eq!(e.frame_type, Some(FrameType::ACK_ECN));
    }

    #[test]
    fn encoder_rejects_bad_ranges() {
        let mut v = Vec::new();
        let cases: [&[RangeInclusive<u64>]; 5] = [
            &[],
            &[RangeInclusive::new(5, 3)],
            &[5..=8, 3..=4],
            &[5..=8, 6..=10],
            &[0..=(1 << 62)],
        ];
        for ranges in cases {
            let r = AckFrame::encode_ranges(ranges.iter().cloned(), 0, None, &mut v);
            assert_eq!(r, Err(InvalidAckRanges), "{ranges:?}");
        }
        assert!(v.is_empty(), "nothing written on error");
        assert!(AckFrame::encode_ranges([5..=8, 0..=3], 0, None, &mut v).is_ok());
    }

    #[test]
    fn debug_lists_ranges() {
        let bytes = encode(&[10..=12, 3..=5], 7, None);
        let s = format!("{:?}", decode(&bytes).unwrap());
        assert_eq!(
            s,
            "AckFrame { ranges: [10..=12, 3..=5], ack_delay: 7, ecn: None }"
        );
    }

    /// Descending, separated ranges built from (gap, length) steps.
    fn ranges() -> impl Strategy<Value = Vec<RangeInclusive<u64>>> {
        let top = 0..=VarInt::MAX.into_inner();
        let steps = proptest::collection::vec((0u64..1000, 0u64..1000), 0..40);
        (top, steps).prop_map(|(top, steps)| {
            let mut out = Vec::new();
            let mut largest = top;
            for (gap, len) in steps {
                let smallest = largest.saturating_sub(len);
                out.push(smallest..=largest);
                match smallest.checked_sub(gap + 2) {
                    Some(next) => largest = next,
                    None => break,
                }
            }
            if out.is_empty() {
                out.push(top..=top);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn ranges_roundtrip_through_encode_and_iter(
            ranges in ranges(),
            delay in 0..=VarInt::MAX.into_inner(),
            ecn: Option<(u32, u32, u32)>,
        ) {
            let ecn = ecn.map(|(a, b, c)| EcnCounts {
                ect0: a.into(), ect1: b.into(), ce: c.into(),
            });
            let bytes = encode(&ranges, delay, ecn.as_ref());
            let len = AckFrame::ranges_encoded_len(ranges.iter().cloned(), delay, ecn.as_ref());
            prop_assert_eq!(len, Ok(bytes.len()));
            let mut r = Reader::new(&bytes);
            let ack = match Frame::decode(&mut r) {
                Ok(Frame::Ack(ack)) => ack,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert!(r.is_empty());
            prop_assert_eq!(ack.iter().len(), ranges.len());
            prop_assert_eq!(ack.iter().collect::<Vec<_>>(), ranges);
            prop_assert_eq!(ack.ecn(), ecn);
            prop_assert_eq!(ack.encoded_len(), bytes.len());
            prop_assert_eq!(ack.to_vec(), bytes);
        }
    }
}
