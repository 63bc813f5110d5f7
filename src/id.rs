//! Fresh ids for runs and conversations, sortable by time. Base layer, so the call convention
//! (a conversation's id) and the run log (a run's id) share one format without importing each
//! other.

/// A fresh run id: a UUID v7 as 32 hex digits. Its first 12 are the start time in
/// milliseconds, as in the 20-digit ids of older logs (the time, then 32 random bits), so old
/// and new ids sort together by time; within a process, ids of one millisecond still sort in
/// the order they were made (the UUID's counter).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    #[test]
    fn ids_are_hex_led_by_the_time_and_sort_after_older_ids() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let ids: Vec<String> = (0..100).map(|_| new_run_id()).collect();
        let a = &ids[0];
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert!(u128::from_str_radix(&a[..12], 16).unwrap() >= before);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        // An id of an older log, made a millisecond earlier: time, then 32 random bits.
        let old = format!("{:012x}{:08x}", before - 1, u32::MAX);
        assert!(old < *a, "{old} then {a}");
    }
}
