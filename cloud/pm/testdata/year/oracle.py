#!/usr/bin/env python3
"""Independent oracle for the calendar cases of TestYear: expands each
case's RRULE with python-dateutil (not Frostline's parser), applies the
store calendar, and simulates the generator's ticks (lead time, grace,
downtime, catch-up) to write want.txt. Runtime cases are worked by hand in
their want.txt. Run: python3 oracle.py"""
import json, os, datetime as dt
from dateutil import rrule

ASSETS = {"s1": {"wic1": "walk_in_cooler", "dc1": "display_case_mt", "dc2": "display_case_mt",
                 "rtu1": "rooftop_unit", "rack1": "compressor_rack", "wif1": "walk_in_freezer"},
          "s2": {"wic2": "walk_in_cooler"}}

def ts(s): return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
def dur(s):
    days, rest = 0, s
    if "d" in s: d, rest = s.split("d", 1); days = int(d)
    h = int(rest[:-1]) if rest.endswith("h") else 0
    return dt.timedelta(days=days, hours=h)

def targets(s):
    if s.get("asset"): return [(s["site"], s["asset"])]
    return [(site, a) for site, assets in sorted(ASSETS.items()) for a, c in sorted(assets.items())
            if c == s["asset_class"] and (not s.get("site") or s["site"] == site)]

def adjust(cal, t):
    if not cal: return t
    wd = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    def closed(x):
        d = x.date().isoformat()
        if wd[x.weekday()] in cal.get("closed_weekdays", []): return True
        if d in cal.get("closed_dates", []): return True
        return any(b["from"] <= d <= b["to"] for b in cal.get("blackouts", []))
    if not closed(t): return t
    if cal.get("policy") == "skip": return None
    for i in range(1, 367):
        n = t + dt.timedelta(days=i)
        if not closed(n): return n
    return None

for case in sorted(os.listdir(".")):
    path = os.path.join(case, "case.json")
    if not os.path.exists(path): continue
    c = json.load(open(path))
    s = c["schedule"]
    if "rrule" not in s: continue
    start = ts(s["start"])
    rule = rrule.rrulestr(s["rrule"], dtstart=start)
    occs = []
    for t in rule.between(start - dt.timedelta(seconds=1), ts("2028-01-01T00:00:00Z"), inc=True):
        a = adjust(c.get("calendar"), t)
        if a is not None: occs.append((t, a))
    lead, grace, every = dur(s["lead_time"]), dur(c["grace"]), dur(c["every"])
    down = [(ts(d["from"]), ts(d["to"])) for d in c.get("down", [])]
    got = {}
    now, end = ts(c["from"]), ts(c["to"])
    while now < end:
        if not any(f <= now < t for f, t in down):
            for key, due in occs:
                if now - grace <= due <= now + lead: got[key] = due
            lo = max(start, now - dt.timedelta(days=400))
            missed = [(k, d) for k, d in occs if lo <= d < now - grace]
            if missed and s.get("catch_up") == "one":
                k, d = missed[-1]; got[k] = d
        now += every
    with open(os.path.join(case, "want.txt"), "w") as f:
        for site, asset in targets(s):
            for key, due in sorted(got.items(), key=lambda kv: kv[1]):
                f.write("%s %s %s %s\n" % (site, asset, key.strftime("%Y-%m-%dT%H:%M"), due.strftime("%Y-%m-%dT%H:%M:%SZ")))
