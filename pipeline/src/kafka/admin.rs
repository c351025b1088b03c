//! Topic creation for jobs, the demo and tests.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
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
    for res in admin.create_topics(&new, &opts).await? {
        match res {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(PipelineError::Data(format!(
                    "could not create topic `{topic}`: {code}"
                )));
            }
        }
    }
    Ok(())
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
    for res in admin.create_topics(&[new], &opts).await? {
        match res {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(PipelineError::Data(format!(
                    "could not create topic `{topic}`: {code}"
                )))
            }
        }
    }
    Ok(())
}
