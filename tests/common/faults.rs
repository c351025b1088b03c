//! The fault-injection scenario's input and job, shared by the real-broker fault tests and
//! the batching-independence test.

/// Event time of the first reading (2026-01-01T00:00:00Z).
pub const T0: i64 = 1_767_225_600_000;
/// Pumps (assets).
pub const PUMPS: usize = 6;
/// Readings per pump, one a second.
pub const SECONDS: i64 = 1500;

/// The readings of pump `p` (partition `p % 2`), in event-time order.
pub fn readings(p: usize) -> Vec<String> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (p as u64 + 1);
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 1000) as f64 / 1000.0 - 0.5
    };
    (0..SECONDS)
        .map(|s| {
            let spike = (s / 150) % 3 == (p % 3) as i64 && (100..130).contains(&(s % 150));
            let temp = 20.0 + 2.0 * (s as f64 / 60.0).sin() + 0.6 * noise() + if spike { 8.0 } else { 0.0 };
            let stuck = p % 2 == 0 && (200..260).contains(&(s % 300));
            let vib = if stuck { 0.7 } else { 0.5 + 0.1 * noise() };
            format!(
                r#"{{"asset_id":"pump-{p}","ts":{},"measurements":{{"temp":{temp:.4},"vib":{vib:.4}}}}}"#,
                T0 + s * 1000
            )
        })
        .collect()
}

/// The fault-injection job (`delivery` is `exactly-once` or `at-least-once`).
pub fn job_toml(prefix: &str, input: &str, alerts: &str, delivery: &str) -> String {
    format!(
        r#"
[job]
name = "faults"
[kafka]
brokers = "unused:9092"
group_id = "{prefix}-group"
input_topics = ["{input}"]
alert_topic = "{alerts}"
dead_letter_topic = "{prefix}.dead-letter"
late_topic = "{prefix}.late"
max_batch = 200
batch_timeout = "50ms"
delivery = "{delivery}"
commit_interval = "100ms"
properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "1000", "transaction.timeout.ms" = "10000" }}
[fields]
measurements = ["temp", "vib"]
[window]
kind = "tumbling"
size = "10s"
idle_timeout = "off"
[quality]
stuck_windows = 3
[[baselines]]
feature = "temp_mean"
method = "ewma"
warmup = 5
alpha = 0.1
limit = 4.0
[[baselines]]
feature = "vib_mean"
method = "cusum"
warmup = 5
k = 0.5
h = 4.0
[features]
sql_file = "features.sql"
[model]
artifact = "none.json"
"#
    )
}

/// The job's feature SQL.
pub const SQL: &str =
    "SELECT asset_id, count(*) AS n, avg(temp) AS temp_mean, avg(vib) AS vib_mean \
                   FROM readings GROUP BY asset_id";

/// The records of input partition `part` (pumps `p` with `p % 2 == part`) as (key, payload), in
/// the order they are written: interleaved by event time, except that every 50th reading of a
/// pump is held back 15 s, so some readings arrive after their window closed (late).
pub fn partition_stream(part: usize) -> Vec<(String, String)> {
    let pumps: Vec<usize> = (0..PUMPS).filter(|p| p % 2 == part).collect();
    let all: Vec<Vec<String>> = pumps.iter().map(|p| readings(*p)).collect();
    let mut out = Vec::new();
    let mut held: Vec<(i64, String, String)> = Vec::new();
    for s in 0..SECONDS {
        for (i, p) in pumps.iter().enumerate() {
            let key = format!("pump-{p}");
            let r = all[i][s as usize].clone();
            if s % 50 == 7 {
                held.push((s + 15, key, r));
            } else {
                out.push((key, r));
            }
        }
        let (due, keep): (Vec<_>, Vec<_>) = held.into_iter().partition(|(at, _, _)| *at <= s);
        held = keep;
        out.extend(due.into_iter().map(|(_, k, r)| (k, r)));
    }
    out.extend(held.into_iter().map(|(_, k, r)| (k, r)));
    out
}
