"""Summarise kosoku/Autobahn index.json files and compare them with the expected results.

    check.py INDEX.json... EXPECTED.json

Exit status 1 when a case is neither OK nor INFORMATIONAL, or when any case's
outcome differs from expected.json (set UPDATE=1 to rewrite that file).
"""
import collections
import json
import os
import sys

ACCEPTED = {"OK", "INFORMATIONAL"}


def outcomes(index_path):
    with open(index_path) as f:
        index = json.load(f)
    (agent,) = index.values()
    return {case: [r["behavior"], r["behaviorClose"]] for case, r in agent.items()}


def case_key(case):
    return [int(part) for part in case.split(".")]


def main(index_paths, expected_path):
    got = {}
    for index_path in index_paths:
        got.update(outcomes(index_path))
    counts = collections.Counter(b for pair in got.values() for b in pair[:1])
    print(f"{len(got)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    bad = sorted((c for c, pair in got.items() if not set(pair) <= ACCEPTED), key=case_key)
    for case in bad:
        print(f"  {case}: behavior {got[case][0]}, close {got[case][1]}")
    if os.environ.get("UPDATE") == "1":
        with open(expected_path, "w") as f:
            json.dump(dict(sorted(got.items(), key=lambda kv: case_key(kv[0]))), f, indent=1)
            f.write("\n")
        print(f"wrote {expected_path}")
    with open(expected_path) as f:
        expected = json.load(f)
    changed = sorted(set(got) ^ set(expected), key=case_key)
    changed += sorted((c for c in got if c in expected and got[c] != expected[c]), key=case_key)
    for case in changed:
        print(f"  {case}: expected {expected.get(case)}, got {got.get(case)}")
    if bad or changed:
        print("conformance FAILED")
        return 1
    print("conformance OK: no FAILED, NON-STRICT or UNIMPLEMENTED case; matches expected.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:-1], sys.argv[-1]))
