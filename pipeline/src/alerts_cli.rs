//! `vigil alerts`: reading the alert topic for people and scripts (`tail`), and writing the
//! control records that acknowledge and silence alerts (`ack`, `silence`, `unsilence`).
//!
//! The filter and the readable rendering are pure; [`tail`] is the Kafka edge.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use vigil_schemas::{Alert, AlertState, Severity};

use crate::alerting::glob_match;
use crate::PipelineError;

/// Which alert records to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Asset id or glob (`pump-*`).
    pub asset: Option<String>,
    /// Lowest severity shown (records without one count as warning).
    pub severity: Option<Severity>,
    /// Only records in this state.
    pub state: Option<AlertState>,
    /// Only this kind (`anomaly`, `rul`, `data_quality`).
    pub kind: Option<String>,
    /// Hide silenced records.
    pub hide_silenced: bool,
}

impl Filter {
    /// True when `a` passes.
    pub fn matches(&self, a: &Alert) -> bool {
        self.asset
            .as_deref()
            .is_none_or(|p| glob_match(p, &a.asset_id))
            && self
                .severity
                .is_none_or(|s| a.severity.unwrap_or(Severity::Warning) >= s)
            && self.state.is_none_or(|s| a.state == Some(s))
            && self.kind.as_deref().is_none_or(|k| a.kind.as_str() == k)
            && !(self.hide_silenced && a.silence.is_some())
    }
}

/// `YYYY-MM-DD HH:MM:SS` UTC of epoch milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Two readable lines for a person: what, where, how bad, who is on it; then why.
pub fn render(a: &Alert) -> String {
    let sev = a.severity.map_or("-", Severity::as_str).to_uppercase();
    let state = a.state.map_or("alert", AlertState::as_str).to_uppercase();
    let model = a
        .model
        .as_ref()
        .map(|m| format!("  model {} v{}", m.name, m.version))
        .unwrap_or_default();
    let rul = a.rul.map(|r| format!("  RUL {r:.1}")).unwrap_or_default();
    let mut line = format!(
        "{}  {sev:<8} {state:<8} {:<12} {:<12} score {:.3} / {:.3} ({:.1}x){rul}{model}  id {}",
        utc(a.window_end),
        a.asset_id,
        a.kind.as_str(),
        a.score,
        a.threshold,
        crate::alerting::ratio(a),
        a.alert_id
    );
    if let Some(k) = &a.ack {
        line.push_str(&format!("  [acked by {}: {}]", k.by, k.note));
    }
    if let Some(s) = &a.silence {
        line.push_str(&format!(
            "  [SILENCED until {} by {}: {}]",
            utc(s.until),
            s.by,
            s.note
        ));
    }
    let why: Vec<String> = match &a.quality {
        Some(q) => vec![format!("{} on {}", q.name(), q.measurement())],
        None => a
            .top_features
            .iter()
            .map(|c| {
                let z = c.z.map(|z| format!(", z {z:.1}")).unwrap_or_default();
                format!(
                    "{} = {:.3} (normal {:.3}..{:.3}{z}, {:.0}%)",
                    c.feature,
                    c.value,
                    c.normal_low,
                    c.normal_high,
                    c.share * 100.0
                )
            })
            .collect(),
    };
    if !why.is_empty() {
        line.push_str("\n    ");
        line.push_str(&why.join("; "));
    }
    line
}

/// Where `tail` starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// The first record.
    Beginning,
    /// This many records before the end of each partition.
    Last(i64),
}

/// What `tail` reads.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Where it starts.
    pub start: Start,
    /// Keep following (until `stop`), or return at the end of the topic.
    pub follow: bool,
    /// Which records are shown.
    pub filter: Filter,
}

/// Reads the alert topic (committed records only), calling `out` for each alert that passes
/// the filter (records that are not alerts are reported through `bad`); returns how many were
/// shown.
pub fn tail(
    brokers: &str,
    topic: &str,
    opts: &TailOptions,
    mut out: impl FnMut(&Alert),
    mut bad: impl FnMut(i32, i64, &str),
    stop: impl Fn() -> bool,
) -> Result<usize, PipelineError> {
    let mut c = crate::kafka::consumer_config(brokers, &Default::default());
    c.set("enable.auto.commit", "false")
        .set("group.id", "vigil-alerts-tail")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = c.create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if parts.is_empty() {
        return Err(PipelineError::Data(format!("topic {topic} does not exist")));
    }
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in &parts {
        let (low, high) = consumer.fetch_watermarks(topic, *p, Duration::from_secs(10))?;
        let from = match opts.start {
            Start::Beginning => low,
            Start::Last(n) => (high - n).max(low),
        };
        tpl.add_partition_offset(topic, *p, Offset::Offset(from))?;
        ends.push((*p, high));
    }
    consumer.assign(&tpl)?;
    let mut shown = 0;
    let mut idle_since = Instant::now();
    while !stop() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                idle_since = Instant::now();
                match m.payload().map(serde_json::from_slice::<Alert>) {
                    Some(Ok(a)) => {
                        if opts.filter.matches(&a) {
                            out(&a);
                            shown += 1;
                        }
                    }
                    Some(Err(e)) => bad(m.partition(), m.offset(), &e.to_string()),
                    None => bad(m.partition(), m.offset(), "empty record"),
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None if !opts.follow => {
                // the end: every partition's position at its high watermark (transaction
                // markers take offsets too), or nothing new for a while
                let at_end = consumer.position().is_ok_and(|tp| {
                    ends.iter().all(|(p, high)| {
                        tp.find_partition(topic, *p)
                            .and_then(|e| e.offset().to_raw())
                            .is_some_and(|o| o >= *high)
                    })
                });
                if at_end || idle_since.elapsed() > Duration::from_secs(5) {
                    break;
                }
            }
            None => {}
        }
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> Alert {
        let p = crate::crate_dir()
            .join("../schemas/json/examples")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn utc_renders_epoch_ms() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_764_126_060_000), "2025-11-26 03:01:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn filters_by_asset_glob_severity_state_kind_and_silence() {
        let open = example("alert-anomaly-open.json");
        let upd = example("alert-anomaly-update-acked-silenced.json");
        let dq = example("alert-data-quality.json");
        let f = Filter {
            asset: Some("pump-0*".into()),
            ..Filter::default()
        };
        assert!(f.matches(&open) && f.matches(&dq));
        let f = Filter {
            severity: Some(Severity::Critical),
            ..Filter::default()
        };
        assert!(f.matches(&open) && !f.matches(&upd) && !f.matches(&dq));
        let f = Filter {
            state: Some(AlertState::Update),
            ..Filter::default()
        };
        assert!(!f.matches(&open) && f.matches(&upd));
        let f = Filter {
            kind: Some("data_quality".into()),
            ..Filter::default()
        };
        assert!(f.matches(&dq) && !f.matches(&open));
        let f = Filter {
            hide_silenced: true,
            ..Filter::default()
        };
        assert!(f.matches(&open) && !f.matches(&upd));
    }

    #[test]
    fn readable_lines_name_asset_state_ack_silence_and_explanation() {
        let r = render(&example("alert-anomaly-update-acked-silenced.json"));
        assert!(
            r.starts_with("2025-11-26 03:06:00  WARNING  UPDATE   pump-007"),
            "{r}"
        );
        assert!(r.contains("[acked by ana: bearing ordered"), "{r}");
        assert!(
            r.contains("[SILENCED until 2025-11-26 05:00:00 by ana: MO-4711"),
            "{r}"
        );
        assert!(
            r.contains("\n    vib_rms_mean = 3.900 (normal 1.200..2.900, z 4.9, 70%)"),
            "{r}"
        );
        let r = render(&example("alert-data-quality.json"));
        assert!(r.contains("silent_sensor on flow"), "{r}");
    }
}
