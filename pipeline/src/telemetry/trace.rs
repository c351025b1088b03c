//! W3C trace context (`traceparent`) on Kafka records.
//!
//! Input readings may carry a `traceparent` header; the batch span of the records that carried
//! one is its child (and links to the other distinct contexts of the batch), and each window
//! span is a child of the batch span that closed it. An alert carries the context of its window
//! span, in its `traceparent` field and header, so it leads back to the run and the readings
//! that produced it. Without an exporter there are no local spans: the alert then carries the
//! context of the input that closed its window, unchanged.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::kafka::Record;

/// The header name.
pub const TRACEPARENT: &str = "traceparent";

/// Most span links one batch span records.
pub const MAX_LINKS: usize = 16;

struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }
    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

/// The span context of a `traceparent` value, if it is a valid one.
pub fn parse(traceparent: &str) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&One(traceparent.trim()));
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// The `traceparent` value of a span context (`00-<trace id>-<span id>-<flags>`).
pub fn render(sc: &SpanContext) -> Option<String> {
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// The `traceparent` of an OpenTelemetry context, if it has a valid span.
pub fn of_context(cx: &Context) -> Option<String> {
    render(cx.span().span_context())
}

/// Most records of one batch whose headers are looked at for a `traceparent`. A producer that
/// traces puts the header on every record, so the head of a batch finds it; and librdkafka
/// builds and frees a parser for every record's header block, even an empty one, which cost a
/// twentieth of the job thread when all of a 20 k-record batch was scanned.
pub const MAX_SCANNED: usize = 256;

/// The distinct valid trace contexts of the first [`MAX_SCANNED`] records of a batch, in record
/// order (at most `max`).
pub fn of_records(msgs: &[&Record<'_>], max: usize) -> Vec<SpanContext> {
    let mut out: Vec<SpanContext> = Vec::new();
    for m in msgs.iter().take(MAX_SCANNED) {
        for (key, value) in m.headers() {
            if !key.eq_ignore_ascii_case(TRACEPARENT) {
                continue;
            }
            let Some(sc) = value
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(parse)
            else {
                continue;
            };
            if !out.iter().any(|o| o.span_id() == sc.span_id()) {
                out.push(sc);
                if out.len() >= max {
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_w3c_traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse(tp).expect("valid");
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled());
        assert_eq!(render(&sc).as_deref(), Some(tp));
        assert!(parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(parse("not a traceparent").is_none());
        assert!(parse("").is_none());
        assert_eq!(of_context(&Context::new()), None);
    }
}
