//! Transport parameters (RFC 9000 §7.4, §18; RFC 9221 §3; RFC 9287 §3;
//! RFC 9368 §3).
//!
//! [`TransportParameters`] is the owned, decoded form of a
//! `quic_transport_parameters` extension: compact (connection IDs inline, the
//! one list bounded and usually inline), with the RFC default filled in for
//! every absent parameter. [`TransportParameters::encode`] writes only
//! non-default values, optionally with a caller-chosen reserved ("grease")
//! parameter ([`GreaseParam`]), since the core draws no randomness of its own.
//!
//! # What is validated here
//!
//! [`TransportParameters::decode`] rejects, with TRANSPORT_PARAMETER_ERROR and
//! a distinct reason each:
//!
//! - malformed encoding: a truncated ID, length or value, or an integer
//!   parameter whose length disagrees with its varint (RFC 9000 §18);
//! - a known parameter sent twice (RFC 9000 §7.4);
//! - a client sending a server-only parameter (RFC 9000 §18.2);
//! - out-of-range values: `max_udp_payload_size` below 1200,
//!   `ack_delay_exponent` above 20, `max_ack_delay` of 2^14 or more,
//!   `active_connection_id_limit` below 2, a stream limit above 2^60
//!   (RFC 9000 §4.6, §18.2);
//! - wrong-sized values: a reset token that is not 16 bytes, a non-empty
//!   `disable_active_migration` or `grease_quic_bit` (RFC 9287 §3), a
//!   connection ID over 20 bytes;
//! - a malformed preferred address, one with a zero-length connection ID, or
//!   one from a server whose `initial_source_connection_id` is empty
//!   (RFC 9000 §18.2);
//! - malformed Version Information (RFC 9368 §4): shorter than 4 bytes, not a
//!   multiple of 4, a zero version, a client's chosen version missing from its
//!   own list, or more than [`VersionInformation::MAX_AVAILABLE`] versions (our
//!   bound).
//!
//! Unknown and reserved parameters are skipped (RFC 9000 §7.4.2, §18.1).
//! [`TransportParameters::validate`] applies the same value rules to a
//! locally built set.
//!
//! # What the connection validates
//!
//! Anything that needs connection state: that `initial_source_connection_id`
//! is present and matches the peer's first Initial SCID, that a server's
//! `original_destination_connection_id` is present and matches, that
//! `retry_source_connection_id` is present exactly when a Retry was received
//! and matches it (RFC 9000 §7.3); Version Information against the versions
//! actually in use (RFC 9368 §4); and 0-RTT rules about remembered values
//! (RFC 9000 §7.4.1, RFC 9221 §3).

mod id;
mod preferred_address;
mod version_information;

#[cfg(feature = "arbitrary")]
mod arbitrary_impls;
#[cfg(test)]
mod tests;

use core::time::Duration;

pub use id::TransportParameterId;
pub use preferred_address::PreferredAddress;
pub use version_information::VersionInformation;

use crate::coding::{Encoder, LenCounter, Reader};
use crate::{ConnectionId, Side, StatelessResetToken, TransportError, VarInt};

type Id = TransportParameterId;

/// One side's transport parameters, with RFC defaults for absent ones.
///
/// Fields are public so that an endpoint can build its own set; check such a
/// set with [`TransportParameters::validate`] before sending it, since the
/// peer applies the same rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportParameters {
    /// original_destination_connection_id (0x00): the DCID of the client's
    /// first Initial. Server only.
    pub original_destination_connection_id: Option<ConnectionId>,
    /// max_idle_timeout (0x01) in milliseconds; 0 (the default) disables it.
    pub max_idle_timeout_ms: VarInt,
    /// stateless_reset_token (0x02). Server only.
    pub stateless_reset_token: Option<StatelessResetToken>,
    /// max_udp_payload_size (0x03); default 65527, at least 1200.
    pub max_udp_payload_size: VarInt,
    /// initial_max_data (0x04); default 0.
    pub initial_max_data: VarInt,
    /// initial_max_stream_data_bidi_local (0x05); default 0.
    pub initial_max_stream_data_bidi_local: VarInt,
    /// initial_max_stream_data_bidi_remote (0x06); default 0.
    pub initial_max_stream_data_bidi_remote: VarInt,
    /// initial_max_stream_data_uni (0x07); default 0.
    pub initial_max_stream_data_uni: VarInt,
    /// initial_max_streams_bidi (0x08); default 0, at most 2^60.
    pub initial_max_streams_bidi: VarInt,
    /// initial_max_streams_uni (0x09); default 0, at most 2^60.
    pub initial_max_streams_uni: VarInt,
    /// ack_delay_exponent (0x0a); default 3, at most 20.
    pub ack_delay_exponent: u8,
    /// max_ack_delay (0x0b) in milliseconds; default 25, below 2^14.
    pub max_ack_delay_ms: u16,
    /// disable_active_migration (0x0c): present or not.
    pub disable_active_migration: bool,
    /// preferred_address (0x0d). Server only.
    pub preferred_address: Option<PreferredAddress>,
    /// active_connection_id_limit (0x0e); default 2, at least 2.
    pub active_connection_id_limit: VarInt,
    /// initial_source_connection_id (0x0f): the SCID of the sender's first
    /// Initial (required of both sides; checked by the connection).
    pub initial_source_connection_id: Option<ConnectionId>,
    /// retry_source_connection_id (0x10): the SCID of the server's Retry.
    /// Server only.
    pub retry_source_connection_id: Option<ConnectionId>,
    /// version_information (0x11, RFC 9368 §3).
    pub version_information: Option<VersionInformation>,
    /// max_datagram_frame_size (0x20, RFC 9221 §3). Absent or 0: DATAGRAM
    /// frames are not accepted. Presence is kept because RFC 9221 lets
    /// applications react to it.
    pub max_datagram_frame_size: Option<VarInt>,
    /// grease_quic_bit (0x2ab2, RFC 9287 §3): the sender accepts packets with
    /// either value of the QUIC Bit.
    pub grease_quic_bit: bool,
}

/// A reserved transport parameter to send, exercising the peer's duty to
/// ignore unknown parameters (RFC 9000 §18.1). The caller supplies the
/// randomness: the core has no RNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreaseParam<'a> {
    /// Selects the reserved ID; see [`TransportParameterId::reserved`].
    pub id_seed: u64,
    /// The opaque value; any bytes (RFC 9000 §18.1: "can carry arbitrary
    /// values").
    pub value: &'a [u8],
}

impl GreaseParam<'_> {
    /// The reserved ID this parameter is sent with (`31 * N + 27`).
    pub const fn id(&self) -> TransportParameterId {
        TransportParameterId::reserved(self.id_seed)
    }
}

impl TransportParameters {
    /// The default max_udp_payload_size (RFC 9000 §18.2).
    pub const DEFAULT_MAX_UDP_PAYLOAD_SIZE: VarInt = VarInt::from_u32(65527);
    /// The smallest valid max_udp_payload_size (RFC 9000 §18.2).
    pub const MIN_MAX_UDP_PAYLOAD_SIZE: u64 = 1200;
    /// The default ack_delay_exponent (RFC 9000 §18.2).
    pub const DEFAULT_ACK_DELAY_EXPONENT: u8 = 3;
    /// The largest valid ack_delay_exponent (RFC 9000 §18.2).
    pub const MAX_ACK_DELAY_EXPONENT: u8 = 20;
    /// The default max_ack_delay in milliseconds (RFC 9000 §18.2).
    pub const DEFAULT_MAX_ACK_DELAY_MS: u16 = 25;
    /// max_ack_delay values at or above this are invalid (RFC 9000 §18.2).
    pub const MAX_ACK_DELAY_LIMIT_MS: u16 = 1 << 14;
    /// The default and smallest valid active_connection_id_limit
    /// (RFC 9000 §18.2).
    pub const DEFAULT_ACTIVE_CONNECTION_ID_LIMIT: VarInt = VarInt::from_u32(2);
    /// The largest valid initial_max_streams_bidi / _uni (RFC 9000 §4.6).
    pub const MAX_STREAMS_LIMIT: u64 = 1 << 60;

    /// The RFC defaults: every parameter as if absent.
    pub const DEFAULT: Self = Self {
        original_destination_connection_id: None,
        max_idle_timeout_ms: VarInt::ZERO,
        stateless_reset_token: None,
        max_udp_payload_size: Self::DEFAULT_MAX_UDP_PAYLOAD_SIZE,
        initial_max_data: VarInt::ZERO,
        initial_max_stream_data_bidi_local: VarInt::ZERO,
        initial_max_stream_data_bidi_remote: VarInt::ZERO,
        initial_max_stream_data_uni: VarInt::ZERO,
        initial_max_streams_bidi: VarInt::ZERO,
        initial_max_streams_uni: VarInt::ZERO,
        ack_delay_exponent: Self::DEFAULT_ACK_DELAY_EXPONENT,
        max_ack_delay_ms: Self::DEFAULT_MAX_ACK_DELAY_MS,
        disable_active_migration: false,
        preferred_address: None,
        active_connection_id_limit: Self::DEFAULT_ACTIVE_CONNECTION_ID_LIMIT,
        initial_source_connection_id: None,
        retry_source_connection_id: None,
        version_information: None,
        max_datagram_frame_size: None,
        grease_quic_bit: false,
    };

    /// The idle timeout this side asked for, or `None` if it disabled it
    /// (RFC 9000 §10.1: absent or 0). The effective timeout is the minimum
    /// of both sides' values; that is the connection's business.
    pub fn max_idle_timeout(&self) -> Option<Duration> {
        idle_timeout(self.max_idle_timeout_ms)
    }

    /// The maximum acknowledgment delay (RFC 9000 §18.2).
    pub fn max_ack_delay(&self) -> Duration {
        Duration::from_millis(self.max_ack_delay_ms.into())
    }

    /// Converts an ACK frame's ACK Delay field, sent by the endpoint these
    /// parameters belong to, into a duration: `ack_delay * 2^exponent`
    /// microseconds (RFC 9000 §19.3). Saturates instead of overflowing.
    pub fn decode_ack_delay(&self, ack_delay: VarInt) -> Duration {
        decode_ack_delay(ack_delay, self.ack_delay_exponent)
    }

    /// Parses a peer's transport parameters, sent by `sent_by`, and checks
    /// every rule that needs no connection context (see the module docs).
    pub fn decode(bytes: &[u8], sent_by: Side) -> Result<Self, TransportError> {
        let mut params = Self::DEFAULT;
        let mut seen = 0u64;
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            let (id, value) = next_param(&mut r)?;
            // RFC 9000 §7.4: "An endpoint SHOULD treat receipt of duplicate
            // transport parameters as a connection error of type
            // TRANSPORT_PARAMETER_ERROR." Tracked for every known ID.
            if let Some(bit) = id.seen_bit() {
                if seen & (1 << bit) != 0 {
                    return Err(tp_error("duplicate transport parameter"));
                }
                seen |= 1 << bit;
            }
            params.apply(id, value)?;
        }
        params.validate(sent_by)?;
        Ok(params)
    }

    /// Stores one parameter's value. Unknown and reserved IDs are ignored
    /// (RFC 9000 §7.4.2: "An endpoint MUST ignore transport parameters that
    /// it does not support"; §18.1).
    fn apply(&mut self, id: Id, value: &[u8]) -> Result<(), TransportError> {
        match id {
            Id::ORIGINAL_DESTINATION_CONNECTION_ID => {
                self.original_destination_connection_id = Some(cid_value(value)?)
            }
            Id::MAX_IDLE_TIMEOUT => self.max_idle_timeout_ms = int_value(value)?,
            Id::STATELESS_RESET_TOKEN => self.stateless_reset_token = Some(token_value(value)?),
            Id::MAX_UDP_PAYLOAD_SIZE => self.max_udp_payload_size = int_value(value)?,
            Id::INITIAL_MAX_DATA => self.initial_max_data = int_value(value)?,
            Id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL => {
                self.initial_max_stream_data_bidi_local = int_value(value)?
            }
            Id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE => {
                self.initial_max_stream_data_bidi_remote = int_value(value)?
            }
            Id::INITIAL_MAX_STREAM_DATA_UNI => self.initial_max_stream_data_uni = int_value(value)?,
            Id::INITIAL_MAX_STREAMS_BIDI => self.initial_max_streams_bidi = int_value(value)?,
            Id::INITIAL_MAX_STREAMS_UNI => self.initial_max_streams_uni = int_value(value)?,
            // Out-of-range values saturate the narrow field, where
            // `validate` rejects them.
            Id::ACK_DELAY_EXPONENT => {
                let v = int_value(value)?.into_inner();
                self.ack_delay_exponent = u8::try_from(v).unwrap_or(u8::MAX);
            }
            Id::MAX_ACK_DELAY => {
                let v = int_value(value)?.into_inner();
                self.max_ack_delay_ms = u16::try_from(v).unwrap_or(u16::MAX);
            }
            Id::DISABLE_ACTIVE_MIGRATION => {
                // RFC 9000 §18.2: "This parameter is a zero-length value."
                empty_value(value, "disable_active_migration with a non-empty value")?;
                self.disable_active_migration = true;
            }
            Id::PREFERRED_ADDRESS => {
                self.preferred_address = Some(PreferredAddress::decode_value(value)?)
            }
            Id::ACTIVE_CONNECTION_ID_LIMIT => self.active_connection_id_limit = int_value(value)?,
            Id::INITIAL_SOURCE_CONNECTION_ID => {
                self.initial_source_connection_id = Some(cid_value(value)?)
            }
            Id::RETRY_SOURCE_CONNECTION_ID => {
                self.retry_source_connection_id = Some(cid_value(value)?)
            }
            Id::VERSION_INFORMATION => {
                self.version_information = Some(VersionInformation::decode_value(value)?)
            }
            // RFC 9221 §3: any integer value is allowed.
            Id::MAX_DATAGRAM_FRAME_SIZE => self.max_datagram_frame_size = Some(int_value(value)?),
            Id::GREASE_QUIC_BIT => {
                // RFC 9287 §3: the parameter has an empty value; a non-empty
                // one is a TRANSPORT_PARAMETER_ERROR.
                empty_value(value, "grease_quic_bit with a non-empty value")?;
                self.grease_quic_bit = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the value rules of RFC 9000 §18.2, RFC 9000 §4.6 and RFC 9368
    /// §4 that need no connection context, for parameters sent by `sent_by`.
    ///
    /// [`TransportParameters::decode`] calls this; call it on a locally built
    /// set before sending it.
    pub fn validate(&self, sent_by: Side) -> Result<(), TransportError> {
        if sent_by.is_client() {
            self.check_no_server_only()?;
        }
        self.check_ranges()?;
        self.check_preferred_address()?;
        if let Some(vi) = &self.version_information {
            vi.validate(sent_by)?;
        }
        Ok(())
    }

    /// RFC 9000 §18.2: "A client MUST NOT include any server-only transport
    /// parameter [...]. A server MUST treat receipt of any of these transport
    /// parameters as a connection error of type TRANSPORT_PARAMETER_ERROR."
    fn check_no_server_only(&self) -> Result<(), TransportError> {
        let reason = if self.original_destination_connection_id.is_some() {
            "client sent original_destination_connection_id"
        } else if self.stateless_reset_token.is_some() {
            "client sent stateless_reset_token"
        } else if self.preferred_address.is_some() {
            "client sent preferred_address"
        } else if self.retry_source_connection_id.is_some() {
            "client sent retry_source_connection_id"
        } else {
            return Ok(());
        };
        Err(tp_error(reason))
    }

    /// The numeric limits of RFC 9000 §18.2 and §4.6.
    fn check_ranges(&self) -> Result<(), TransportError> {
        if self.max_udp_payload_size.into_inner() < Self::MIN_MAX_UDP_PAYLOAD_SIZE {
            return Err(tp_error("max_udp_payload_size below 1200"));
        }
        if self.ack_delay_exponent > Self::MAX_ACK_DELAY_EXPONENT {
            return Err(tp_error("ack_delay_exponent above 20"));
        }
        if self.max_ack_delay_ms >= Self::MAX_ACK_DELAY_LIMIT_MS {
            return Err(tp_error("max_ack_delay of 2^14 ms or more"));
        }
        if self.active_connection_id_limit < Self::DEFAULT_ACTIVE_CONNECTION_ID_LIMIT {
            return Err(tp_error("active_connection_id_limit below 2"));
        }
        // RFC 9000 §4.6: a max_streams value above 2^60 in a transport
        // parameter is a TRANSPORT_PARAMETER_ERROR.
        if self.initial_max_streams_bidi.into_inner() > Self::MAX_STREAMS_LIMIT {
            return Err(tp_error("initial_max_streams_bidi above 2^60"));
        }
        if self.initial_max_streams_uni.into_inner() > Self::MAX_STREAMS_LIMIT {
            return Err(tp_error("initial_max_streams_uni above 2^60"));
        }
        Ok(())
    }

    /// RFC 9000 §18.2: "A server that chooses a zero-length connection ID
    /// MUST NOT provide a preferred address. Similarly, a server MUST NOT
    /// include a zero-length connection ID in this transport parameter. A
    /// client MUST treat a violation of these requirements as a connection
    /// error of type TRANSPORT_PARAMETER_ERROR."
    fn check_preferred_address(&self) -> Result<(), TransportError> {
        let Some(pa) = &self.preferred_address else {
            return Ok(());
        };
        if pa.connection_id.is_empty() {
            return Err(tp_error(
                "preferred_address with a zero-length connection ID",
            ));
        }
        if self
            .initial_source_connection_id
            .is_some_and(|c| c.is_empty())
        {
            return Err(tp_error(
                "preferred_address from a server using a zero-length connection ID",
            ));
        }
        Ok(())
    }

    /// Writes the parameters as `sent_by` sends them: only non-default values
    /// (RFC 9000 §18.2 defaults), never a server-only parameter from a client,
    /// in ascending ID order, then `grease` if given.
    ///
    /// Does not validate; see [`TransportParameters::validate`].
    pub fn encode<E: Encoder + ?Sized>(
        &self,
        sent_by: Side,
        grease: Option<GreaseParam<'_>>,
        e: &mut E,
    ) {
        let server = sent_by.is_server();
        let d = &Self::DEFAULT;
        if let (true, Some(cid)) = (server, &self.original_destination_connection_id) {
            put_bytes(e, Id::ORIGINAL_DESTINATION_CONNECTION_ID, cid);
        }
        put_int(
            e,
            Id::MAX_IDLE_TIMEOUT,
            self.max_idle_timeout_ms,
            d.max_idle_timeout_ms,
        );
        if let (true, Some(token)) = (server, &self.stateless_reset_token) {
            put_bytes(e, Id::STATELESS_RESET_TOKEN, &token.0);
        }
        self.encode_limits(e);
        if self.disable_active_migration {
            put_bytes(e, Id::DISABLE_ACTIVE_MIGRATION, &[]);
        }
        if let (true, Some(pa)) = (server, &self.preferred_address) {
            put_header(e, Id::PREFERRED_ADDRESS, pa.value_len());
            pa.encode_value(e);
        }
        put_int(
            e,
            Id::ACTIVE_CONNECTION_ID_LIMIT,
            self.active_connection_id_limit,
            d.active_connection_id_limit,
        );
        if let Some(cid) = &self.initial_source_connection_id {
            put_bytes(e, Id::INITIAL_SOURCE_CONNECTION_ID, cid);
        }
        if let (true, Some(cid)) = (server, &self.retry_source_connection_id) {
            put_bytes(e, Id::RETRY_SOURCE_CONNECTION_ID, cid);
        }
        if let Some(vi) = &self.version_information {
            put_header(e, Id::VERSION_INFORMATION, vi.value_len());
            vi.encode_value(e);
        }
        if let Some(size) = self.max_datagram_frame_size {
            put_int(e, Id::MAX_DATAGRAM_FRAME_SIZE, size, None);
        }
        if self.grease_quic_bit {
            put_bytes(e, Id::GREASE_QUIC_BIT, &[]);
        }
        if let Some(g) = grease {
            put_bytes(e, g.id(), g.value);
        }
    }

    /// Parameters 0x03 to 0x0b: the payload, flow-control and ACK limits.
    fn encode_limits<E: Encoder + ?Sized>(&self, e: &mut E) {
        let d = &Self::DEFAULT;
        let ints = [
            (
                Id::MAX_UDP_PAYLOAD_SIZE,
                self.max_udp_payload_size,
                d.max_udp_payload_size,
            ),
            (
                Id::INITIAL_MAX_DATA,
                self.initial_max_data,
                d.initial_max_data,
            ),
            (
                Id::INITIAL_MAX_STREAM_DATA_BIDI_LOCAL,
                self.initial_max_stream_data_bidi_local,
                d.initial_max_stream_data_bidi_local,
            ),
            (
                Id::INITIAL_MAX_STREAM_DATA_BIDI_REMOTE,
                self.initial_max_stream_data_bidi_remote,
                d.initial_max_stream_data_bidi_remote,
            ),
            (
                Id::INITIAL_MAX_STREAM_DATA_UNI,
                self.initial_max_stream_data_uni,
                d.initial_max_stream_data_uni,
            ),
            (
                Id::INITIAL_MAX_STREAMS_BIDI,
                self.initial_max_streams_bidi,
                d.initial_max_streams_bidi,
            ),
            (
                Id::INITIAL_MAX_STREAMS_UNI,
                self.initial_max_streams_uni,
                d.initial_max_streams_uni,
            ),
            (
                Id::ACK_DELAY_EXPONENT,
                self.ack_delay_exponent.into(),
                d.ack_delay_exponent.into(),
            ),
            (
                Id::MAX_ACK_DELAY,
                self.max_ack_delay_ms.into(),
                d.max_ack_delay_ms.into(),
            ),
        ];
        for (id, value, default) in ints {
            put_int(e, id, value, default);
        }
    }

    /// The exact number of bytes [`TransportParameters::encode`] writes.
    pub fn encoded_len(&self, sent_by: Side, grease: Option<GreaseParam<'_>>) -> usize {
        let mut c = LenCounter::default();
        self.encode(sent_by, grease, &mut c);
        c.len()
    }

    /// Encodes into a new vector.
    pub fn to_vec(&self, sent_by: Side, grease: Option<GreaseParam<'_>>) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len(sent_by, grease));
        self.encode(sent_by, grease, &mut v);
        v
    }
}

impl Default for TransportParameters {
    /// The RFC defaults, as if every parameter were absent.
    fn default() -> Self {
        Self::DEFAULT
    }
}

const fn tp_error(reason: &'static str) -> TransportError {
    TransportError::transport_parameter(reason)
}

/// Reads one (ID, length, value) tuple (RFC 9000 §18).
fn next_param<'a>(r: &mut Reader<'a>) -> Result<(Id, &'a [u8]), TransportError> {
    let id = r
        .varint_u64()
        .map_err(|_| tp_error("transport parameter ID truncated"))?;
    let len = r
        .varint_u64()
        .map_err(|_| tp_error("transport parameter length truncated"))?;
    let value = r
        .bytes_u64(len)
        .map_err(|_| tp_error("transport parameter value truncated"))?;
    Ok((TransportParameterId(id), value))
}

/// An integer parameter: exactly one varint filling the value (RFC 9000 §18.2).
fn int_value(value: &[u8]) -> Result<VarInt, TransportError> {
    let mut r = Reader::new(value);
    match r.varint() {
        Ok(v) if r.is_empty() => Ok(v),
        _ => Err(tp_error(
            "integer transport parameter length disagrees with its varint",
        )),
    }
}

/// A connection ID parameter: the whole value, at most 20 bytes.
fn cid_value(value: &[u8]) -> Result<ConnectionId, TransportError> {
    ConnectionId::new(value).map_err(|_| tp_error("connection ID parameter longer than 20 bytes"))
}

/// RFC 9000 §18.2: "This parameter is a sequence of 16 bytes."
fn token_value(value: &[u8]) -> Result<StatelessResetToken, TransportError> {
    <[u8; 16]>::try_from(value)
        .map(StatelessResetToken)
        .map_err(|_| tp_error("stateless_reset_token not 16 bytes"))
}

fn empty_value(value: &[u8], reason: &'static str) -> Result<(), TransportError> {
    if value.is_empty() {
        Ok(())
    } else {
        Err(tp_error(reason))
    }
}

fn put_header<E: Encoder + ?Sized>(e: &mut E, id: Id, len: usize) {
    e.put_varint(id.varint());
    e.put_varint(VarInt::saturating(len as u64));
}

fn put_bytes<E: Encoder + ?Sized>(e: &mut E, id: Id, value: &[u8]) {
    put_header(e, id, value.len());
    e.put_slice(value);
}

/// Writes an integer parameter unless it equals `default`.
fn put_int<E: Encoder + ?Sized>(
    e: &mut E,
    id: Id,
    value: VarInt,
    default: impl Into<Option<VarInt>>,
) {
    if default.into() != Some(value) {
        put_header(e, id, value.size());
        e.put_varint(value);
    }
}

/// A max_idle_timeout value in milliseconds as a duration; 0 is none.
pub(crate) fn idle_timeout(ms: VarInt) -> Option<Duration> {
    match ms.into_inner() {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// `ack_delay * 2^exponent` microseconds (RFC 9000 §19.3), saturating.
pub(crate) fn decode_ack_delay(ack_delay: VarInt, exponent: u8) -> Duration {
    let scale = 1u64.checked_shl(exponent.into()).unwrap_or(u64::MAX);
    Duration::from_micros(ack_delay.into_inner().saturating_mul(scale))
}
