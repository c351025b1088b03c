//! Kafka IO at the edges of the job: batch polling, producing alerts and dead letters, topics.
//!
//! Owns every rdkafka client the job creates and their configuration. Nothing here decides
//! anything about readings: it moves bytes and Kafka coordinates in and out in batches.

mod admin;
mod batch;
pub mod changelog;
pub mod control;
mod log;
pub mod registry;
mod sink;
mod source;

use std::collections::BTreeMap;

pub use admin::{
    delete_job_topics, delete_topics_with_prefix, ensure_compacted_topic, ensure_topics,
};
pub use batch::{Record, RecordQueue};
use rdkafka::ClientConfig;
pub use sink::{DeadLetterRecord, Sink};
pub use source::{RebalanceHook, Source, SourceContext};

/// Dead-letter header: reason code (e.g. `malformed_json`).
pub const H_REASON: &str = "vigil.reason";
/// Dead-letter header: human-readable detail.
pub const H_DETAIL: &str = "vigil.detail";
/// Dead-letter header: source topic.
pub const H_TOPIC: &str = "vigil.source.topic";
/// Dead-letter header: source partition.
pub const H_PARTITION: &str = "vigil.source.partition";
/// Dead-letter header: source offset.
pub const H_OFFSET: &str = "vigil.source.offset";

/// Changelog header: the next input offset the snapshot has not seen.
pub const H_STATE_OFFSET: &str = "vigil.offset";

/// Base consumer configuration: [`client_config`] plus fetch settings every Vigil consumer
/// shares. librdkafka stops fetching a partition once its local queue holds
/// `queued.min.messages` and then waits `fetch.queue.backoff.ms` (1 s by default) before it
/// looks again, however soon the application drains the queue: a consumer that processes a
/// batch while the next one arrives read ~30 k records and then idled ~0.8 s, over and over
/// (the job spent 80 % of a catch-up run waiting in poll). Looking again after 5 ms keeps the
/// queue topped up.
pub fn consumer_config(brokers: &str, extra: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = client_config(brokers, &BTreeMap::new());
    c.set("fetch.queue.backoff.ms", "5");
    for (k, v) in extra {
        c.set(k, v);
    }
    c
}

/// Base client configuration: brokers plus the job's extra properties.
pub fn client_config(brokers: &str, extra: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    c.set("log_level", "3");
    for (k, v) in extra {
        c.set(k, v);
    }
    c
}
