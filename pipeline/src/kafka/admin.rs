//! Topic creation for jobs, the demo and tests; deletion of a bench run's topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::client_config;
use crate::PipelineError;

/// Creates the topics that do not exist yet (`(name, partitions)`); existing ones are kept.
pub async fn ensure_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), PipelineError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, &Default::default()).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let done = admin.create_topics(&new, &opts).await?;
    all_done(done, RDKafkaErrorCode::TopicAlreadyExists, "create")
}

/// Creates a one-partition compacted topic (the model registry) if it does not exist.
pub async fn ensure_compacted_topic(brokers: &str, topic: &str) -> Result<(), PipelineError> {
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    create_topic(brokers, new).await
}

/// Creates `new` unless a topic of that name exists.
pub(super) async fn create_topic(brokers: &str, new: NewTopic<'_>) -> Result<(), PipelineError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, &Default::default()).create()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let done = admin.create_topics(&[new], &opts).await?;
    all_done(done, RDKafkaErrorCode::TopicAlreadyExists, "create")
}

/// Deletes a job's input and output topics (a bench level's, once measured: at 500 k
/// readings/s each level writes gigabytes the broker would otherwise keep). Topics that do
/// not exist are skipped.
pub async fn delete_job_topics(k: &crate::job::KafkaSettings) -> Result<(), PipelineError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&k.brokers, &Default::default()).create()?;
    let mut names: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    names.extend([
        k.alert_topic.as_str(),
        k.dead_letter_topic.as_str(),
        k.late_topic.as_str(),
        k.shadow_topic.as_str(),
        k.control_topic.as_str(),
        k.changelog_topic.as_str(),
    ]);
    names.extend(k.features_topic.as_deref());
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let done = admin.delete_topics(&names, &opts).await?;
    all_done(done, RDKafkaErrorCode::UnknownTopicOrPartition, "delete")
}

/// Deletes every topic whose name starts with one of `prefixes`; returns the names deleted.
/// A bench run's topics (its readings, the job's outputs and changelog, a peer's internal
/// topics) all start with the run's topic name: deleting them keeps repeated runs from filling
/// the broker's disk with gigabytes per run.
pub async fn delete_topics_with_prefix(
    brokers: &str,
    prefixes: &[&str],
) -> Result<Vec<String>, PipelineError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(brokers, &Default::default()).create()?;
    let meta = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(20))?;
    let names: Vec<String> = meta
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| prefixes.iter().any(|p| !p.is_empty() && n.starts_with(p)))
        .collect();
    if names.is_empty() {
        return Ok(names);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let done = admin.delete_topics(&refs, &opts).await?;
    all_done(done, RDKafkaErrorCode::UnknownTopicOrPartition, "delete")?;
    Ok(names)
}

/// The first topic operation that failed for another reason than `fine` (the topic already
/// there, or already gone), as an error.
fn all_done(
    results: Vec<TopicResult>,
    fine: RDKafkaErrorCode,
    verb: &str,
) -> Result<(), PipelineError> {
    for res in results {
        match res {
            Err((topic, code)) if code != fine => {
                return Err(PipelineError::Data(format!(
                    "could not {verb} topic `{topic}`: {code}"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}
