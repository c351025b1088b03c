#!/usr/bin/env bash
# The one command that runs Vigil's whole test suite, on a fresh machine too:
#   1. installs the tools it needs if they are missing (cmake, make, g++, Java 17, Maven, Chromium; apt-get)
#   2. builds every test target (CARGO_TARGET_DIR defaults to ~/.cache/vigil/target, outside the clone)
#   3. starts a real Apache Kafka broker on 127.0.0.1:9092 (scripts/kafka.sh) and always stops it on exit
#   4. runs `cargo test --workspace --all-targets --features vigil-tests/broker`, then the doc tests
# Exits non-zero if anything fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$PWD"

section() { printf '\n==================== %s ====================\n' "$*"; }
die() { echo "test.sh: ERROR: $*" >&2; exit 1; }

# --------------------------------------------------------------------------------------------------
section "toolchain"

java_major() { # $1 = java binary; prints the major version or nothing
  local ver
  ver="$("$1" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')" || return 0
  if [[ "$ver" == 1.* ]]; then echo "$ver" | cut -d. -f2; else echo "${ver%%.*}"; fi
}

have_java17() {
  local java=""
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    java="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    java="$(command -v java)"
  fi
  [[ -n "$java" ]] || return 1
  local major
  major="$(java_major "$java")"
  [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 17))
}

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
have_java17 || missing+=(openjdk-17-jdk-headless)
# headless Chromium for the dashboard test (tests/broker_alerts.rs)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if ((${#missing[@]})); then
  echo "installing missing packages: ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}; run as root or install them"
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# A Java older than 17 may still be first on PATH: point JAVA_HOME at the 17 we installed.
if ! have_java17; then
  for jh in /usr/lib/jvm/java-17-openjdk-*; do
    if [[ -x "$jh/bin/java" ]]; then export JAVA_HOME="$jh"; break; fi
  done
  have_java17 || die "Java 17+ not found even after installing openjdk-17-jdk-headless"
fi

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck disable=SC1091
  source "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}"
mkdir -p "$CARGO_TARGET_DIR"

echo "cargo:  $(cargo --version)"
echo "rustc:  $(rustc --version)"
echo "cmake:  $(cmake --version | head -n1)"
echo "g++:    $(g++ --version | head -n1)"
echo "java:   $( { if [[ -n "${JAVA_HOME:-}" ]]; then "$JAVA_HOME/bin/java" -version; else java -version; fi; } 2>&1 | head -n1)"
echo "mvn:    $(mvn -v 2>/dev/null | head -n1 | sed 's/\x1b\[[0-9;]*m//g')"
echo "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"

TEST_ARGS=(--workspace --all-targets --features vigil-tests/broker)

# --------------------------------------------------------------------------------------------------
# Build first, so the broker does not compete with the compiler for the CPU (and a build error fails fast).
section "build tests: cargo test ${TEST_ARGS[*]} --no-run"
cargo test "${TEST_ARGS[@]}" --no-run
# the fault-injection tests kill and restart the real `vigil` binary
# (same features as the tests, so nothing is compiled twice)
section "build the vigil binary: cargo build ${TEST_ARGS[*]}"
cargo build "${TEST_ARGS[@]}"
export VIGIL_BIN="$CARGO_TARGET_DIR/debug/vigil"

# --------------------------------------------------------------------------------------------------
section "start Kafka broker (scripts/kafka.sh)"
stop_broker() {
  local rc=$?
  section "stop Kafka broker"
  bash "$REPO_ROOT/scripts/kafka.sh" stop || echo "test.sh: WARNING: stopping the broker failed" >&2
  if [[ -n "${SUMMARY:-}" ]]; then echo "$SUMMARY"; fi
  exit "$rc"
}
trap stop_broker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash scripts/kafka.sh start
export VIGIL_BROKERS=127.0.0.1:9092
echo "VIGIL_BROKERS=$VIGIL_BROKERS"

# --------------------------------------------------------------------------------------------------
status=0

RESULTS="$(mktemp)"
run_tests() { # tee cargo's output so the totals can be summed; keep cargo's exit status
  cargo test "$@" 2>&1 | tee -a "$RESULTS"
  return "${PIPESTATUS[0]}"
}

section "cargo test ${TEST_ARGS[*]}"
run_tests "${TEST_ARGS[@]}" || status=$?

section "cargo test --workspace --doc"
run_tests --workspace --doc || { rc=$?; ((status)) || status=$rc; }

section "result"
if ((status == 0)); then
  echo "test.sh: all tests passed"
else
  echo "test.sh: FAILED (cargo exit status $status)"
fi
# The totals are printed last, after the broker stopped (see stop_broker).
SUMMARY="$(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped", p, f, g }' "$RESULTS")"
rm -f "$RESULTS"
exit "$status"
