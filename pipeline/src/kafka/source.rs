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
//!
//! Records are taken in batches from a queue of the source's own ([`RecordQueue`]): each
//! partition is routed there just before it is assigned. The consumer's own queue keeps the
//! rebalances, commit results and client errors, and is served between batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use tracing::warn;

use super::batch::{Record, RecordQueue};
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
    /// Where assigned partitions are routed; taken away before the source's queue is dropped.
    records: Mutex<Option<Arc<RecordQueue>>>,
}

/// The longest a wait for records goes without serving the consumer's own queue.
const EVENT_WAIT: Duration = Duration::from_millis(50);

impl ClientContext for SourceContext {}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                if let Some(h) = &self.hook {
                    h.revoking(consumer, &pairs(tpl));
                }
            }
            Rebalance::Assign(tpl) => {
                // before the assignment, so librdkafka starts fetching into the route; a
                // partition that cannot be routed is polled from the consumer's queue instead
                let records = self.records.lock().map(|r| r.clone()).ok().flatten();
                if let Some(q) = records {
                    for e in tpl.elements() {
                        if !q.route(consumer.client(), e.topic(), e.partition()) {
                            warn!(
                                topic = e.topic(),
                                partition = e.partition(),
                                "partition not routed to the batch queue"
                            );
                        }
                    }
                }
            }
            Rebalance::Error(_) => {}
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
    // dropped before the consumer: librdkafka wants its queues destroyed before the client
    records: Arc<RecordQueue>,
    consumer: BaseConsumer<SourceContext>,
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Ok(mut r) = self.consumer.context().records.lock() {
            r.take();
        }
    }
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
            records: Mutex::new(None),
        };
        let consumer: BaseConsumer<SourceContext> = c.create_with_context(ctx)?;
        let records = RecordQueue::new(consumer.client())
            .map(Arc::new)
            .ok_or_else(|| PipelineError::Data("librdkafka made no record queue".into()))?;
        if let Ok(mut r) = consumer.context().records.lock() {
            *r = Some(records.clone());
        }
        let topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Source { records, consumer })
    }

    /// The rebalance counter: it changes whenever partitions were revoked or assigned.
    pub fn epoch(&self) -> u64 {
        self.consumer.context().epoch.load(Ordering::SeqCst)
    }

    /// The underlying consumer (group metadata, commits).
    pub fn consumer(&self) -> &BaseConsumer<SourceContext> {
        &self.consumer
    }

    /// Polls up to `max` records, waiting at most `timeout` for the first one. Records polled
    /// before a revocation are dropped (see the module doc). Transient client errors are
    /// logged and skipped; they never end the job.
    pub fn poll_batch(&self, max: usize, timeout: Duration) -> Vec<Record<'_>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(max.min(1 << 16));
        let mut epoch = self.epoch();
        loop {
            self.serve(&mut out, &mut epoch);
            if out.len() >= max {
                break;
            }
            if out.is_empty() {
                // wait for the first record only, then take what is there
                let left = deadline.saturating_duration_since(Instant::now());
                self.take(1, left.min(EVENT_WAIT), &mut out);
            }
            if !out.is_empty() {
                self.take(max - out.len(), Duration::ZERO, &mut out);
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        out
    }

    fn take<'c>(&'c self, max: usize, wait: Duration, out: &mut Vec<Record<'c>>) {
        for e in self.records.take(max, wait, out) {
            warn!(error = %e, "consumer error");
        }
    }

    /// Serves the consumer's own queue: rebalances (dropping what `out` holds at a change of
    /// `epoch`), commit results, errors, and records of partitions that are not routed.
    fn serve<'c>(&'c self, out: &mut Vec<Record<'c>>, epoch: &mut u64) {
        loop {
            let polled = self.consumer.poll(Duration::ZERO);
            let now = self.epoch();
            if now != *epoch {
                out.clear();
                *epoch = now;
            }
            match polled {
                Some(Ok(m)) => out.extend(Record::polled(m)),
                Some(Err(e)) => warn!(error = %e, "consumer error"),
                None => break,
            }
        }
    }

    /// The partitions currently assigned to this member, or `None` if the client cannot tell.
    pub fn assignment(&self) -> Option<Vec<(String, i32)>> {
        Some(pairs(&self.consumer.assignment().ok()?))
    }
}
