#!/bin/sh
# validate_expect.sh PLUGVISOR PLUGIN STATUS ID EXIT
# Runs `plugvisor validate PLUGIN` and passes if check ID is reported with
# STATUS (PASS, FAIL, WARN) and the command exits with EXIT.
plugvisor=$1 plugin=$2 status=$3 id=$4 expected_exit=$5
out=$("$plugvisor" validate "$plugin")
rc=$?
printf '%s\n' "$out"
if ! printf '%s\n' "$out" | grep -q "^$status  $id "; then
  echo "expected check $id to be reported as $status" >&2
  exit 1
fi
if [ "$rc" -ne "$expected_exit" ]; then
  echo "expected exit code $expected_exit, got $rc" >&2
  exit 1
fi
