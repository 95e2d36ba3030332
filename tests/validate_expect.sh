#!/bin/sh
# validate_expect.sh PLUGVISOR PLUGIN STATUS ID EXIT [--rule TEXT | --saw TEXT]...
# Runs `plugvisor validate PLUGIN` and passes if check ID is reported with
# STATUS (PASS, FAIL, WARN, SKIP, N/A) and the command exits with EXIT.
# A check reported other than PASS must cite its section of protocol.md and
# be followed by its `saw: ...` line. Each --rule TEXT must occur in the
# check's line (what the document requires), each --saw TEXT in its saw line
# (what the checker observed): fixed strings, compared as they are.
plugvisor=$1 plugin=$2 status=$3 id=$4 expected_exit=$5
shift 5
out=$("$plugvisor" validate "$plugin")
rc=$?
printf '%s\n' "$out"
fail() {
  echo "validate_expect: $*" >&2
  exit 1
}
# The check's line with that status (K12 has one per declared type: the
# first), and the line after it if that is its saw line.
word=$(printf '%-4s' "$status")  # statuses are printed 4 wide ("N/A ")
line=$(printf '%s\n' "$out" | grep -m1 "^$word  $id ")
[ -n "$line" ] || fail "expected check $id to be reported as $status"
[ "$id" = K12 ] || [ "$(printf '%s\n' "$out" | grep -c "^[A-Z/]* *  $id ")" -eq 1 ] ||
  fail "check $id is reported more than once"
saw=$(printf '%s\n' "$out" | grep -m1 -A1 "^$word  $id " | sed -n '2{/^ *saw: /p}')
if [ "$status" != PASS ]; then
  case $line in
    *"[protocol.md §"*"]") ;;
    *) fail "the $status line of $id does not cite protocol.md: $line" ;;
  esac
  [ -n "$saw" ] || fail "the $status line of $id is not followed by a saw: line"
fi
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || fail "usage: --rule TEXT or --saw TEXT"
  case $1 in
    --rule) where=$line what="rule of $id" ;;
    --saw) where=$saw what="saw line of $id" ;;
    *) fail "unknown option $1" ;;
  esac
  case $where in
    *"$2"*) ;;
    *) fail "expected the $what to contain \"$2\"; it reads: $where" ;;
  esac
  shift 2
done
if [ "$rc" -ne "$expected_exit" ]; then
  fail "expected exit code $expected_exit, got $rc"
fi
