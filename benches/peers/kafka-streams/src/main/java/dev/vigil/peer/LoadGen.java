package dev.vigil.peer;

import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * `--produce N`: loads N bench readings onto the topic, the same ones `vigil bench kafka` loads
 * (pipeline/src/bench_kafka.rs, payload()): reading i is asset i % A at second i / A from
 * 2025-11-26T00:00:00Z, key = asset id "a%06d", measurement m = 10*(m+1) + 0.1*(asset % 7) + a
 * deterministic wiggle in [0, 1), written with 3 decimals.
 */
final class LoadGen {
    static final long T0 = 1_764_115_200_000L;

    private LoadGen() {
    }

    static String assetId(long a) {
        String s = Long.toString(a);
        return s.length() >= 6 ? "a" + s : "a" + "000000".substring(s.length()) + s;
    }

    /** SplitMix64, as bench_kafka.rs mix. */
    static long mix(long x) {
        long z = x + 0x9e3779b97f4a7c15L;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The value of reading i (as bench_kafka.rs payload(i, assets, spike)). */
    static String payload(long i, long assets, boolean spike) {
        long a = i % assets;
        long t = i / assets;
        StringBuilder sb = new StringBuilder(160);
        sb.append("{\"asset_id\":\"").append(assetId(a)).append("\",\"ts\":").append(T0 + t * 1000L)
            .append(",\"measurements\":{");
        for (int m = 0; m < Reading.MEASUREMENTS; m++) {
            double base = 10.0 * (m + 1) + (a % 7) * 0.1;
            // mix(i * 8 + m) % 1000 on u64, as bench_kafka.rs
            double wiggle = Long.remainderUnsigned(mix(i * 8 + m), 1000L) / 1000.0;
            double v = spike && m == 0 ? base * 50.0 : base + wiggle;
            if (m > 0) {
                sb.append(',');
            }
            sb.append("\"m").append(m).append("\":");
            appendFixed3(sb, v);
        }
        return sb.append("}}").toString();
    }

    /** v with exactly three decimals (v is near a multiple of 0.001, so rounding v*1000 is unambiguous). */
    static void appendFixed3(StringBuilder sb, double v) {
        long k = Math.round(v * 1000.0);
        if (k < 0) {
            sb.append('-');
            k = -k;
        }
        sb.append(k / 1000).append('.');
        long f = k % 1000;
        if (f < 100) {
            sb.append('0');
        }
        if (f < 10) {
            sb.append('0');
        }
        sb.append(f);
    }

    /** Produces readings [0, n); returns how many were acknowledged. */
    static long produce(String brokers, String topic, long n, long assets) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, "20");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "1000000");
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, Long.toString(256L << 20));
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(8 << 20));
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> failed = new AtomicReference<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (long i = 0; i < n && failed.get() == null; i++) {
                String key = assetId(i % assets);
                producer.send(new ProducerRecord<>(topic, key, payload(i, assets, false)), (md, e) -> {
                    if (e != null) {
                        failed.compareAndSet(null, e);
                    } else {
                        acked.incrementAndGet();
                    }
                });
            }
            producer.flush();
        }
        if (failed.get() != null) {
            throw failed.get();
        }
        return acked.get();
    }
}
