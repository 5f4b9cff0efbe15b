//! `arbitrary` generators that only produce valid transport parameters, so a
//! fuzz target can assert `decode(encode(x)) == x`.

use arbitrary::{Arbitrary, Result, Unstructured};

use super::{PreferredAddress, TransportParameters, VersionInformation};
use crate::{ConnectionId, Side, StatelessResetToken, VarInt};

impl TransportParameters {
    /// Parameters that are valid as sent by `sent_by` and survive
    /// [`encode`](TransportParameters::encode) then
    /// [`decode`](TransportParameters::decode) with that side unchanged.
    pub fn arbitrary_for(u: &mut Unstructured<'_>, sent_by: Side) -> Result<Self> {
        let server = sent_by.is_server();
        let initial_source_connection_id = option(u, true, |u| cid(u, 0))?;
        // RFC 9000 §18.2: no preferred address from a server using a
        // zero-length connection ID.
        let may_prefer = server && !initial_source_connection_id.is_some_and(|c| c.is_empty());
        Ok(Self {
            original_destination_connection_id: option(u, server, |u| cid(u, 0))?,
            max_idle_timeout_ms: VarInt::arbitrary(u)?,
            stateless_reset_token: option(u, server, StatelessResetToken::arbitrary)?,
            max_udp_payload_size: varint_in(u, Self::MIN_MAX_UDP_PAYLOAD_SIZE, u64::MAX)?,
            initial_max_data: VarInt::arbitrary(u)?,
            initial_max_stream_data_bidi_local: VarInt::arbitrary(u)?,
            initial_max_stream_data_bidi_remote: VarInt::arbitrary(u)?,
            initial_max_stream_data_uni: VarInt::arbitrary(u)?,
            initial_max_streams_bidi: varint_in(u, 0, Self::MAX_STREAMS_LIMIT)?,
            initial_max_streams_uni: varint_in(u, 0, Self::MAX_STREAMS_LIMIT)?,
            ack_delay_exponent: u.int_in_range(0..=Self::MAX_ACK_DELAY_EXPONENT)?,
            max_ack_delay_ms: u.int_in_range(0..=Self::MAX_ACK_DELAY_LIMIT_MS - 1)?,
            disable_active_migration: bool::arbitrary(u)?,
            preferred_address: option(u, may_prefer, PreferredAddress::arbitrary)?,
            active_connection_id_limit: varint_in(u, 2, u64::MAX)?,
            initial_source_connection_id,
            retry_source_connection_id: option(u, server, |u| cid(u, 0))?,
            version_information: option(u, true, |u| {
                VersionInformation::arbitrary_for(u, sent_by)
            })?,
            max_datagram_frame_size: Option::<VarInt>::arbitrary(u)?,
            grease_quic_bit: bool::arbitrary(u)?,
        })
    }
}

impl<'a> Arbitrary<'a> for TransportParameters {
    /// Valid as sent by a server, the more permissive side. The result is also
    /// valid as sent by a client exactly when `validate(Side::Client)` accepts
    /// it; about half the time it is drawn that way.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let side = if bool::arbitrary(u)? {
            Side::Server
        } else {
            Side::Client
        };
        Self::arbitrary_for(u, side)
    }
}

/// `None` unless `allowed`; otherwise `None` or `Some(gen(u))`.
fn option<'a, T>(
    u: &mut Unstructured<'a>,
    allowed: bool,
    gen: impl FnOnce(&mut Unstructured<'a>) -> Result<T>,
) -> Result<Option<T>> {
    if allowed && bool::arbitrary(u)? {
        gen(u).map(Some)
    } else {
        Ok(None)
    }
}

/// A connection ID of `min_len..=20` bytes. Unlike `u.bytes`, running out of
/// input yields zero bytes rather than an error, so short fuzz inputs still
/// produce a value.
pub(super) fn cid(u: &mut Unstructured<'_>, min_len: usize) -> Result<ConnectionId> {
    let len = u.int_in_range(min_len..=ConnectionId::MAX_LEN)?;
    let mut bytes = [0u8; ConnectionId::MAX_LEN];
    for b in bytes.iter_mut().take(len) {
        *b = u8::arbitrary(u)?;
    }
    // Cannot fail: len <= MAX_LEN.
    ConnectionId::new(bytes.get(..len).unwrap_or_default())
        .map_err(|_| arbitrary::Error::IncorrectFormat)
}

/// A varint in `lo..=hi`, with `hi` capped at 2^62 - 1.
fn varint_in(u: &mut Unstructured<'_>, lo: u64, hi: u64) -> Result<VarInt> {
    let hi = hi.min(VarInt::MAX.into_inner());
    let x = u.int_in_range(lo..=hi)?;
    VarInt::from_u64(x).map_err(|_| arbitrary::Error::IncorrectFormat)
}
