//! The crypto floor: what ring alone costs per 1-RTT packet (1200 bytes,
//! or the size path MTU discovery reaches) —
//! the sender's AEAD seal and header-protection mask, the receiver's mask
//! and AEAD open — with no QUIC around it. No stack can move stream data
//! faster than this on this machine.

use std::hint::black_box;
use std::time::Duration;

use ring::aead::{self, quic, Aad, LessSafeKey, Nonce, UnboundKey};

use super::measure::Cpu;
use super::tls::Suite;

/// A short header: flags, an 8-byte connection ID, a 4-byte packet number.
const HEADER: usize = 13;
/// The datagram size both stacks use without path MTU discovery.
pub(crate) const PACKET: usize = 1200;
/// The datagram size both stacks reach with path MTU discovery here
/// (their default upper bound).
pub(crate) const PACKET_PMTUD: usize = 1452;
/// The AEAD tag.
const TAG: usize = 16;

/// Plaintext bytes in a packet of `packet` bytes (what stream data could
/// fill at most).
pub(crate) const fn payload(packet: usize) -> usize {
    packet - HEADER - TAG
}

/// The floor of one suite at one packet size.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Floor {
    pub per_packet: Duration,
    /// Plaintext bytes per packet.
    pub payload: usize,
}

impl Floor {
    /// Plaintext megabytes (10^6) per CPU-second at the floor.
    pub(crate) fn mb_per_cpu_s(&self) -> f64 {
        self.payload as f64 / 1e6 / self.per_packet.as_secs_f64().max(1e-12)
    }
}

fn algorithms(suite: Suite) -> (&'static aead::Algorithm, &'static quic::Algorithm) {
    match suite {
        Suite::Aes128 => (&aead::AES_128_GCM, &quic::AES_128),
        Suite::Aes256 => (&aead::AES_256_GCM, &quic::AES_256),
        Suite::Chacha => (&aead::CHACHA20_POLY1305, &quic::CHACHA20),
    }
}

/// Seals and opens `packets` packets of `size` bytes.
pub(crate) fn floor(suite: Suite, packets: u64, size: usize) -> Result<Floor, String> {
    let payload_len = payload(size);
    let (aead_alg, hp_alg) = algorithms(suite);
    let key_bytes = [0x42u8; 32];
    let key = LessSafeKey::new(
        UnboundKey::new(aead_alg, &key_bytes[..aead_alg.key_len()])
            .map_err(|_| "ring AEAD key".to_string())?,
    );
    let hp = quic::HeaderProtectionKey::new(hp_alg, &key_bytes[..hp_alg.key_len()])
        .map_err(|_| "ring header-protection key".to_string())?;
    let iv = [0x24u8; 12];
    let mut packet = vec![0u8; size];
    for (i, b) in packet.iter_mut().enumerate() {
        *b = i as u8;
    }
    let nonce = |pn: u64| {
        let mut n = iv;
        for (b, p) in n[4..].iter_mut().zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        Nonce::assume_unique_for_key(n)
    };
    let cpu = Cpu::start();
    for pn in 0..packets {
        // Sender: seal, then mask the header with a sample of the ciphertext.
        let (header, body) = packet.split_at_mut(HEADER);
        let (payload, tag_out) = body.split_at_mut(payload_len);
        let tag = key
            .seal_in_place_separate_tag(nonce(pn), Aad::from(&*header), payload)
            .map_err(|_| "seal".to_string())?;
        tag_out.copy_from_slice(tag.as_ref());
        // The sample starts 4 bytes after the packet number's start
        // (RFC 9001 §5.4.2), here right after the header.
        let sample = &packet[HEADER..HEADER + 16];
        black_box(hp.new_mask(sample).map_err(|_| "mask".to_string())?);
        // Receiver: unmask, then open in place.
        black_box(hp.new_mask(sample).map_err(|_| "mask".to_string())?);
        let (header, body) = packet.split_at_mut(HEADER);
        let plain = key
            .open_in_place(nonce(pn), Aad::from(&*header), body)
            .map_err(|_| "open".to_string())?;
        black_box(plain);
    }
    let elapsed = cpu.elapsed();
    Ok(Floor {
        per_packet: elapsed / packets.max(1) as u32,
        payload: payload_len,
    })
}
