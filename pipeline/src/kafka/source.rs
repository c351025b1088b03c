//! The input side: a consumer-group member that polls records in batches and reports
//! rebalances to the job.
//!
//! Offsets are never committed automatically: the job commits them itself, inside its output
//! transaction (exactly-once) or after its outputs were flushed (at-least-once), so a crash
//! replays records rather than losing them. Input is read `read_committed`. A rebalance is
//! handed to a [`RebalanceHook`] before partitions are revoked (so the job can commit their
//! work and state), and every record collected before a revocation is dropped from the batch
//! being polled: it lies past the committed offsets and will be read again by the partition's
//! next owner.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, TopicPartitionList};
use tracing::warn;

use super::consumer_config;
use crate::job::KafkaSettings;
use crate::PipelineError;

/// Called on the polling thread, inside `poll`, just before partitions are revoked.
pub trait RebalanceHook: Send + Sync {
    /// `revoked`: (topic, partition) pairs about to be taken away.
    fn revoking(&self, consumer: &BaseConsumer<SourceContext>, revoked: &[(String, i32)]);
}

/// The consumer's context: counts rebalances and forwards revocations.
pub struct SourceContext {
    epoch: AtomicU64,
    hook: Option<Arc<dyn RebalanceHook>>,
}

impl ClientContext for SourceContext {}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            if let Some(h) = &self.hook {
                h.revoking(consumer, &pairs(tpl));
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn pairs(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// A batch-polling Kafka consumer.
pub struct Source {
    consumer: BaseConsumer<SourceContext>,
}

impl Source {
    /// Joins the job's consumer group (statically, as `instance`, when given) and subscribes
    /// to its input topics.
    pub fn new(
        k: &KafkaSettings,
        instance: Option<&str>,
        hook: Option<Arc<dyn RebalanceHook>>,
    ) -> Result<Self, PipelineError> {
        let mut c = consumer_config(&k.brokers, &Default::default());
        c.set("group.id", &k.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "50")
            .set("queued.min.messages", "20000");
        if let Some(id) = instance {
            c.set("group.instance.id", id);
        }
        for (key, v) in &k.properties {
            c.set(key, v);
        }
        let ctx = SourceContext {
            epoch: AtomicU64::new(0),
            hook,
        };
        let consumer: BaseConsumer<SourceContext> = c.create_with_context(ctx)?;
        let topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Source { consumer })
    }

    /// The rebalance counter: it changes whenever partitions were revoked or assigned.
    pub fn epoch(&self) -> u64 {
        self.consumer.context().epoch.load(Ordering::SeqCst)
    }

    /// The underlying consumer (group metadata, commits).
    pub fn consumer(&self) -> &BaseConsumer<SourceContext> {
        &self.consumer
    }

    /// Polls up to `max` records, waiting at most `timeout` for the batch to fill. Records
    /// polled before a revocation are dropped (see the module doc). Transient client errors
    /// are logged and skipped; they never end the job.
    pub fn poll_batch(&self, max: usize, timeout: Duration) -> Vec<BorrowedMessage<'_>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(max.min(1 << 16));
        let mut epoch = self.epoch();
        while out.len() < max {
            // the clock is read only while waiting for the first record, not once per record
            let left = if out.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            let polled = self.consumer.poll(left);
            let now = self.epoch();
            if now != epoch {
                out.clear();
                epoch = now;
            }
            match polled {
                Some(Ok(m)) => out.push(m),
                Some(Err(e)) => warn!(error = %e, "consumer error"),
                None if out.is_empty() && !left.is_zero() => continue,
                None => break,
            }
        }
        out
    }

    /// The partitions currently assigned to this member, or `None` if the client cannot tell.
    pub fn assignment(&self) -> Option<Vec<(String, i32)>> {
        Some(pairs(&self.consumer.assignment().ok()?))
    }
}
