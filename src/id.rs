//! Fresh ids for runs and conversations: the start time and random bits, sortable by time.
//! Base layer, so the call convention (a conversation's id) and the run log (a run's id) share
//! one format without importing each other.

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh run id: the start time in milliseconds (12 hex digits) and 32 random bits (8 hex
/// digits), sortable by time.
pub fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Random bits from std's per-process random hash keys (seeded by the OS), not `rand`:
    // its generator probes CPU features on first use, a trap to the hypervisor on a VM that
    // cost a short run 40 µs.
    let bits = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), now.as_nanos());
    format!("{:012x}{:08x}", now.as_millis(), bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_twenty_hex_digits_led_by_the_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let (a, b) = (new_run_id(), new_run_id());
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert!(u128::from_str_radix(&a[..12], 16).unwrap() >= before);
        assert!(a[..12] <= b[..12], "{a} then {b}");
        assert_ne!(a, b);
    }
}
