//! The state changelog: a compacted topic holding, per input partition, the latest snapshot of
//! that partition's task (open windows, watermark, deduplication, data-quality, baseline and
//! RUL state). It is written in the same transaction as the outputs and consumed offsets it
//! belongs to, so the snapshot read back always matches the committed offset of its partition.
//!
//! Snapshots are incremental ([`crate::engine::StateDelta`]): the head under key
//! `<input topic>/<partition>` names its segments, each under `<input topic>/<partition>#<name>`
//! and written once; segments no longer named get tombstones, so compaction removes them.
//! Input partition `p` is stored in changelog partition `p mod n` (n = the changelog's
//! partition count), so restoring one input partition reads one changelog partition,
//! `read_committed`, up to its end, keeping the latest value of each of its keys.

use std::time::{Duration, Instant};

use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::client_config;
use super::sink::MAX_CHANGELOG_RECORD;
use crate::PipelineError;

/// The changelog key of an input partition.
pub fn key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// The changelog key of segment `name` of the snapshot stored under `key` (`#` never occurs in
/// a topic name, so segment keys cannot collide with heads).
pub fn segment_key(key: &str, name: &str) -> String {
    format!("{key}#{name}")
}

/// The latest committed snapshot of one input partition: its head, the next input offset it
/// has not seen, and the segments stored with it (by name).
#[derive(Debug, Default)]
pub struct Restored {
    /// The head (or a whole snapshot of an older Vigil).
    pub head: Vec<u8>,
    /// Header `vigil.offset` of the head.
    pub offset: Option<i64>,
    /// Segments under the head's key, by name.
    pub segments: vigil_operators::snapshot::Segments,
}

/// The changelog partition holding input partition `partition`.
pub fn partition_of(partition: i32, changelog_partitions: i32) -> i32 {
    partition.rem_euclid(changelog_partitions.max(1))
}

/// Longest a restore may take before it fails (a broker that does not answer).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(120);

/// Creates the changelog (compacted, `partitions` partitions, records up to the snapshot
/// limit) if it does not exist; returns its partition count.
pub async fn ensure_changelog(
    brokers: &str,
    topic: &str,
    partitions: i32,
) -> Result<i32, PipelineError> {
    let max = (MAX_CHANGELOG_RECORD + 65536).to_string();
    let new = NewTopic::new(topic, partitions.max(1), TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("max.message.bytes", &max);
    super::admin::create_topic(brokers, new).await?;
    partition_count(brokers, topic)
}

/// Partitions of `topic` (at least 1), from the cluster's metadata.
pub fn partition_count(brokers: &str, topic: &str) -> Result<i32, PipelineError> {
    let c: BaseConsumer = client_config(brokers, &Default::default()).create()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let n = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map_or(0, |t| t.partitions().len() as i32);
        if n > 0 {
            return Ok(n);
        }
        if Instant::now() > deadline {
            return Err(PipelineError::Data(format!(
                "topic `{topic}` has no partitions in the cluster's metadata"
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads snapshots back from the changelog.
pub struct ChangelogReader {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
}

impl ChangelogReader {
    /// A reader of `topic` (with `partitions` partitions) that sees committed records only.
    pub fn new(brokers: &str, topic: &str, partitions: i32) -> Result<Self, PipelineError> {
        let mut c = super::consumer_config(brokers, &Default::default());
        c.set("group.id", format!("{topic}.restore"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            // the end of a partition is only known from a fetch that comes back empty (the
            // last offset is a transaction marker, never delivered); the broker holds such a
            // fetch for fetch.wait.max.ms, 500 ms by default, which a restart paid per
            // partition
            .set("fetch.wait.max.ms", "10")
            .set("fetch.max.bytes", (2 * MAX_CHANGELOG_RECORD).to_string())
            .set(
                "max.partition.fetch.bytes",
                (MAX_CHANGELOG_RECORD + 65536).to_string(),
            )
            .set(
                "receive.message.max.bytes",
                (2 * MAX_CHANGELOG_RECORD + 65536).to_string(),
            );
        Ok(ChangelogReader {
            consumer: c.create()?,
            topic: topic.to_string(),
            partitions,
        })
    }

    /// The latest committed snapshot of input partition `topic`/`partition`, if any.
    pub fn restore(&self, topic: &str, partition: i32) -> Result<Option<Restored>, PipelineError> {
        let cp = partition_of(partition, self.partitions);
        let (low, high) =
            self.consumer
                .fetch_watermarks(&self.topic, cp, Duration::from_secs(30))?;
        if high <= low {
            return Ok(None);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, cp, Offset::Beginning)?;
        self.consumer.assign(&tpl)?;
        let want = key(topic, partition);
        let prefix = format!("{want}#");
        let mut latest: Option<Restored> = None;
        let mut segments = vigil_operators::snapshot::Segments::new();
        let deadline = Instant::now() + RESTORE_TIMEOUT;
        let out = loop {
            if Instant::now() > deadline {
                break Err(PipelineError::Data(format!(
                    "restoring {want} from changelog `{}` partition {cp} took over {} s",
                    self.topic,
                    RESTORE_TIMEOUT.as_secs()
                )));
            }
            match self.consumer.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => {
                    let k = m.key().unwrap_or_default();
                    if k == want.as_bytes() {
                        let offset = m.headers().and_then(|h| {
                            h.iter()
                                .find(|x| x.key == super::H_STATE_OFFSET)
                                .and_then(|x| std::str::from_utf8(x.value?).ok()?.parse().ok())
                        });
                        latest = m.payload().map(|p| Restored {
                            head: p.to_vec(),
                            offset,
                            segments: Default::default(),
                        });
                    } else if let Some(name) = k
                        .strip_prefix(prefix.as_bytes())
                        .and_then(|n| std::str::from_utf8(n).ok())
                    {
                        match m.payload() {
                            Some(p) => segments.insert(name.to_string(), p.to_vec()),
                            None => segments.remove(name),
                        };
                    }
                    if m.offset() + 1 >= high {
                        break Ok(latest);
                    }
                }
                // end of the committed records (read_committed stops at the stable offset)
                Some(Err(KafkaError::PartitionEOF(_))) => break Ok(latest),
                Some(Err(e)) => tracing::warn!(error = %e, "changelog restore: consumer error"),
                None => {}
            }
        };
        self.consumer.unassign()?;
        out.map(|o| {
            o.map(|mut r| {
                r.segments = segments;
                r
            })
        })
    }
}
