# SPDX-License-Identifier: MIT
"""Final table of the interop suite: per dialect and direction, how many
checklist items (spec 6) passed, failed, are known libsaq bugs (strict
xfail), were skipped, or are not applicable (with a written reason in
checklist.py).

    python summary.py report-0.26.json report-0.13.json

Exit status 1 when a checklist item failed, when a report is missing, or when
an (item, direction) has neither a test nor a written reason."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checklist import (DIALECT_ONLY, DIALECT_ONLY_REASON, DIRECTIONS, ITEMS, NOT_TESTED,  # noqa: E402
                       PARTIAL, reason_for)

RANK = {"failed": 4, "xpassed": 4, "xfailed": 3, "passed": 1, "skipped": 0}


def worst_per_test(results: list[dict]) -> dict[str, dict]:
    worst: dict[str, dict] = {}
    for r in results:
        prev = worst.get(r["test"])
        if prev is None or RANK[r["outcome"]] > RANK[prev["outcome"]]:
            worst[r["test"]] = r
    return worst


def merge_results(results: list[dict]) -> dict[tuple[int, str], str]:
    """(item, direction) -> passed / failed / xfail / skipped. A failure (or
    a strict xfail that passed) wins, then xfail, then pass."""
    per: dict[tuple[int, str], list[str]] = defaultdict(list)
    for r in worst_per_test(results).values():
        for it in r["items"]:
            per[(it, r["direction"])].append(r["outcome"])
    final = {}
    for k, outs in per.items():
        if any(o in ("failed", "xpassed") for o in outs):
            final[k] = "failed"
        elif "xfailed" in outs:
            final[k] = "xfail"
        elif "passed" in outs:
            final[k] = "passed"
        else:
            final[k] = "skipped"
    return final


def cells(report: dict) -> tuple[dict, list[str]]:
    """Every (item, direction) of the checklist with its outcome, 'n/a' when
    not tested with a reason, 'MISSING' otherwise."""
    dialect = report["dialect"]
    final = merge_results(report["results"])
    out, problems = {}, []
    for item in ITEMS:
        only = DIALECT_ONLY.get(item)
        for d in DIRECTIONS:
            if only and only != dialect:
                out[(item, d)] = "n/a"
                continue
            o = final.get((item, d))
            if o == "skipped" and reason_for(item, d, dialect):
                o = "n/a"  # skipped in this dialect, for a written reason
            if o is None:
                if reason_for(item, d, dialect):
                    o = "n/a"
                else:
                    o = "MISSING"
                    problems.append(f"dialect {dialect}: item {item} direction {d} has no test and no reason")
            out[(item, d)] = o
    return out, problems


def main(paths: list[str]) -> int:
    rc = 0
    reports = []
    for p in paths:
        if not Path(p).exists():
            print(f"missing report {p} (that dialect's pytest run did not finish)")
            rc = 1
            continue
        reports.append(json.loads(Path(p).read_text()))
    print()
    print("Interop conformance: checklist items of spec 6 (54 items), per dialect and direction")
    print("(xfail = known libsaq bug, strict xfail; n/a = not applicable, reason in checklist.py / README)")
    print()
    hdr = f"{'dialect':8} {'saq':7} {'direction':15} {'passed':>6} {'failed':>6} {'xfail':>6} {'skipped':>7} {'n/a':>4}"
    print(hdr)
    print("-" * len(hdr))
    all_problems = []
    for rep in reports:
        c, problems = cells(rep)
        all_problems += problems
        for d in DIRECTIONS:
            n = defaultdict(int)
            for (item, dd), o in c.items():
                if dd == d:
                    n[o] += 1
            print(f"{rep['dialect']:8} {rep['saq']:7} {d:15} {n['passed']:>6} {n['failed']:>6} {n['xfail']:>6} "
                  f"{n['skipped']:>7} {n['n/a']:>4}")
            if n["failed"] or n["MISSING"]:
                rc = 1
        items_ok = sum(1 for item in ITEMS
                       if any(c[(item, d)] == "passed" for d in DIRECTIONS)
                       and not any(c[(item, d)] == "failed" for d in DIRECTIONS))
        applicable = sum(1 for item in ITEMS if any(c[(item, d)] != "n/a" for d in DIRECTIONS))
        print(f"{rep['dialect']:8} {'':7} {'items passing':15} {items_ok:>6} of {applicable} applicable "
              f"in every tested direction (+{len(ITEMS) - applicable} not applicable in this dialect)")
        print()
    # tests of saq bugs (spec 7) and scenarios, and every non-passing test
    for rep in reports:
        worst = worst_per_test(rep["results"])
        bugs = defaultdict(list)
        scen = []
        bad = []
        for r in worst.values():
            for b in r.get("bug", []):
                bugs[b].append(r["outcome"])
            if r.get("scenario"):
                scen.append((r["scenario"], r["outcome"]))
            if r["outcome"] in ("failed", "xpassed"):
                bad.append(f"  FAILED {r['test']}")
            elif r["outcome"] == "xfailed":
                bad.append(f"  xfail  {r['test']}: {r['xfail_reason']}")
        print(f"dialect {rep['dialect']}: saq bugs fixed by libsaq (spec 7): " +
              ", ".join(f"{b} {'ok' if all(o == 'passed' for o in os_) else '/'.join(sorted(set(os_)))}"
                        for b, os_ in sorted(bugs.items())))
        for name, o in scen:
            print(f"dialect {rep['dialect']}: scenario '{name}': {o}")
            if o not in ("passed",):
                rc = 1
        for line in sorted(bad):
            print(line)
        print()
    for p in all_problems:
        print("ERROR:", p)
    if all_problems:
        rc = 1
    only = [f"item {i}: {DIALECT_ONLY_REASON[i]}" for i in sorted(DIALECT_ONLY)]
    print("dialect-only items: " + "; ".join(only))
    return rc


def print_reasons() -> None:
    """The not-applicable table (Markdown), as kept in README.md."""
    print("| item | direction | dialect | reason |")
    print("|---|---|---|---|")
    for (item, d), r in sorted(NOT_TESTED.items()):
        if isinstance(r, dict):
            for dialect, rr in sorted(r.items()):
                print(f"| {item} | {d} | {dialect} | {rr} |")
        else:
            print(f"| {item} | {d} | both | {r} |")
    for item, r in sorted(DIALECT_ONLY_REASON.items()):
        other = "0.26" if DIALECT_ONLY[item] == "0.13" else "0.13"
        print(f"| {item} | all | {other} | {r} |")
    print()
    print("| item | part not testable across the line |")
    print("|---|---|")
    for item, r in sorted(PARTIAL.items()):
        print(f"| {item} | {r} |")


if __name__ == "__main__":
    if sys.argv[1:] == ["--reasons"]:
        print_reasons()
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
