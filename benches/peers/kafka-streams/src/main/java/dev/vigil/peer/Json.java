package dev.vigil.peer;

/** Minimal JSON writing helpers (the app prints and produces a few small JSON objects). */
final class Json {
    private Json() {
    }

    /** "name":value, with NaN/infinity written as null. */
    static StringBuilder field(StringBuilder sb, String name, double v) {
        str(sb, name).append(':');
        return num(sb, v);
    }

    static StringBuilder field(StringBuilder sb, String name, long v) {
        return str(sb, name).append(':').append(v);
    }

    static StringBuilder field(StringBuilder sb, String name, String v) {
        str(sb, name).append(':');
        return v == null ? sb.append("null") : str(sb, v);
    }

    static StringBuilder num(StringBuilder sb, double v) {
        if (Double.isFinite(v)) {
            if (v == Math.rint(v) && Math.abs(v) < 1e15) {
                return sb.append((long) v).append(".0");
            }
            return sb.append(v);
        }
        return sb.append("null");
    }

    static StringBuilder str(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        return sb.append('"');
    }

    /** Seconds with millisecond precision, as a JSON number. */
    static double round3(double s) {
        return Math.round(s * 1000.0) / 1000.0;
    }
}
