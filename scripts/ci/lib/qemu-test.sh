# Sourced by the CI scripts that run Go tests under qemu-user. qemu_go_test ARGS... runs
# `go test ARGS...` (ARGS name the -exec wrapper and the packages) and passes or fails as
# it does, with one exception, for one known fault of the emulator:
#
# Debian 12's qemu-user (7.2) now and then leaves the child of a fork hanging inside qemu
# (a futex wait; seen in the exec source's tests: the child still the test binary, its
# stdout already on the test's pipe, never reaching execve or exit), and the test binary
# waits for it forever. So each package gets a test timeout of QEMU_TEST_TIMEOUT (8 min;
# the slowest takes about 80 s emulated), and when the only failures are such timeouts
# (no test failed before) and an emulated test binary was left behind after go test ended
# (the hung child: a test never leaves one), those packages run once more, with a notice.
# Every other failure fails, and so does the second run.
QEMU_TEST_TIMEOUT=${QEMU_TEST_TIMEOUT:-8m}

qemu_go_test() {
  local log rc retry
  log=$(mktemp)
  { go test -count=1 -timeout "$QEMU_TEST_TIMEOUT" "$@" && echo 0 >"$log.rc" || echo $? >"$log.rc"; } 2>&1 | tee "$log"
  rc=$(cat "$log.rc")
  rm -f "$log.rc"
  local hung=no
  qemu_reap_hung && hung=yes
  if [ "$rc" -eq 0 ]; then
    rm -f "$log"
    return 0
  fi
  # go test prints each package's output as one block ending in its ok/FAIL line. retry:
  # the packages that failed only by timing out; the awk fails if any failed otherwise.
  local parsed=no
  if retry=$(awk '
    /^(ok|FAIL|\?)[ \t]+[^ \t]+/ && $2 ~ /\// {
      if ($1 == "FAIL") {
        if (block ~ /panic: test timed out/ && block !~ /--- FAIL/) print $2
        else bad = 1
      }
      block = ""; next
    }
    { block = block "\n" $0 }
    END { exit bad }' "$log"); then
    parsed=yes
  fi
  rm -f "$log"
  if [ "$parsed" != yes ] || [ -z "$retry" ] || [ "$hung" != yes ]; then
    return "$rc" # a test failed, a build error, or a timeout with no child of qemu left hanging
  fi
  echo "qemu-user: a forked child hung inside qemu (qemu 7.2's fault, not a test's) in: $retry; running those once more"
  local args=() a
  for a in "$@"; do
    case "$a" in github.com/* | ./*) ;; *) args+=("$a") ;; esac
  done
  rc=0
  # shellcheck disable=SC2086
  go test -count=1 -timeout "$QEMU_TEST_TIMEOUT" "${args[@]}" $retry || rc=$?
  qemu_reap_hung || true
  return "$rc"
}

# qemu_reap_hung kills the emulated test binaries left behind (the hung children above),
# saying which; false when there were none.
qemu_reap_hung() {
  local pattern='^qemu-(aarch64|arm)-static .*/[^ /]+\.test( |$)'
  pgrep -f "$pattern" >/dev/null || return 1
  echo "qemu-user: emulated test binaries left behind, killed:"
  pgrep -a -f "$pattern" | cut -c1-200
  pkill -KILL -f "$pattern" || true
}
