//! The classes of bad input, each a dead-letter reason and a metric label.

use std::fmt;

/// Why a payload was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The record had no value or an empty one.
    EmptyPayload,
    /// The payload is longer than the configured limit.
    Oversized,
    /// The payload is not valid UTF-8.
    InvalidUtf8,
    /// The payload ends in the middle of a JSON value.
    Truncated,
    /// The payload is not valid JSON.
    MalformedJson,
    /// The payload is JSON but not an object.
    NotAnObject,
    /// The asset id field is absent or empty.
    MissingAssetId,
    /// The event time field is absent.
    MissingTimestamp,
    /// A field has the wrong JSON type.
    WrongType,
    /// A number is not finite (NaN, infinity, or out of f64 range).
    NonFinite,
    /// The event time is outside the accepted range or unparseable.
    BadTimestamp,
    /// None of the mapped measurements is present.
    NoMeasurements,
    /// The payload has a field the job does not map, and the job forbids unknown fields.
    UnknownField,
    /// The record has no key, and the job requires one (the asset id keeps an asset on one
    /// partition).
    NullKey,
    /// The record is of an asset beyond the job's asset limit (`[limits] max_assets`).
    AssetLimit,
    /// The reading arrived after its window had closed.
    Late,
}

impl RejectReason {
    /// Every reason, in a stable order (used for metrics and docs).
    pub const ALL: [RejectReason; 16] = [
        RejectReason::EmptyPayload,
        RejectReason::Oversized,
        RejectReason::InvalidUtf8,
        RejectReason::Truncated,
        RejectReason::MalformedJson,
        RejectReason::NotAnObject,
        RejectReason::MissingAssetId,
        RejectReason::MissingTimestamp,
        RejectReason::WrongType,
        RejectReason::NonFinite,
        RejectReason::BadTimestamp,
        RejectReason::NoMeasurements,
        RejectReason::UnknownField,
        RejectReason::NullKey,
        RejectReason::AssetLimit,
        RejectReason::Late,
    ];

    /// Stable snake_case code, written to the `vigil.reason` header.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::EmptyPayload => "empty_payload",
            RejectReason::Oversized => "oversized",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::Truncated => "truncated",
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::MissingAssetId => "missing_asset_id",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::WrongType => "wrong_type",
            RejectReason::NonFinite => "non_finite",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::NoMeasurements => "no_measurements",
            RejectReason::UnknownField => "unknown_field",
            RejectReason::NullKey => "null_key",
            RejectReason::AssetLimit => "asset_limit",
            RejectReason::Late => "late",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
