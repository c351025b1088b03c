//! Reading a one-partition topic as a log from its beginning, without a consumer group: what
//! the model registry and the alert control topic have in common (every instance and command
//! must see every record).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::PipelineError;

/// A consumer assigned to partition 0 of `topic` from the beginning (`group` only names it;
/// nothing is committed).
pub fn reader(brokers: &str, topic: &str, group: &str) -> Result<BaseConsumer, PipelineError> {
    let mut c = super::consumer_config(brokers, &Default::default());
    c.set("enable.auto.commit", "false").set("group.id", group);
    let consumer: BaseConsumer = c.create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Calls `f` for every record available now (never blocks); returns how many.
pub fn poll_now(consumer: &BaseConsumer, mut f: impl FnMut(&BorrowedMessage<'_>)) -> usize {
    let mut n = 0;
    while let Some(Ok(m)) = consumer.poll(Duration::ZERO) {
        f(&m);
        n += 1;
    }
    n
}

/// Calls `f` for every record up to the end of the topic as it is now, waiting at most
/// `limit`; returns how many were read.
pub fn read_to_end(
    consumer: &BaseConsumer,
    topic: &str,
    limit: Duration,
    mut f: impl FnMut(&BorrowedMessage<'_>),
) -> Result<usize, PipelineError> {
    let (_, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(10))?;
    let start = Instant::now();
    let (mut seen, mut n) = (0i64, 0);
    while seen < high && start.elapsed() < limit {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            f(&m);
            seen = m.offset() + 1;
            n += 1;
        }
    }
    Ok(n)
}
