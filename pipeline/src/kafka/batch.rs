//! Batch consumption: the records of a consumer's partitions are routed to one queue of its
//! own and taken from it many at a time (`rd_kafka_consume_batch_queue`).
//!
//! rust-rdkafka's `poll` hands out one record per call: per record it reads the clock twice,
//! takes the queue's lock, allocates the event's reference count and takes the partition's
//! lock to move the application position. Taking a batch pays the clock and the position
//! once per batch. Only records are routed here: rebalances, commit results and client errors
//! stay on the consumer's own queue, which the owner keeps serving with `poll` (librdkafka
//! would serve a rebalance met in a batch call itself, bypassing the application's handler).
//!
//! A partition is routed before it is assigned: librdkafka then leaves the route alone when
//! it starts fetching, and records fetched before the route are moved along with it.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::message::BorrowedMessage;
use rdkafka::ClientContext;

/// One consumed record. It borrows the client it came from and frees its native message
/// when dropped.
pub struct Record<'c> {
    msg: NonNull<rd::rd_kafka_message_t>,
    /// Set for a record polled from the consumer's own queue: its event owns the message.
    polled: Option<BorrowedMessage<'c>>,
    _client: PhantomData<&'c ()>,
}

impl<'c> Record<'c> {
    /// A record polled with rust-rdkafka's `poll`, kept alive by its event.
    pub fn polled(m: BorrowedMessage<'c>) -> Option<Self> {
        Some(Record {
            msg: NonNull::new(m.ptr())?,
            polled: Some(m),
            _client: PhantomData,
        })
    }

    fn raw(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: the message stays valid until this record is dropped
        unsafe { self.msg.as_ref() }
    }

    /// The record's topic ("" if the client reports none).
    pub fn topic(&self) -> &str {
        let rkt = self.raw().rkt;
        if rkt.is_null() {
            return "";
        }
        // SAFETY: a consumed message's topic handle and its name live as long as the message
        let name = unsafe { rd::rd_kafka_topic_name(rkt) };
        if name.is_null() {
            return "";
        }
        unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("")
    }

    pub fn partition(&self) -> i32 {
        self.raw().partition
    }

    pub fn offset(&self) -> i64 {
        self.raw().offset
    }

    pub fn key(&self) -> Option<&[u8]> {
        let m = self.raw();
        bytes(m.key.cast(), m.key_len)
    }

    pub fn payload(&self) -> Option<&[u8]> {
        let m = self.raw();
        bytes(m.payload.cast(), m.len)
    }

    pub fn payload_len(&self) -> usize {
        self.raw().len
    }

    /// The record's headers as (name, value) pairs, in order.
    pub fn headers(&self) -> Vec<(&str, Option<&[u8]>)> {
        let mut hdrs: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
        // SAFETY: the headers belong to the message and live as long as it
        let err = unsafe { rd::rd_kafka_message_headers(self.msg.as_ptr(), &mut hdrs) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || hdrs.is_null() {
            return Vec::new();
        }
        let n = unsafe { rd::rd_kafka_header_cnt(hdrs) };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (mut name, mut value, mut len) = (std::ptr::null(), std::ptr::null(), 0usize);
            // SAFETY: i < count; the name and value pointers live as long as the headers
            let err =
                unsafe { rd::rd_kafka_header_get_all(hdrs, i, &mut name, &mut value, &mut len) };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                continue;
            }
            let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else {
                continue;
            };
            out.push((name, bytes(value.cast(), len)));
        }
        out
    }
}

fn bytes<'a>(p: *const u8, len: usize) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: librdkafka gives a buffer of `len` bytes that lives as long as the message
    Some(unsafe { std::slice::from_raw_parts(p, len) })
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        if self.polled.is_none() {
            // SAFETY: taken from a batch, the message is ours to free, once
            unsafe { rd::rd_kafka_message_destroy(self.msg.as_ptr()) }
        }
    }
}

/// A queue the records of routed partitions arrive on.
pub struct RecordQueue {
    q: NonNull<rd::rd_kafka_queue_t>,
}

// SAFETY: librdkafka queues are thread-safe; the handle is only a pointer to one
unsafe impl Send for RecordQueue {}
unsafe impl Sync for RecordQueue {}

impl RecordQueue {
    /// A new queue of `client` (a consumer's). It must be dropped before the client.
    pub fn new<C: ClientContext>(client: &Client<C>) -> Option<Self> {
        // SAFETY: the client's handle is live while it is borrowed
        NonNull::new(unsafe { rd::rd_kafka_queue_new(client.native_ptr()) })
            .map(|q| RecordQueue { q })
    }

    /// Routes the records of `topic`/`partition` of `client` (the queue's) here. False if the
    /// client has no such partition queue (a producer, or a topic name with a NUL byte).
    pub fn route<C: ClientContext>(&self, client: &Client<C>, topic: &str, partition: i32) -> bool {
        let Ok(name) = CString::new(topic) else {
            return false;
        };
        // SAFETY: the client is live while borrowed; the partition queue handle is released
        // right after forwarding, the forward itself stays with the partition
        unsafe {
            let pq =
                rd::rd_kafka_queue_get_partition(client.native_ptr(), name.as_ptr(), partition);
            if pq.is_null() {
                return false;
            }
            rd::rd_kafka_queue_forward(pq, self.q.as_ptr());
            rd::rd_kafka_queue_destroy(pq);
        }
        true
    }

    /// Takes up to `max` records into `out`, waiting at most `timeout` for the first. Returns
    /// the client errors delivered in place of records (fetch failures), as text.
    pub fn take<'c>(
        &'c self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<Record<'c>>,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        if max == 0 {
            return errors;
        }
        let mut raw: Vec<*mut rd::rd_kafka_message_t> = Vec::with_capacity(max);
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `raw` has room for `max` pointers; librdkafka fills the first n (n < 0 is
        // an error and fills none), so exactly those are initialised
        let n = unsafe {
            let n = rd::rd_kafka_consume_batch_queue(self.q.as_ptr(), ms, raw.as_mut_ptr(), max);
            let n = usize::try_from(n).unwrap_or(0).min(max);
            raw.set_len(n);
            n
        };
        out.reserve(n);
        for &p in &raw {
            let Some(msg) = NonNull::new(p) else { continue };
            // SAFETY: every returned pointer is a live message we now own
            let err = unsafe { msg.as_ref() }.err;
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                errors.push(error_text(msg));
                unsafe { rd::rd_kafka_message_destroy(msg.as_ptr()) };
                continue;
            }
            out.push(Record {
                msg,
                polled: None,
                _client: PhantomData,
            });
        }
        errors
    }
}

fn error_text(msg: NonNull<rd::rd_kafka_message_t>) -> String {
    // SAFETY: the message is live; the error string lives as long as it
    unsafe {
        let s = rd::rd_kafka_message_errstr(msg.as_ptr());
        let m = msg.as_ref();
        let text = if s.is_null() {
            String::new()
        } else {
            CStr::from_ptr(s).to_string_lossy().into_owned()
        };
        format!(
            "partition {} offset {}: {text} ({:?})",
            m.partition, m.offset, m.err
        )
    }
}

impl Drop for RecordQueue {
    fn drop(&mut self) {
        // SAFETY: the queue was created by rd_kafka_queue_new and is destroyed once; partitions
        // still routed here hold their own reference and drop what reaches a destroyed queue
        unsafe { rd::rd_kafka_queue_destroy(self.q.as_ptr()) }
    }
}
