//! Runs `perf-compare --quick` once, to prove the harness works: every
//! transfer of both stacks arrives complete and intact (the binary checks
//! each byte against the pattern and fails otherwise), and the last line
//! carries every key of the report. Nothing here asserts on speed.

use std::collections::HashMap;
use std::process::Command;

/// The keys the issue asks for, plus quinn-proto's equivalents of the
/// absolute figures.
const KEYS: &[&str] = &[
    "bulk_aes128_ratio",
    "bulk_aes256_ratio",
    "bulk_chacha_ratio",
    "handshake_ratio",
    "idle_conn_bytes_server",
    "idle_conn_bytes_server_quinn",
    "idle_conn_bytes_both",
    "idle_conn_bytes_both_quinn",
    "allocs_per_datagram",
    "allocs_per_datagram_quinn",
    "floor_fraction_aes128",
    "floor_fraction_aes128_quinn",
    "scale_cost_100k_over_1k",
    "scale_cost_100k_over_1k_quinn",
    "handshake_datagrams_client",
    "handshake_datagrams_server",
    "handshake_datagrams_client_quinn",
    "handshake_datagrams_server_quinn",
];

#[test]
fn quick_run_completes_and_reports_every_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_perf-compare"))
        .arg("--quick")
        .output()
        .expect("run perf-compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "perf-compare --quick failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let last = stdout.lines().last().expect("some output");
    let pairs: HashMap<&str, f64> = last
        .split(' ')
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {pair:?} in {last:?}"));
            let v: f64 = v
                .parse()
                .unwrap_or_else(|_| panic!("{k}: not a number: {v:?}"));
            assert!(v.is_finite(), "{k} = {v}");
            (k, v)
        })
        .collect();
    for key in KEYS {
        assert!(pairs.contains_key(key), "missing {key} in {last:?}");
    }
    // The counting allocator is installed: an idle connection holds some heap.
    assert!(pairs["idle_conn_bytes_server"] > 0.0, "{last}");
    assert!(pairs["idle_conn_bytes_server_quinn"] > 0.0, "{last}");
    // Every handshake sends datagrams both ways.
    assert!(pairs["handshake_datagrams_client"] >= 1.0, "{last}");
    assert!(pairs["handshake_datagrams_server"] >= 1.0, "{last}");
}
