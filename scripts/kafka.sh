#!/usr/bin/env bash
# Run a real single-node Apache Kafka 4.x broker (KRaft, broker+controller) on 127.0.0.1:9092 without Docker.
#
#   scripts/kafka.sh start    format a fresh data dir and start the broker in the background; waits until ready
#   scripts/kafka.sh stop     SIGTERM the broker this script started (SIGKILL after 30 s); idempotent
#   scripts/kafka.sh restart  stop, then start again on the same data (a broker outage, for fault tests)
#   scripts/kafka.sh status   "running" (exit 0) or "stopped" (exit 1)
#
# The jars come from Maven Central through scripts/kafka/pom.xml (mvn dependency:copy-dependencies) and are kept
# in $VIGIL_KAFKA_HOME/libs (default <repo>/.kafka-local/libs) until the pom changes. Needs Java 17+ and Maven.
# Every start wipes the broker's data (tests always see an empty cluster); restart keeps it.
# The JVM runs ZGC with a 2 GB heap and logs its collections to $VIGIL_KAFKA_HOME/gc.log;
# KAFKA_JVM_EXTRA adds JVM options after those (e.g. "-Xmx4g").
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KH="${VIGIL_KAFKA_HOME:-$REPO_ROOT/.kafka-local}"
LIBS="$KH/libs"
DATA="$KH/data"
PID_FILE="$KH/kafka.pid"
LOG_FILE="$KH/kafka.log"
HOST=127.0.0.1
PORT=9092
CONTROLLER_PORT=9093
# Any Kafka Uuid (22 chars of base64url) will do; this is the one from Kafka's own docker examples.
CLUSTER_ID=4L6g3nShT-eMCtK--X86sw
START_TIMEOUT_S=90
STOP_TIMEOUT_S=30

log() { echo "kafka: $*"; }
die() { echo "kafka: ERROR: $*" >&2; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# PID of the broker this script started, if it is still alive (and really is our kafka.Kafka, not a reused PID).
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  fi
  echo "$pid"
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    echo "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found (Kafka 4.x needs Java 17 or newer; set JAVA_HOME or put java on PATH)"
  fi
}

check_java() {
  local java="$1" ver major
  ver="$("$java" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')"
  major="${ver%%.*}"
  [[ "$major" == 1 ]] && major="$(echo "$ver" | cut -d. -f2)"
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the version of $java (got '$ver')"
  ((major >= 17)) || die "$java is Java $ver; the Kafka 4.x broker needs Java 17 or newer (set JAVA_HOME)"
}

# Resolve the broker's jars into $LIBS, only when they are missing or the pom changed.
ensure_libs() {
  command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"
  local want have=""
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  [[ -f "$LIBS/.pom.sha256" ]] && have="$(cat "$LIBS/.pom.sha256")"
  if [[ "$want" == "$have" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch the Kafka jars; apt-get install maven)"
  local t0 tmp
  t0="$(now)"
  log "resolving broker jars with Maven (scripts/kafka/pom.xml -> $LIBS) ..."
  tmp="$KH/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Run from $KH so that Maven writes nothing into the repository.
  if ! (cd "$KH" && mvn -B -q -f "$POM" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KH/mvn.log" 2>&1); then
    tail -n 40 "$KH/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (full output in $KH/mvn.log)"
  fi
  local jar
  for jar in 'kafka_2.13-*.jar' 'kafka-clients-*.jar' 'log4j-core-*.jar' 'log4j-slf4j-impl-*.jar' 'slf4j-api-1.7.36.jar'; do
    compgen -G "$tmp/$jar" >/dev/null || die "Maven did not produce $jar (see $KH/mvn.log)"
  done
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "$(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sm "$LIBS" | cut -f1) MB) resolved in $(since "$t0") s"
}

write_configs() {
  cat >"$KH/server.properties" <<EOF
# Written by scripts/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
# dynamic quorum (KIP-853): formatted with --standalone
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=true
# one broker: internal topics must have RF 1 / min.isr 1 (defaults 3 / 2 can never be met)
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
# 2-core machines
num.io.threads=2
num.network.threads=2
num.recovery.threads.per.data.dir=1
EOF

  cat >"$KH/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.req.name = kafka.request.logger
logger.req.level = WARN
EOF

  cat >"$KH/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# Stop $1: SIGTERM (Kafka's shutdown hook runs), SIGKILL after $STOP_TIMEOUT_S seconds.
terminate() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid still alive after ${STOP_TIMEOUT_S}s of SIGTERM, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

cmd_start() {
  local pid
  if pid="$(broker_pid)"; then
    log "already running (pid $pid, $HOST:$PORT)"
    return 0
  fi
  rm -f "$PID_FILE"
  local t0
  t0="$(now)"

  port_open "$PORT" && die "port $HOST:$PORT is already in use by another process (not a broker started by this script from $KH); stop it first"
  port_open "$CONTROLLER_PORT" && die "port $HOST:$CONTROLLER_PORT (controller) is already in use by another process; stop it first"

  local java
  java="$(java_bin)"
  check_java "$java"
  [[ -f "$POM" ]] || die "$POM not found"
  mkdir -p "$KH"
  ensure_libs
  write_configs

  local cp="$LIBS/*"
  local tf format_s="skipped, data kept"
  tf="$(now)"
  if [[ "${1:-fresh}" == "keep" && -f "$DATA/meta.properties" ]]; then
    :
  else
  rm -rf "$DATA"
  if ! "$java" -Xmx256m -Dlog4j2.configurationFile="$KH/tools-log4j2.properties" -cp "$cp" \
      kafka.tools.StorageTool format --standalone -t "$CLUSTER_ID" -c "$KH/server.properties" \
      >"$KH/format.log" 2>&1; then
    cat "$KH/format.log" >&2
    die "formatting $DATA failed"
  fi
  format_s="$(since "$tf") s"
  fi

  # shellcheck disable=SC2086 # KAFKA_JVM_EXTRA is a list of options
  # ZGC (pauses under a millisecond) and a 2 GB heap: with G1 and 512 MB, the job's changelog
  # records of several MB were humongous allocations, each setting off a young pause, in bursts
  # at every commit that held alerts' acknowledgements back (gc.log shows what the GC does)
  nohup "$java" -Xms2g -Xmx2g -XX:+UseZGC -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Xlog:gc:file="$KH/gc.log":uptime ${KAFKA_JVM_EXTRA:-} \
    -Dlog4j2.configurationFile="$KH/log4j2.properties" -Dkafka.logs.dir="$KH" \
    -cp "$cp" kafka.Kafka "$KH/server.properties" >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"

  local deadline
  deadline=$(($(date +%s) + START_TIMEOUT_S))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      echo "----- last lines of $LOG_FILE -----" >&2
      tail -n 60 "$LOG_FILE" >&2
      die "broker process $pid exited during startup"
    fi
    if port_open "$PORT" && grep -q 'Kafka Server started' "$LOG_FILE"; then
      break
    fi
    if (($(date +%s) >= deadline)); then
      echo "----- last lines of $LOG_FILE -----" >&2
      tail -n 60 "$LOG_FILE" >&2
      terminate "$pid"
      rm -f "$PID_FILE"
      die "broker not ready on $HOST:$PORT after ${START_TIMEOUT_S}s"
    fi
    sleep 0.2
  done
  log "started in $(since "$t0") s (format ${format_s}; pid $pid, $HOST:$PORT, log $LOG_FILE)"
}

cmd_stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  local t0
  t0="$(now)"
  terminate "$pid"
  if kill -0 "$pid" 2>/dev/null; then
    die "could not stop pid $pid"
  fi
  rm -f "$PID_FILE"
  log "stopped in $(since "$t0") s (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    if port_open "$PORT"; then
      log "running (pid $pid, $HOST:$PORT)"
    else
      log "running (pid $pid), but $HOST:$PORT is not accepting connections (yet)"
    fi
    return 0
  fi
  log "stopped"
  return 1
}

case "${1:-}" in
  start) cmd_start fresh ;;
  stop) cmd_stop ;;
  restart) cmd_stop && cmd_start keep ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
