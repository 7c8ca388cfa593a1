#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""No cycles between libsaq's source files (issue 13).

Reads the object files of the saq_internal archive with `nm`: file A depends
on file B when A uses a symbol B defines. Prints the dependency layers and
fails (exit 1) naming every cycle (a strongly connected set of files). Also
fails when an internal function is declared in another file's section of the
internal headers (src/internal.h, core.h, transition.h, worker.h: a section per file).
Usage: check-deps.py BUILD_DIR [--graph]"""
import os
import re
import subprocess
import sys


def objects(build):
    lib = os.path.join(build, "libsaq_internal.a")
    out = subprocess.run(["nm", "-A", "--defined-only", "-g", lib], capture_output=True, text=True, check=True).stdout
    defs = {}
    for line in out.splitlines():
        left, _, rest = line.rpartition(":")
        parts = rest.split()
        if len(parts) >= 3:
            defs.setdefault(parts[2], set()).add(left.rsplit(":", 1)[-1])
    out = subprocess.run(["nm", "-A", "-u", lib], capture_output=True, text=True, check=True).stdout
    uses = {}
    for line in out.splitlines():
        left, _, rest = line.rpartition(":")
        parts = rest.split()
        if parts and parts[0] == "U":
            uses.setdefault(left.rsplit(":", 1)[-1], set()).add(parts[1])
    return defs, uses


def misplaced(defs):
    """Declarations of saq__ functions outside the section of their file."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
    where = {sym: name(next(iter(objs))) for sym, objs in defs.items() if sym.startswith("saq__")}
    bad = []
    for h in ("internal.h", "core.h", "transition.h", "worker.h"):
        section = None
        for n, line in enumerate(open(os.path.join(src, h)), 1):
            m = re.match(r"/\* (?:-+ )?([a-z_]+\.c)\b", line)
            if m:
                section = m.group(1)
            if line.lstrip().startswith(("/*", "*")):
                continue
            for f in re.findall(r"\b(saq__[a-z0-9_]+)\s*\(", line):
                if section and f in where and where[f] != section:
                    bad.append(f"{h}:{n}: {f} is in the {section} section but defined in {where[f]}")
    return bad


def name(obj):
    return obj.replace(".c.o", ".c").replace(".o", "")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    defs, uses = objects(sys.argv[1])
    files = set()
    for s in defs.values():
        files |= s
    files |= set(uses)
    graph = {f: set() for f in files}
    for f, syms in uses.items():
        for s in syms:
            for d in defs.get(s, ()):
                if d != f:
                    graph[f].add(d)
    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = [c for c in sccs if len(c) > 1]
    if "--graph" in sys.argv:
        for f in sorted(graph):
            print(f"{name(f)} -> {' '.join(sorted(name(d) for d in graph[f]))}")
    # layers: a file's layer is one more than the highest of what it uses
    layer = {}

    def depth(v, seen=()):
        if v in layer:
            return layer[v]
        if v in seen:
            return 0
        layer[v] = 1 + max((depth(d, seen + (v,)) for d in graph[v]), default=-1)
        return layer[v]

    bad = misplaced(defs)
    for b in bad:
        print("MISPLACED: " + b)
    if not cycles and not bad:
        for v in graph:
            depth(v)
        for l in range(max(layer.values()) + 1):
            print(f"  layer {l}: {' '.join(sorted(name(f) for f in graph if layer[f] == l))}")
        print(f"OK: {len(graph)} source files, no dependency cycles, every declaration in its file's section")
        return 0
    if not cycles:
        return 1
    for c in cycles:
        print("CYCLE: " + " <-> ".join(sorted(name(f) for f in c)))
        for f in sorted(c):
            inside = sorted(name(d) for d in graph[f] if d in c)
            why = sorted(s for s in uses.get(f, ()) if any(d in c for d in defs.get(s, ())))
            print(f"    {name(f)} uses {', '.join(inside)}: {', '.join(why)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
