package dev.vigil.peer;

import java.nio.ByteBuffer;

import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The running aggregate of one asset's window: what the bench SQL computes,
 * avg(m0), min(m0), max(m0), stddev(m0) (sample, like SQL stddev / stddev_samp), avg(m1), max(m1), avg(m2..m7).
 * Non-finite (missing) measurements are ignored, per measurement. m0 uses Welford's update for a stable variance.
 * Stored as a fixed 136-byte record.
 */
final class WindowAgg {
    static final int M = Reading.MEASUREMENTS;
    static final int BYTES = M * 4 + M * 8 + 5 * 8;

    final int[] n = new int[M];
    final double[] sum = new double[M];
    double mean0;
    double m2of0;
    double min0 = Double.POSITIVE_INFINITY;
    double max0 = Double.NEGATIVE_INFINITY;
    double max1 = Double.NEGATIVE_INFINITY;

    /** Adds one reading (mutates and returns this). */
    WindowAgg add(Reading r) {
        double[] m = r.m;
        for (int i = 0; i < M; i++) {
            double v = m[i];
            if (Double.isFinite(v)) {
                n[i]++;
                sum[i] += v;
            }
        }
        double v0 = m[0];
        if (Double.isFinite(v0)) {
            double d = v0 - mean0;
            mean0 += d / n[0];
            m2of0 += d * (v0 - mean0);
            if (v0 < min0) {
                min0 = v0;
            }
            if (v0 > max0) {
                max0 = v0;
            }
        }
        double v1 = m[1];
        if (Double.isFinite(v1) && v1 > max1) {
            max1 = v1;
        }
        return this;
    }

    /** avg(m_i), NaN (SQL NULL) over no values. */
    double avg(int i) {
        return n[i] == 0 ? Double.NaN : sum[i] / n[i];
    }

    double m0Mean() {
        return n[0] == 0 ? Double.NaN : mean0;
    }

    double m0Min() {
        return n[0] == 0 ? Double.NaN : min0;
    }

    double m0Max() {
        return n[0] == 0 ? Double.NaN : max0;
    }

    /** Sample standard deviation of m0 (NULL below two values). */
    double m0Std() {
        return n[0] < 2 ? Double.NaN : Math.sqrt(Math.max(0.0, m2of0 / (n[0] - 1)));
    }

    double m1Max() {
        return n[1] == 0 ? Double.NaN : max1;
    }

    /** The 12 features as a JSON object body, in the bench SQL's column order. */
    void appendFeatures(StringBuilder sb) {
        sb.append('{');
        Json.field(sb, "m0_mean", m0Mean()).append(',');
        Json.field(sb, "m0_min", m0Min()).append(',');
        Json.field(sb, "m0_max", m0Max()).append(',');
        Json.field(sb, "m0_std", m0Std()).append(',');
        Json.field(sb, "m1_mean", avg(1)).append(',');
        Json.field(sb, "m1_max", m1Max());
        for (int i = 2; i < M; i++) {
            sb.append(',');
            Json.field(sb, "m" + i + "_mean", avg(i));
        }
        sb.append('}');
    }

    static final Serializer<WindowAgg> SERIALIZER = (topic, a) -> {
        if (a == null) {
            return null;
        }
        ByteBuffer bb = ByteBuffer.allocate(BYTES);
        for (int i = 0; i < M; i++) {
            bb.putInt(a.n[i]);
        }
        for (int i = 0; i < M; i++) {
            bb.putDouble(a.sum[i]);
        }
        bb.putDouble(a.mean0).putDouble(a.m2of0).putDouble(a.min0).putDouble(a.max0).putDouble(a.max1);
        return bb.array();
    };

    static final Deserializer<WindowAgg> DESERIALIZER = (topic, b) -> {
        if (b == null) {
            return null;
        }
        if (b.length != BYTES) {
            throw new IllegalArgumentException("window aggregate of " + b.length + " bytes, expected " + BYTES);
        }
        ByteBuffer bb = ByteBuffer.wrap(b);
        WindowAgg a = new WindowAgg();
        for (int i = 0; i < M; i++) {
            a.n[i] = bb.getInt();
        }
        for (int i = 0; i < M; i++) {
            a.sum[i] = bb.getDouble();
        }
        a.mean0 = bb.getDouble();
        a.m2of0 = bb.getDouble();
        a.min0 = bb.getDouble();
        a.max0 = bb.getDouble();
        a.max1 = bb.getDouble();
        return a;
    };

    static Serde<WindowAgg> serde() {
        return Serdes.serdeFrom(SERIALIZER, DESERIALIZER);
    }
}
