#!/usr/bin/env python3
"""check_json.py PLUGVISOR PLUGIN --exit CODE [--expect ID STATUS]... [--rule ID TEXT]... [--saw ID TEXT]...

Runs `plugvisor validate --json PLUGIN` and checks the document against
docs/cli.md: the counts, one entry per check with id, status, rule, section,
must and saw, an empty `saw` for a pass and a non-empty one otherwise, the
counts matching the entries, and the exit code. --expect ID STATUS: check ID
is reported with STATUS. --rule / --saw ID TEXT: TEXT occurs in that check's
`rule` (what docs/protocol.md requires) or `saw` (what the checker observed).
"""
import argparse
import json
import subprocess
import sys

STATUSES = {"PASS", "FAIL", "WARN", "SKIP", "N/A"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("plugvisor")
    parser.add_argument("plugin")
    parser.add_argument("--exit", type=int, required=True, dest="exit_code")
    parser.add_argument("--expect", nargs=2, action="append", default=[], metavar=("ID", "STATUS"))
    parser.add_argument("--rule", nargs=2, action="append", default=[], metavar=("ID", "TEXT"))
    parser.add_argument("--saw", nargs=2, action="append", default=[], metavar=("ID", "TEXT"))
    args = parser.parse_args()

    run = subprocess.run([args.plugvisor, "validate", "--json", args.plugin], capture_output=True, text=True,
                         timeout=300)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    problems = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    try:
        doc = json.loads(run.stdout)
    except json.JSONDecodeError as e:
        print(f"check_json: stdout is not one JSON document: {e}", file=sys.stderr)
        return 1
    expect(isinstance(doc, dict), "the document is not an object")
    if not isinstance(doc, dict):
        doc = {}
    expect(doc.get("plugin") == args.plugin, f"plugin is {doc.get('plugin')!r}, not {args.plugin!r}")
    for key in ("passed", "failed", "warnings", "skipped", "notApplicable"):
        expect(type(doc.get(key)) is int, f"{key} is not an integer: {doc.get(key)!r}")
    checks = doc.get("checks")
    expect(isinstance(checks, list) and checks, "checks is not a non-empty array")
    checks = checks if isinstance(checks, list) else []

    by_id = {}
    counts = {"passed": 0, "failed": 0, "warnings": 0, "skipped": 0, "notApplicable": 0}
    for i, check in enumerate(checks):
        where = f"checks[{i}]"
        if not isinstance(check, dict):
            problems.append(f"{where} is not an object")
            continue
        expect(set(check) == {"id", "status", "rule", "section", "must", "saw"},
               f"{where} has the members {sorted(check)}")
        cid, status = check.get("id"), check.get("status")
        expect(isinstance(cid, str) and cid, f"{where}: id {cid!r}")
        where = f"check {cid}"
        expect(status in STATUSES, f"{where}: status {status!r}")
        expect(isinstance(check.get("rule"), str) and check.get("rule"), f"{where}: rule {check.get('rule')!r}")
        section = check.get("section")
        expect(isinstance(section, str) and section.startswith("§"), f"{where}: section {section!r}")
        must = check.get("must")
        expect(isinstance(must, bool), f"{where}: must {must!r}")
        saw = check.get("saw")
        expect(isinstance(saw, str), f"{where}: saw {saw!r}")
        if status == "PASS":
            expect(saw == "", f"{where} passed but saw is {saw!r}")
            counts["passed"] += 1
        else:
            expect(isinstance(saw, str) and saw != "", f"{where} is {status} without saying what it saw")
        if status == "FAIL":
            expect(must is True, f"{where} is FAIL but not a MUST")
            counts["failed"] += 1
        if status == "WARN":
            expect(must is False, f"{where} is WARN but a MUST")
            counts["warnings"] += 1
        if status == "SKIP":
            counts["skipped"] += 1
        if status == "N/A":
            counts["notApplicable"] += 1
        if isinstance(cid, str):
            by_id.setdefault(cid, []).append(check)
    for key, n in counts.items():
        expect(doc.get(key) == n, f"{key} is {doc.get(key)!r}, but {n} checks say so")
    # One entry per check, except K12: one per declared type.
    for cid, entries in by_id.items():
        expect(len(entries) == 1 or cid == "K12", f"check {cid} is reported {len(entries)} times")

    def the(cid: str) -> dict:
        entries = by_id.get(cid)
        if not entries:
            problems.append(f"check {cid} is not reported")
            return {}
        return entries[0]

    for cid, status in args.expect:
        got = the(cid).get("status")
        expect(got in (None, status), f"check {cid} is {got}, expected {status}")
    for member, pairs in (("rule", args.rule), ("saw", args.saw)):
        for cid, text in pairs:
            got = the(cid).get(member)
            expect(got is None or text in got, f"the {member} of {cid} does not contain {text!r}: {got!r}")
    expect(run.returncode == args.exit_code, f"exit code {run.returncode}, expected {args.exit_code}")
    expected_exit = 1 if counts["failed"] + counts["skipped"] else 0
    expect(run.returncode == expected_exit,
           f"exit code {run.returncode} with {counts['failed']} failed and {counts['skipped']} skipped")

    for p in problems:
        print(f"check_json: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
