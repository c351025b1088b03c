package dev.vigil.peer;

import java.nio.charset.StandardCharsets;

/**
 * One bench reading, {"asset_id":"a000123","ts":1764115200000,"measurements":{"m0":10.123,...,"m7":80.1}},
 * parsed straight from the UTF-8 bytes by a small hand-written JSON scanner (no tree, no reflection).
 * Unknown fields (of any JSON type) are skipped; a missing or null measurement is NaN (ignored by the
 * aggregates, like SQL's avg/min/max ignore NULL).
 */
final class Reading {
    static final int MEASUREMENTS = 8;

    /** The value's asset_id, or null if it had none (the record key is what windows are grouped by). */
    final String assetId;
    /** Event time, UTC milliseconds. */
    final long ts;
    /** m0..m7; NaN where missing. */
    final double[] m;

    Reading(String assetId, long ts, double[] m) {
        this.assetId = assetId;
        this.ts = ts;
        this.m = m;
    }

    /** Parses one reading; null if the bytes are not such a reading (malformed JSON, no numeric ts). */
    static Reading parse(byte[] b) {
        if (b == null) {
            return null;
        }
        try {
            return new Parser(b).reading();
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** Thrown on malformed input; carries no stack trace (it is expected and cheap). */
    static final class Malformed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Malformed() {
            super("malformed reading", null, false, false);
        }
    }

    private static final Malformed MALFORMED = new Malformed();

    private static final double[] POW10 = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
    };

    private static final class Parser {
        private final byte[] b;
        private int p;

        Parser(byte[] b) {
            this.b = b;
        }

        Reading reading() {
            String asset = null;
            long ts = Long.MIN_VALUE;
            double[] m = new double[MEASUREMENTS];
            java.util.Arrays.fill(m, Double.NaN);
            ws();
            expect('{');
            ws();
            if (peek() == '}') {
                throw MALFORMED;
            }
            while (true) {
                ws();
                int ks = stringStart();
                int ke = stringEnd(ks);
                ws();
                expect(':');
                ws();
                if (keyIs(ks, ke, "asset_id")) {
                    if (peek() == '"') {
                        int vs = stringStart();
                        int ve = stringEnd(vs);
                        asset = decode(vs, ve);
                    } else {
                        skipValue();
                    }
                } else if (keyIs(ks, ke, "ts")) {
                    if (peek() == 'n') {
                        skipValue();
                    } else {
                        double t = number();
                        if (t != Math.rint(t) || Double.isNaN(t)) {
                            throw MALFORMED;
                        }
                        ts = (long) t;
                    }
                } else if (keyIs(ks, ke, "measurements")) {
                    measurements(m);
                } else {
                    skipValue();
                }
                ws();
                byte c = next();
                if (c == '}') {
                    break;
                }
                if (c != ',') {
                    throw MALFORMED;
                }
            }
            if (ts == Long.MIN_VALUE) {
                throw MALFORMED;
            }
            return new Reading(asset, ts, m);
        }

        private void measurements(double[] m) {
            if (peek() != '{') {
                skipValue();
                return;
            }
            p++;
            ws();
            if (peek() == '}') {
                p++;
                return;
            }
            while (true) {
                ws();
                int ks = stringStart();
                int ke = stringEnd(ks);
                ws();
                expect(':');
                ws();
                int idx = -1;
                // "m0".."m7" (no escapes in such keys)
                if (ke - ks == 2 && b[ks] == 'm' && b[ks + 1] >= '0' && b[ks + 1] < '0' + MEASUREMENTS) {
                    idx = b[ks + 1] - '0';
                }
                byte c = peek();
                if (idx >= 0 && (c == '-' || (c >= '0' && c <= '9'))) {
                    m[idx] = number();
                } else {
                    skipValue(); // null, or a field we do not aggregate
                }
                ws();
                c = next();
                if (c == '}') {
                    return;
                }
                if (c != ',') {
                    throw MALFORMED;
                }
            }
        }

        /** A JSON number; exact (correctly rounded) fast path for up to 15 significant digits. */
        private double number() {
            int start = p;
            boolean neg = false;
            if (p < b.length && b[p] == '-') {
                neg = true;
                p++;
            }
            long mant = 0;
            int digits = 0;
            int scale = 0;
            boolean any = false;
            while (p < b.length && b[p] >= '0' && b[p] <= '9') {
                if (digits < 18) {
                    mant = mant * 10 + (b[p] - '0');
                    if (mant != 0) {
                        digits++;
                    }
                } else {
                    scale--; // dropped integer digit: handled by the slow path below
                }
                p++;
                any = true;
            }
            if (!any) {
                throw MALFORMED;
            }
            boolean slow = scale != 0;
            if (p < b.length && b[p] == '.') {
                p++;
                boolean frac = false;
                while (p < b.length && b[p] >= '0' && b[p] <= '9') {
                    if (digits < 18) {
                        mant = mant * 10 + (b[p] - '0');
                        if (mant != 0) {
                            digits++;
                        }
                        scale++;
                    } else {
                        slow = true;
                    }
                    p++;
                    frac = true;
                }
                if (!frac) {
                    throw MALFORMED;
                }
            }
            if (p < b.length && (b[p] == 'e' || b[p] == 'E')) {
                p++;
                if (p < b.length && (b[p] == '+' || b[p] == '-')) {
                    p++;
                }
                boolean exp = false;
                while (p < b.length && b[p] >= '0' && b[p] <= '9') {
                    p++;
                    exp = true;
                }
                if (!exp) {
                    throw MALFORMED;
                }
                slow = true;
            }
            if (!slow && digits <= 15 && scale <= 22) {
                double v = scale == 0 ? (double) mant : (double) mant / POW10[scale];
                return neg ? -v : v;
            }
            return Double.parseDouble(new String(b, start, p - start, StandardCharsets.US_ASCII));
        }

        private void skipValue() {
            byte c = peek();
            switch (c) {
                case '"': {
                    int s = stringStart();
                    stringEnd(s);
                    return;
                }
                case '{':
                case '[': {
                    int depth = 0;
                    while (true) {
                        byte d = next();
                        if (d == '"') {
                            p--;
                            int s = stringStart();
                            stringEnd(s);
                        } else if (d == '{' || d == '[') {
                            depth++;
                        } else if (d == '}' || d == ']') {
                            if (--depth == 0) {
                                return;
                            }
                        }
                    }
                }
                case 't':
                    literal("true");
                    return;
                case 'f':
                    literal("false");
                    return;
                case 'n':
                    literal("null");
                    return;
                default:
                    number();
            }
        }

        private void literal(String s) {
            for (int i = 0; i < s.length(); i++) {
                if (next() != s.charAt(i)) {
                    throw MALFORMED;
                }
            }
        }

        /** Consumes the opening quote; returns the index of the first content byte. */
        private int stringStart() {
            expect('"');
            return p;
        }

        /** Consumes the string up to and including its closing quote; returns the end (exclusive) of its content. */
        private int stringEnd(int start) {
            while (true) {
                byte c = next();
                if (c == '"') {
                    return p - 1;
                }
                if (c == '\\') {
                    next();
                }
            }
        }

        private boolean keyIs(int s, int e, String k) {
            if (e - s != k.length()) {
                return false;
            }
            for (int i = 0; i < k.length(); i++) {
                if (b[s + i] != k.charAt(i)) {
                    return false;
                }
            }
            return true;
        }

        private String decode(int s, int e) {
            boolean esc = false;
            for (int i = s; i < e; i++) {
                if (b[i] == '\\') {
                    esc = true;
                    break;
                }
            }
            if (!esc) {
                return new String(b, s, e - s, StandardCharsets.UTF_8);
            }
            StringBuilder sb = new StringBuilder(e - s);
            String raw = new String(b, s, e - s, StandardCharsets.UTF_8);
            for (int i = 0; i < raw.length(); i++) {
                char c = raw.charAt(i);
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char d = raw.charAt(++i);
                switch (d) {
                    case 'n': sb.append('\n'); break;
                    case 't': sb.append('\t'); break;
                    case 'r': sb.append('\r'); break;
                    case 'b': sb.append('\b'); break;
                    case 'f': sb.append('\f'); break;
                    case 'u':
                        sb.append((char) Integer.parseInt(raw.substring(i + 1, i + 5), 16));
                        i += 4;
                        break;
                    default: sb.append(d);
                }
            }
            return sb.toString();
        }

        private void ws() {
            while (p < b.length) {
                byte c = b[p];
                if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                    p++;
                } else {
                    return;
                }
            }
        }

        private byte peek() {
            if (p >= b.length) {
                throw MALFORMED;
            }
            return b[p];
        }

        private byte next() {
            if (p >= b.length) {
                throw MALFORMED;
            }
            return b[p++];
        }

        private void expect(char c) {
            if (next() != c) {
                throw MALFORMED;
            }
        }
    }
}
