package dev.vigil.peer;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams peer of `vigil bench kafka`. See README.md.
 *
 * <p>Peer mode: reads the bench readings from --topic, event time from "ts", 10 s tumbling windows with 2 s grace
 * per asset (the key), 12 aggregates per window emitted once when the window closes, an alert to
 * {@code <topic>.ks-alerts} when the window's avg(m0) exceeds --threshold. It times itself from the first RUNNING
 * state until --readings input records were seen, prints one JSON line on stdout and exits 0.
 *
 * <p>Load mode (--produce N): writes the bench readings onto --topic (created if missing) and exits.
 */
public final class KafkaStreamsPeer {
    static final Duration WINDOW = Duration.ofSeconds(10);
    static final Duration GRACE = Duration.ofSeconds(2);

    private KafkaStreamsPeer() {
    }

    public static void main(String[] argv) {
        int rc;
        try {
            Args a = Args.parse(argv);
            rc = a.produce > 0 ? load(a) : run(a);
        } catch (UsageException e) {
            System.err.println("kafka-streams-peer: " + e.getMessage());
            System.err.println(Args.USAGE);
            rc = 64;
        } catch (Exception e) {
            System.err.println("kafka-streams-peer: ERROR: " + e);
            e.printStackTrace(System.err);
            rc = 1;
        }
        System.out.flush();
        System.err.flush();
        System.exit(rc);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // arguments

    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String m) {
            super(m);
        }
    }

    static final class Args {
        static final String USAGE = String.join("\n",
            "usage: java -jar kafka-streams-peer.jar --topic NAME --readings N [options]",
            "       java -jar kafka-streams-peer.jar --topic NAME --produce N [--assets A] [--partitions P]",
            "  --brokers HOST:PORT     bootstrap servers (default 127.0.0.1:9092)",
            "  --topic NAME            input topic (the alerts go to NAME.ks-alerts)",
            "  --readings N            input records to wait for; the run ends when N were seen",
            "  --mode default|tuned    default: Kafka Streams defaults (RocksDB, commit.interval.ms 30000);",
            "                          tuned: in-memory window store, commit.interval.ms 100, larger fetches",
            "  --app-id ID             application.id (default ks-peer-<topic>-<mode>); must be new per run",
            "  --threshold X           alert when a window's avg(m0) > X (default 100.0)",
            "  --timeout-s S           give up (exit 2) if N records were not seen after S s (default 1800)",
            "  --guarantee G           processing.guarantee: at_least_once (default) | exactly_once_v2",
            "  --state-dir DIR         state.dir (default: a fresh temporary directory, deleted on exit)",
            "  --produce N             load mode: produce N bench readings onto --topic and exit",
            "  --assets A              load mode: distinct assets (default 1000)",
            "  --partitions P          load mode: partitions if the topic is created (default 1)");

        String brokers = "127.0.0.1:9092";
        String topic;
        long readings = -1;
        String mode = "default";
        String appId;
        double threshold = 100.0;
        long timeoutS = 1800;
        String guarantee = StreamsConfig.AT_LEAST_ONCE;
        String stateDir;
        long produce = -1;
        long assets = 1000;
        int partitions = 1;

        static Args parse(String[] argv) throws UsageException {
            Args a = new Args();
            for (int i = 0; i < argv.length; i++) {
                String k = argv[i];
                String v;
                int eq = k.indexOf('=');
                if (k.startsWith("--") && eq > 0) {
                    v = k.substring(eq + 1);
                    k = k.substring(0, eq);
                } else if (k.equals("-h") || k.equals("--help")) {
                    System.err.println(USAGE);
                    System.exit(0);
                    return a;
                } else {
                    if (i + 1 >= argv.length) {
                        throw new UsageException("missing value for " + k);
                    }
                    v = argv[++i];
                }
                try {
                    switch (k) {
                        case "--brokers": a.brokers = v; break;
                        case "--topic": a.topic = v; break;
                        case "--readings": a.readings = Long.parseLong(v); break;
                        case "--mode": a.mode = v; break;
                        case "--app-id": a.appId = v; break;
                        case "--threshold": a.threshold = Double.parseDouble(v); break;
                        case "--timeout-s": a.timeoutS = Long.parseLong(v); break;
                        case "--guarantee": a.guarantee = v; break;
                        case "--state-dir": a.stateDir = v; break;
                        case "--produce": a.produce = Long.parseLong(v); break;
                        case "--assets": a.assets = Long.parseLong(v); break;
                        case "--partitions": a.partitions = Integer.parseInt(v); break;
                        default: throw new UsageException("unknown argument " + k);
                    }
                } catch (NumberFormatException e) {
                    throw new UsageException("bad number for " + k + ": " + v);
                }
            }
            if (a.topic == null || a.topic.isEmpty()) {
                throw new UsageException("--topic is required");
            }
            if (a.produce > 0) {
                if (a.assets < 1 || a.partitions < 1) {
                    throw new UsageException("--assets and --partitions must be >= 1");
                }
                return a;
            }
            if (a.readings < 1) {
                throw new UsageException("--readings N (>= 1) is required");
            }
            if (!a.mode.equals("default") && !a.mode.equals("tuned")) {
                throw new UsageException("--mode must be default or tuned, not " + a.mode);
            }
            if (!a.guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !a.guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
                throw new UsageException("--guarantee must be at_least_once or exactly_once_v2, not " + a.guarantee);
            }
            if (a.timeoutS < 1) {
                throw new UsageException("--timeout-s must be >= 1");
            }
            if (a.appId == null) {
                a.appId = ("ks-peer-" + a.topic + "-" + a.mode).replaceAll("[^A-Za-z0-9._-]", "_");
            }
            return a;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // load mode

    static int load(Args a) throws Exception {
        try (Admin admin = admin(a.brokers)) {
            createIfMissing(admin, a.topic, a.partitions);
        }
        long t0 = System.nanoTime();
        long acked = LoadGen.produce(a.brokers, a.topic, a.produce, a.assets);
        double wall = (System.nanoTime() - t0) / 1e9;
        StringBuilder sb = new StringBuilder("{");
        Json.field(sb, "peer", "kafka-streams").append(',');
        Json.field(sb, "produced", acked).append(',');
        Json.field(sb, "topic", a.topic).append(',');
        Json.field(sb, "assets", a.assets).append(',');
        Json.field(sb, "wall_s", Json.round3(wall)).append('}');
        System.out.println(sb);
        return acked == a.produce ? 0 : 1;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // peer mode

    /** Readings as values: parsed once, in the deserializer, so the timestamp extractor sees the parsed reading. */
    static Serde<Reading> readingSerde() {
        Deserializer<Reading> de = (topic, bytes) -> Reading.parse(bytes);
        Serializer<Reading> ser = (topic, r) -> {
            throw new UnsupportedOperationException("readings are never written");
        };
        return Serdes.serdeFrom(ser, de);
    }

    /** Event time from "ts"; a value that did not parse keeps the partition's time (and is dropped later). */
    static final class ReadingTimestamp implements TimestampExtractor {
        @Override
        public long extract(org.apache.kafka.clients.consumer.ConsumerRecord<Object, Object> record, long partitionTime) {
            Object v = record.value();
            if (v instanceof Reading) {
                return ((Reading) v).ts;
            }
            return partitionTime >= 0 ? partitionTime : 0L;
        }
    }

    static final class Counters {
        final AtomicLong seen = new AtomicLong();
        final AtomicLong windows = new AtomicLong();
        final AtomicLong alerts = new AtomicLong();
    }

    static Topology topology(Args a, Counters c, String alertTopic) {
        StreamsBuilder b = new StreamsBuilder();
        long target = a.readings;
        Serde<String> keys = Serdes.String();
        Serde<WindowAgg> aggs = WindowAgg.serde();

        Materialized<String, WindowAgg, WindowStore<Bytes, byte[]>> store;
        if (a.mode.equals("tuned")) {
            store = Materialized.<String, WindowAgg>as(
                    Stores.inMemoryWindowStore("ks-peer-windows", WINDOW.plus(GRACE), WINDOW, false))
                .withKeySerde(keys)
                .withValueSerde(aggs);
        } else {
            // Named only to keep its changelog name stable; the supplier stays the default (RocksDB).
            store = Materialized.<String, WindowAgg, WindowStore<Bytes, byte[]>>as("ks-peer-windows")
                .withKeySerde(keys)
                .withValueSerde(aggs);
        }

        KTable<Windowed<String>, WindowAgg> windows = b
            .stream(a.topic, Consumed.with(keys, readingSerde()).withTimestampExtractor(new ReadingTimestamp()))
            .peek((k, v) -> {
                if (c.seen.incrementAndGet() == target) {
                    Measure.end();
                }
            })
            .filter((k, v) -> k != null && v != null)
            .groupByKey(Grouped.with(keys, readingSerde()))
            .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, GRACE))
            .aggregate(WindowAgg::new, (k, r, agg) -> agg.add(r), store)
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()).withName("ks-peer-final"));

        double threshold = a.threshold;
        windows.toStream()
            .peek((w, agg) -> c.windows.incrementAndGet())
            .filter((w, agg) -> agg != null && agg.m0Mean() > threshold)
            .map((w, agg) -> KeyValue.pair(w.key(), alertJson(w, agg, threshold)))
            .peek((k, v) -> c.alerts.incrementAndGet())
            .to(alertTopic, Produced.with(keys, Serdes.String()));
        return b.build();
    }

    static String alertJson(Windowed<String> w, WindowAgg agg, double threshold) {
        StringBuilder sb = new StringBuilder(512).append('{');
        Json.field(sb, "source", "kafka-streams").append(',');
        Json.field(sb, "asset_id", w.key()).append(',');
        Json.field(sb, "window_start", w.window().start()).append(',');
        Json.field(sb, "window_end", w.window().end()).append(',');
        Json.field(sb, "feature", "m0_mean").append(',');
        Json.field(sb, "value", agg.m0Mean()).append(',');
        Json.field(sb, "threshold", threshold).append(',');
        Json.field(sb, "count", agg.n[0]).append(',');
        Json.str(sb, "features").append(':');
        agg.appendFeatures(sb);
        return sb.append('}').toString();
    }

    static Properties streamsProps(Args a, String stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.brokers);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.guarantee);
        // Unparseable values are dropped by the topology (null), so this handler is only a safety net.
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        // Read the topic from its start (also Kafka Streams' own default).
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        if (a.mode.equals("tuned")) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
            // Bigger polls and fetches: the bench reads a backlog as fast as it can.
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 10_000);
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG), 8 << 20);
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_BYTES_CONFIG), 64 << 20);
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MIN_BYTES_CONFIG), 64 << 10);
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 50);
            p.put(StreamsConfig.consumerPrefix(ConsumerConfig.RECEIVE_BUFFER_CONFIG), 1 << 20);
            // Let a task buffer as much as one poll returns (default 1000 records per partition).
            p.put(StreamsConfig.BUFFERED_RECORDS_PER_PARTITION_CONFIG, 10_000);
            p.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 256 << 10);
        }
        return p;
    }

    /** The measured interval: set from the stream thread (RUNNING / the N-th record). */
    static final class Measure {
        static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        static volatile long startNs;
        static volatile long startCpuNs;
        static volatile long endNs;
        static volatile long endCpuNs;
        static final CountDownLatch DONE = new CountDownLatch(1);
        static final AtomicReference<Throwable> FAILURE = new AtomicReference<>();

        static synchronized void start() {
            if (startNs == 0) {
                startCpuNs = OS.getProcessCpuTime();
                startNs = System.nanoTime();
            }
        }

        static void end() {
            endNs = System.nanoTime();
            endCpuNs = OS.getProcessCpuTime();
            DONE.countDown();
        }

        static void fail(Throwable t) {
            FAILURE.compareAndSet(null, t);
            DONE.countDown();
        }
    }

    static int run(Args a) throws Exception {
        long mainNs = System.nanoTime();
        String alertTopic = a.topic + ".ks-alerts";
        int inputPartitions;
        try (Admin admin = admin(a.brokers)) {
            inputPartitions = partitions(admin, a.topic);
            if (inputPartitions < 0) {
                System.err.println("kafka-streams-peer: input topic " + a.topic + " does not exist on " + a.brokers);
                return 1;
            }
            createIfMissing(admin, alertTopic, 1);
        }

        boolean tempState = a.stateDir == null;
        Path stateDir = tempState ? Files.createTempDirectory("ks-peer-") : Path.of(a.stateDir);
        Counters c = new Counters();
        Topology topology = topology(a, c, alertTopic);
        KafkaStreams streams = new KafkaStreams(topology, streamsProps(a, stateDir.toString()));
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                Measure.start();
            } else if (now == KafkaStreams.State.ERROR) {
                Measure.fail(new IllegalStateException("Kafka Streams went to ERROR"));
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            Measure.fail(e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        System.err.printf("kafka-streams-peer: %s mode, app %s, %s -> %s (%d partition(s)), waiting for %d records%n",
            a.mode, a.appId, a.topic, alertTopic, inputPartitions, a.readings);
        System.err.println(topology.describe());

        int rc = 0;
        boolean closed = false;
        try {
            streams.cleanUp();
            streams.start();
            boolean done = Measure.DONE.await(a.timeoutS, TimeUnit.SECONDS);
            Throwable failure = Measure.FAILURE.get();
            if (!done || (failure != null && Measure.endNs == 0)) {
                if (failure != null) {
                    System.err.println("kafka-streams-peer: ERROR: Kafka Streams failed after " + c.seen.get()
                        + " of " + a.readings + " records: " + failure);
                    failure.printStackTrace(System.err);
                    rc = 3;
                } else {
                    System.err.println("kafka-streams-peer: ERROR: timeout: only " + c.seen.get() + " of "
                        + a.readings + " records seen after " + a.timeoutS + " s (state " + streams.state() + ")");
                    rc = 2;
                }
            } else {
                // The measured interval ends at the N-th record. Closing commits, which flushes the store caches
                // into the suppression buffer, so every window that stream time has closed is emitted (and its
                // alert produced) before the counts below are read; with the default 30 s commit interval few or
                // none would have been emitted by then.
                long windowsAtN = c.windows.get();
                long alertsAtN = c.alerts.get();
                closed = close(streams);
                long alerts = c.alerts.get();
                long windows = c.windows.get();
                long startNs = Measure.startNs != 0 ? Measure.startNs : mainNs;
                double wall = (Measure.endNs - startNs) / 1e9;
                double cpu = (Measure.endCpuNs - Measure.startCpuNs) / 1e9;
                long records = c.seen.get();
                StringBuilder sb = new StringBuilder("{");
                Json.field(sb, "peer", "kafka-streams").append(',');
                Json.field(sb, "mode", a.mode).append(',');
                Json.field(sb, "kafka_streams_version", AppInfoParser.getVersion()).append(',');
                Json.field(sb, "records", a.readings).append(',');
                Json.field(sb, "wall_s", Json.round3(wall)).append(',');
                Json.field(sb, "cpu_s", Json.round3(cpu)).append(',');
                Json.field(sb, "per_s", Math.round(a.readings / wall)).append(',');
                Json.field(sb, "per_cpu_s", Math.round(a.readings / cpu)).append(',');
                Json.field(sb, "alerts", alerts).append(',');
                Json.field(sb, "alerts_at_n", alertsAtN).append(',');
                Json.field(sb, "windows", windows).append(',');
                Json.field(sb, "windows_at_n", windowsAtN).append(',');
                Json.field(sb, "partitions", inputPartitions).append(',');
                Json.field(sb, "processing_guarantee", a.guarantee).append(',');
                Json.field(sb, "startup_s", Json.round3((startNs - mainNs) / 1e9)).append('}');
                System.out.println(sb);
                System.out.flush();
                System.err.printf("kafka-streams-peer: %d records seen (%d expected); windows closed: %d at N, %d "
                    + "after close; alerts: %d at N, %d after close%n",
                    records, a.readings, windowsAtN, windows, alertsAtN, alerts);
            }
        } finally {
            if (!closed) {
                close(streams);
            }
            if (tempState) {
                deleteTree(stateDir);
            }
        }
        return rc;
    }

    static boolean close(KafkaStreams streams) {
        if (!streams.close(Duration.ofSeconds(60))) {
            System.err.println("kafka-streams-peer: WARN: Kafka Streams did not close within 60 s");
        }
        return true;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // admin helpers

    static Admin admin(String brokers) {
        Map<String, Object> conf = new HashMap<>();
        conf.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        conf.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        return Admin.create(conf);
    }

    /** Partitions of a topic, or -1 if it does not exist. */
    static int partitions(Admin admin, String topic) throws Exception {
        try {
            Map<String, TopicDescription> d = admin.describeTopics(Set.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
            return d.get(topic).partitions().size();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return -1;
            }
            throw e;
        }
    }

    static void createIfMissing(Admin admin, String topic, int partitions) throws Exception {
        if (partitions(admin, topic) >= 0) {
            return;
        }
        try {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(partitions), Optional.empty())))
                .all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
    }

    static void deleteTree(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> {
                try {
                    Files.deleteIfExists(f);
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
