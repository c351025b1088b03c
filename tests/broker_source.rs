//! The job's batch source on a real Apache Kafka broker (feature `broker`): records taken in
//! batches from the source's own queue (`kafka/batch.rs`) carry exactly what was produced
//! (topic, partition, offset, key or none, payload, empty payload or none, headers in order),
//! every record of both partitions arrives once and in offset order, and a batch never holds
//! more than asked for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use vigil_pipeline::job::JobConfig;
use vigil_pipeline::kafka::{ensure_topics, Source};
use vigil_tests::{brokers, job_dir, unique};

/// What record `i` of the test is produced with: (partition, key, payload, headers).
type Sent = (i32, Option<String>, Option<Vec<u8>>, Vec<(String, Vec<u8>)>);

fn sent(i: usize) -> Sent {
    let partition = (i % 2) as i32;
    let key = (!i.is_multiple_of(3)).then(|| format!("pump-{i}"));
    let payload = match i % 5 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(format!(r#"{{"asset_id":"pump-{i}","n":{i}}}"#).into_bytes()),
    };
    let headers = (0..i % 3)
        .map(|h| (format!("h{h}"), format!("value {i}.{h}").into_bytes()))
        .collect();
    (partition, key, payload, headers)
}

const RECORDS: usize = 3_000;
const MAX_BATCH: usize = 256;

#[test]
#[cfg_attr(
    not(feature = "broker"),
    ignore = "needs a real Kafka broker: run `bash scripts/test.sh` (starts one and enables feature `broker`)"
)]
fn batch_source_delivers_every_record_once_in_order_with_its_fields() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let brokers = brokers();
    let prefix = unique("source");
    let input = format!("{prefix}.readings");
    rt.block_on(ensure_topics(&brokers, &[(input.as_str(), 2)]))
        .expect("topic");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    for i in 0..RECORDS {
        let (partition, key, payload, headers) = sent(i);
        let mut h = OwnedHeaders::new();
        for (name, value) in &headers {
            h = h.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut rec: BaseRecord<'_, String, Vec<u8>> =
            BaseRecord::to(&input).partition(partition).headers(h);
        if let Some(k) = &key {
            rec = rec.key(k);
        }
        if let Some(p) = &payload {
            rec = rec.payload(p);
        }
        producer.send(rec).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let dir = job_dir(
        "vigil-source",
        &format!(
            r#"
[job]
name = "source"
[kafka]
brokers = "{brokers}"
group_id = "{prefix}-group"
input_topics = ["{input}"]
alert_topic = "{prefix}.alerts"
dead_letter_topic = "{prefix}.dead-letter"
max_batch = {MAX_BATCH}
[fields]
measurements = ["n"]
[window]
kind = "tumbling"
size = "10s"
[features]
sql_file = "pump_features.sql"
[model]
artifact = "none.json"
"#
        ),
    );
    let cfg = JobConfig::load(&dir.join("job.toml")).expect("job file is valid");
    let source = Source::new(&cfg.kafka, None, None).expect("source");
    // (partition, offset) -> what arrived
    let mut got: BTreeMap<(i32, i64), Sent> = BTreeMap::new();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    let mut batches = 0;
    let start = Instant::now();
    while got.len() < RECORDS && start.elapsed() < Duration::from_secs(60) {
        let batch = source.poll_batch(MAX_BATCH, Duration::from_millis(100));
        assert!(batch.len() <= MAX_BATCH, "a batch of {}", batch.len());
        batches += usize::from(!batch.is_empty());
        for r in &batch {
            assert_eq!(r.topic(), input);
            let (p, o) = (r.partition(), r.offset());
            assert!(
                last.get(&p).is_none_or(|&l| o == l + 1),
                "partition {p}: offset {o} after {:?}",
                last.get(&p)
            );
            last.insert(p, o);
            let headers = r
                .headers()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.unwrap_or_default().to_vec()))
                .collect();
            let key = r.key().map(|k| String::from_utf8_lossy(k).into_owned());
            let fields = (p, key, r.payload().map(<[u8]>::to_vec), headers);
            assert!(got.insert((p, o), fields).is_none(), "({p}, {o}) twice");
        }
    }
    assert_eq!(got.len(), RECORDS, "records taken in {batches} batches");
    assert!(
        batches >= RECORDS / MAX_BATCH,
        "{batches} batches for {RECORDS}"
    );
    // each partition's records in production order: record i of partition p is its (i / 2)th
    for i in 0..RECORDS {
        let want = sent(i);
        let at = (want.0, (i / 2) as i64);
        assert_eq!(got.get(&at), Some(&want), "record {i} at {at:?}");
    }
    // nothing more arrives
    assert!(source
        .poll_batch(MAX_BATCH, Duration::from_millis(300))
        .is_empty());
}
