//! The run log's times and run ids as the binary writes and reads them (issue 32's crate
//! swaps: `jiff` for times, UUID v7 for ids): a window bound keeps its milliseconds, new ids are
//! 32 hex digits led by their start time, and a log holding ids of the older 20-digit form
//! still lists and finds them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::log_query::{db, inputs, project};

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[test]
fn a_window_bound_keeps_its_milliseconds() {
    let t = project();
    for (who, time) in [
        ("Ada", "2026-12-01T09:30:00.100Z"),
        ("Grace", "2026-12-01T09:30:00.400Z"),
    ] {
        t.run_with(&["run", "greeter", who]).status(0);
        db(&t)
            .execute(
                "UPDATE calls SET time = ?1 WHERE time > '2026-12-02'",
                [time],
            )
            .unwrap();
    }
    assert_eq!(
        inputs(&t, &["--since", "2026-12-01T09:30:00.250Z"]),
        ["Grace"]
    );
    assert_eq!(
        inputs(&t, &["--until", "2026-12-01T10:30:00.250+01:00"]),
        ["Ada"]
    );
    let out = t.run_with(&["stats", "--json", "--since", "2026-12-01 09:30:00.25Z"]);
    out.status(0);
    assert_eq!(
        out.json()["window"]["since"],
        Value::from("2026-12-01T09:30:00.250Z")
    );
}

#[test]
fn run_ids_are_uuid_v7_and_old_ids_still_list_and_match() {
    let t = project();
    let before = now_ms();
    t.run_with(&["run", "greeter", "Ada"]).status(0);
    let after = now_ms();
    // A run of a log written before: a 20-digit id (the start time, then 32 random bits),
    // a minute older than the new run.
    let old = format!("{:012x}{:08x}", before - 60_000, 0xabcd_1234u32);
    db(&t)
        .execute_batch(&format!(
            "CREATE TEMP TABLE c AS SELECT * FROM calls;
             UPDATE c SET run = '{old}', input = '{{\"input\": \"Old Grace\"}}';
             INSERT INTO calls SELECT * FROM c;
             INSERT INTO runs SELECT '{old}', strftime('%Y-%m-%dT%H:%M:%fZ', started, '-1 minute'),
                 ended, command, status, calls_dropped FROM runs;"
        ))
        .unwrap();
    let out = t.run_with(&["logs", "--runs", "--json"]);
    out.status(0);
    let ids: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[1], old, "newest first");
    let new = &ids[0];
    assert_eq!(new.len(), 32, "{new}");
    assert!(
        new.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{new}"
    );
    assert_eq!(&new[12..13], "7", "UUID version 7: {new}");
    let started = u128::from_str_radix(&new[..12], 16).unwrap();
    assert!((before..=after).contains(&started), "{new}");
    // Sorted as text, the old id comes first, as its start does.
    assert!(old < *new);
    // `--run` takes a prefix or a suffix of either form.
    assert_eq!(inputs(&t, &["--run", &old[..14]]), ["Old Grace"]);
    assert_eq!(inputs(&t, &["--run", &old[12..]]), ["Old Grace"]);
    assert_eq!(inputs(&t, &["--run", &new[20..]]), ["Ada"]);
}
