#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Differential test: libsaq's cron parser against croniter (saq's parser).

Generates a seeded set of cron expressions (5, 6 and 7 fields, '*', lists,
ranges, wrap-around ranges, steps, names, 7 as Sunday, L / Ln / n#k / W,
both day fields restricted, Feb 29/30/31, invalid ones) with start times
between 1970 and 2099, and compares, for each, whether it is accepted and
its next N fire times (UTC) as croniter 7.0.0 computes them (exactly as saq
0.26.3 calls it: croniter.is_valid(expr), croniter(expr, start).get_next())
with what tests/cron/cron-next (linked with libsaq's src/cron.c) prints.

Then the same in IANA time zones (saq's Worker(cron_tz=ZoneInfo(zone)):
croniter(expr, datetime.fromtimestamp(start, ZoneInfo(zone))).get_next(),
against cron-next's "TZ=zone" lines, evaluated by src/tz.cc from the system's
tz database, the files zoneinfo reads):
--zoned-count expressions biased to the small hours, each started a few
days before or after one of the zone's clock changes (spring-forward gaps
and fall-back overlaps) between 1975 and 2095, or at a random time; in
the zones of RECENT (rules changed after tz 2022e) mostly in 2022-2026.

  differential.py --cron-next PATH [--count 5000] [--seed 1] [--nexts 5]
                  [--zoned-count 3000] [--zones Z1,Z2,...]
                  [--show 20] [--dump FILE]

Exit status 0 when there is no difference. Runs itself in a virtual
environment with the pinned croniter (tests/cron/requirements.txt), created
when missing in $SAQ_CRON_VENV (default <repo>/.venv-cron). See README.md.
"""
import argparse
import hashlib
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQS = os.path.join(HERE, "requirements.txt")


def ensure_venv():
    """Re-exec under the pinned venv unless already running in it."""
    venv = os.environ.get("SAQ_CRON_VENV") or os.path.join(REPO, ".venv-cron")
    py = os.path.join(venv, "bin", "python")
    with open(REQS, "rb") as f:
        stamp = hashlib.sha256(f.read()).hexdigest()
    stamp_file = os.path.join(venv, ".cron-stamp")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    current = None
    if os.path.exists(stamp_file):
        with open(stamp_file) as f:
            current = f.read().strip()
    if not os.access(py, os.X_OK) or current != stamp:
        print(f"[differential] creating {venv} (croniter, pinned)", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", "--clear", venv])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               "-r", REQS], stdout=sys.stderr)
        with open(stamp_file, "w") as f:
            f.write(stamp + "\n")
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# field: (lo, hi as written, names, names' first value)
FIELDS = {
    "min": (0, 59, None),
    "hour": (0, 23, None),
    "dom": (1, 31, None),
    "mon": (1, 12, MONTHS),
    "dow": (0, 7, DAYS),
    "sec": (0, 59, None),
    "year": (1970, 2099, None),
}
ALIASES = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
JUNK = "*-/,#?lLwWxh0123456789 "
# croniter's random 'R' values: libsaq refuses them (README.md)
RANDOM_RE = re.compile(r"^r(\(\d+-\d+\))?(/\d+)?$", re.ASCII)


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.messy = True  # per expression: whether invalid parts may be generated

    def case(self, s):
        r = self.r.random()
        if r < 0.6:
            return s
        if r < 0.8:
            return s.upper()
        return "".join(c.upper() if self.r.random() < 0.5 else c for c in s)

    def num(self, f, wide=False):
        lo, hi, _ = FIELDS[f]
        r = self.r.random()
        if wide and self.messy and r < 0.06:  # out of range, around the edges
            return self.r.choice([lo - 1, hi + 1, hi + 2, 0, 99, 100]) if lo > 0 else \
                self.r.choice([hi + 1, hi + 2, 99])
        if f == "dom" and r < 0.25:
            return self.r.choice([28, 29, 30, 31])
        if f == "year" and r < 0.7:
            return self.r.randint(2015, 2080)
        return self.r.randint(lo, hi)

    def value(self, f, wide=True):
        _, _, names = FIELDS[f]
        v = self.num(f, wide)
        r = self.r.random()
        if names and r < 0.35:
            lo = 1 if f == "mon" else 0
            if lo <= v < lo + len(names):
                return self.case(names[v - lo])
        if r > 0.95 and v >= 0:
            return "0" + str(v)  # leading zero
        return str(v)

    def step(self):
        r = self.r.random()
        if r < 0.05 and self.messy:
            return self.r.choice(["0", "", "x", "00"])
        if r < 0.15:
            return str(self.r.choice([60, 100, 7, 13, 31, 24]))
        return str(self.r.randint(1, 12))

    def item(self, f):
        r = self.r.random()
        if r < 0.12:
            return "*"
        if r < 0.22:
            return "*/" + self.step()
        if r < 0.45:
            return self.value(f)
        if r < 0.75:  # range, sometimes reversed (wraps) or equal
            a, b = self.value(f), self.value(f)
            if f == "dom" and self.r.random() < 0.08:
                b = self.case("l")
            s = f"{a}-{b}"
            if self.r.random() < 0.45:
                s += "/" + self.step()
            return s
        if r < 0.85:
            return f"{self.value(f)}/{self.step()}"
        if f == "dom":
            c = self.r.random()
            if c < 0.5:
                return self.case("l")
            if c < 0.8:
                return self.case(self.r.choice([f"{self.num(f, True)}w", f"w{self.num(f, True)}"]))
            return self.r.choice(["?", "l5", "1#2", "lw"]) if self.messy else "l"
        if f == "dow":
            c = self.r.random()
            k = self.r.choice([1, 2, 3, 4, 5, 5, 0, 6, "05"])
            if c < 0.35:
                return f"{self.value(f)}#{k}"
            if c < 0.55:
                return self.case("l") + str(self.num(f, True))
            if c < 0.7:
                a, b = self.r.choice(DAYS), self.r.choice(DAYS)
                return self.case(f"{a}-{b}#{k}")
            if c < 0.8 and self.messy:
                return self.r.choice(["?", "l", "1#", "#2", "1-5#2", "jan#1", "1w"])
            return self.value(f)
        if not self.messy:
            return self.value(f)
        if self.r.random() < 0.5:
            return self.r.choice(["?", "l", "h", "1#2", "-1", "1-", "1-2-3", "1/2/3", "*/2/2",
                                  "*-5", "", "h/5", "r/5", "R(0-3)"])
        return "".join(self.r.choice(JUNK) for _ in range(self.r.randint(1, 4))).strip() or "*"

    def field(self, f):
        r = self.r.random()
        if r < 0.35:
            return "*"
        if r < 0.40 and f in ("dom", "dow"):
            return "?"
        n = 1 if r < 0.75 else self.r.randint(2, 4)
        return ",".join(self.item(f) for _ in range(n))

    def sparse(self):
        """Rare schedules: both day fields special, leap days, far years."""
        dom = self.r.choice(["29", "30", "31", "l", "29-31", "1", "15w", "w1", "31w", "*", "?",
                             "1-7", "8-14", "l,1"])
        dow = self.r.choice(["1#5", "0#5", "5#1", "l1", "l0", "mon#5,fri#5", "*", "?", "0",
                             "6", "1-5", "sat,sun", "sun-sat#5"])
        mon = self.r.choice(["2", "2,3", "*", "feb", "2-2", "12", "jan-feb", "4,6,9,11"])
        e = f"{self.r.choice(['0', '30'])} {self.r.choice(['0', '12'])} {dom} {mon} {dow}"
        if self.r.random() < 0.25:
            lo = self.r.randint(2000, 2099)
            e += f" 0 {self.r.choice([str(lo), f'{lo}-{self.r.randint(1970, 2099)}', f'*/{self.r.randint(2, 60)}', f'{lo}/{self.r.randint(3, 40)}'])}"
        return e

    def expr(self):
        self.messy = self.r.random() < 0.4
        r = self.r.random()
        if r < 0.08:
            return self.sparse()
        if r < 0.02:
            a = self.r.choice(ALIASES)
            return self.case(a) if self.r.random() < 0.9 else a + " "
        if r < 0.04:
            return " ".join(self.field("min") for _ in range(self.r.choice([1, 3, 4, 8])))
        names = ["min", "hour", "dom", "mon", "dow"]
        x = self.r.random()
        if x < 0.2:
            names.append("sec")
        elif x < 0.27:
            names += ["sec", "year"]
        fields = [self.field(f) for f in names]
        # bias toward sparse, interesting schedules: fix the fast fields now and then
        if self.r.random() < 0.5:
            fields[0] = self.r.choice(["0", "30", fields[0]])
        if self.r.random() < 0.4:
            fields[1] = self.r.choice(["0", "12", fields[1]])
        if len(fields) > 5 and self.r.random() < 0.5:
            fields[5] = self.r.choice(["0", fields[5]])
        sep = " " if self.r.random() < 0.9 else self.r.choice(["  ", "\t", " \t "])
        s = sep.join(fields)
        if self.r.random() < 0.03:
            s = self.r.choice([" ", "\t", "\n"]) + s + self.r.choice([" ", "\n", ""])
        return s

    def start(self):
        r = self.r.random()
        t = self.r.randint(0, 4102444799)  # 1970 .. 2099
        if r < 0.3:
            return t - t % 60 + self.r.choice([0, 59, 30])
        if r < 0.45:  # near a month end / leap day / year end
            import calendar
            y = self.r.randint(1970, 2098)
            m = self.r.randint(1, 12)
            d = calendar.monthrange(y, m)[1]
            base = calendar.timegm((y, m, d, 23, 59, 0))
            return base + self.r.choice([-86400, 0, 59, 60, -1])
        return t


ZONES = "America/New_York,Europe/London,Australia/Lord_Howe,America/Mexico_City,America/Ciudad_Juarez"
# Zones whose rules changed after tz 2022e (the data ICU 72 carries): Mexico
# dropped summer time from October 2022, America/Ciudad_Juarez was split off
# in 2022g. Most of their starts fall in these years, where old data differs.
RECENT = {"America/Mexico_City": (2022, 2026), "America/Ciudad_Juarez": (2022, 2026)}


class ZonedGen:
    """Starts around a zone's clock changes, and expressions that hit them."""

    def __init__(self, gen, zones):
        self.g, self.r, self.zones = gen, gen.r, zones
        self.cache = {}

    def changes(self, zone, year):
        """The instants (epoch seconds) where zone's UTC offset changes in year."""
        key = (zone, year)
        if key in self.cache:
            return self.cache[key]
        import calendar
        from datetime import datetime
        from zoneinfo import ZoneInfo
        tz = ZoneInfo(zone)

        def off(t):
            return datetime.fromtimestamp(t, tz).utcoffset()

        out = []
        t = calendar.timegm((year, 1, 1, 0, 0, 0))
        end = calendar.timegm((year + 1, 1, 1, 0, 0, 0))
        while t < end:
            if off(t) != off(t + 86400):
                lo, hi = t, t + 86400  # off(lo) != off(hi): bisect to the second
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if off(mid) == off(lo):
                        lo = mid
                    else:
                        hi = mid
                out.append(hi)
            t += 86400
        self.cache[key] = out
        return out

    def start(self, zone):
        if zone in RECENT and self.r.random() < 0.7:
            import calendar
            y0, y1 = RECENT[zone]
            return self.r.randint(calendar.timegm((y0, 1, 1, 0, 0, 0)), calendar.timegm((y1 + 1, 1, 1, 0, 0, 0)))
        if self.r.random() < 0.85:
            for _ in range(5):
                ch = self.changes(zone, self.r.randint(1975, 2095))
                if ch:
                    t = self.r.choice(ch) + self.r.randint(-3 * 86400, 86400)
                    return t - t % 60 + self.r.choice([0, 0, 30, 59]) if self.r.random() < 0.5 else t
        return self.g.start()

    def hour(self):
        return self.r.choice(["0", "1", "2", "3", "1-3", "0-2", "2,3", "*", "*", "*/2",
                              "1,2", "23", "0-23/3", "2-4"])

    def minute(self):
        return self.r.choice(["0", "30", "15", "45", "*/15", "*/20", "*/7", "*", "0,30",
                              "59", "10-40/10", "5"])

    def expr(self):
        r = self.r.random()
        if r < 0.25:  # the generic generator's expressions
            return self.g.expr()
        dom = self.r.choice(["*", "*", "*", "?", "8-14", "1-7", "l", "25-31", "1,15"])
        dow = self.r.choice(["*", "*", "*", "?", "0", "sun", "6", "1-5", "0#2", "l0", "sun#1"])
        if "#" in dow or dow.startswith("l"):
            dom = self.r.choice(["*", "?"])
        mon = self.r.choice(["*", "*", "*", "3", "10", "3,10,11", "4", "9-11", "3-4"])
        e = f"{self.minute()} {self.hour()} {dom} {mon} {dow}"
        if self.r.random() < 0.2:
            e += " " + self.r.choice(["0", "30", "*/20", "59", "*"])
        return e


def croniter_run(expr, start, nexts, zone=None):
    """What saq does with expr: is_valid, then consecutive get_next()."""
    from croniter import croniter, CroniterBadDateError
    if not croniter.is_valid(expr):
        return None
    out = []
    try:
        if zone:
            from datetime import datetime
            from zoneinfo import ZoneInfo
            start = datetime.fromtimestamp(start, ZoneInfo(zone))
        it = croniter(expr, start)
        for _ in range(nexts):
            out.append(int(it.get_next()))
    except CroniterBadDateError:
        out.append("-")
    return out


def escape(s):
    return (s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\v", "\\v").replace("\f", "\\f"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cron-next", required=True, help="path of the cron-next tool")
    ap.add_argument("--count", type=int, default=5000, help="expressions to compare")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nexts", type=int, default=5, help="fire times compared per expression")
    ap.add_argument("--show", type=int, default=20, help="differences to print")
    ap.add_argument("--dump", help="write every difference to this file")
    ap.add_argument("--expr", action="append", help="compare these (with --start) instead")
    ap.add_argument("--start", type=int, default=1704067200)
    ap.add_argument("--zone", help="with --expr: evaluate in this IANA zone")
    ap.add_argument("--zoned-count", type=int, default=3000,
                    help="expressions compared in time zones, around their clock changes")
    ap.add_argument("--zones", default=ZONES, help="comma-separated IANA zones")
    a = ap.parse_args()

    import croniter as croniter_mod
    t0 = time.monotonic()
    g = Gen(a.seed)
    if a.expr:
        cases = [(e, a.start, a.zone) for e in a.expr]
    else:
        cases = [(g.expr(), g.start(), None) for _ in range(a.count)]
        zg, zones = ZonedGen(g, a.zones.split(",")), a.zones.split(",")
        for i in range(a.zoned_count):
            z = zones[i % len(zones)]
            cases.append((zg.expr(), zg.start(z), z))
    # croniter side
    want, skipped = [], 0
    for e, t, z in cases:
        if any(RANDOM_RE.match(tok) for tok in e.lower().split()):
            want.append("skip")
            skipped += 1
            continue
        want.append(croniter_run(e, t, a.nexts, z))
    # libsaq side, one process for all
    inp = "".join(f"{t} {a.nexts} {'TZ=' + z + ' ' if z else ''}{escape(e)}\n" for e, t, z in cases)
    res = subprocess.run([a.cron_next], input=inp, capture_output=True, text=True, check=True)
    got_lines = res.stdout.split("\n")[: len(cases)]
    if len(got_lines) != len(cases):
        print(f"cron-next printed {len(got_lines)} lines for {len(cases)} inputs", file=sys.stderr)
        return 2
    diffs = []
    accepted = refused = 0
    zoned = 0
    for (e, t, z), w, g_line in zip(cases, want, got_lines):
        if w == "skip":
            continue
        zoned += z is not None
        if g_line.startswith("ERR"):
            got, msg = None, g_line[4:]
        else:
            got = [x if x == "-" else int(x) for x in g_line.split()[1:]]
            msg = ""
        if w is None:
            refused += 1
        else:
            accepted += 1
        if w != got:
            diffs.append((e if z is None else f"{e} (in {z})", t, w, got, msg))
    dt = time.monotonic() - t0
    for e, t, w, got, msg in diffs[: a.show]:
        print(f"DIFF {e!r} start={t}\n  croniter: {'refused' if w is None else w}\n"
              f"  libsaq:   {'refused: ' + msg if got is None else got}")
    if a.dump:
        with open(a.dump, "w") as f:
            for e, t, w, got, msg in diffs:
                f.write(f"{e!r}\t{t}\t{w}\t{got}\t{msg}\n")
    print(f"cron differential: {len(cases)} expressions (seed {a.seed}, {a.nexts} fire times each, "
          f"croniter {croniter_mod.__version__ if hasattr(croniter_mod, '__version__') else '7.0.0'}): "
          f"{accepted} accepted and {refused} refused by croniter ({zoned} in time zones: {a.zones}), "
          f"{skipped} skipped (random R), "
          f"{len(diffs)} differences, {dt:.1f}s")
    return 1 if diffs else 0


if __name__ == "__main__":
    ensure_venv()
    sys.exit(main())
