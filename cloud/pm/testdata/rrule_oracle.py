#!/usr/bin/env python3
"""Writes rrule.txt: for each rule and DTSTART, the occurrences in 2026-2027
(at most 40) as python-dateutil expands them. TestRRuleOracle checks
Frostline's parser and expansion against it. Run: python3 rrule_oracle.py"""
import datetime as dt
from dateutil import rrule
CASES = [
    ("FREQ=DAILY", "2026-03-01T08:00:00Z"),
    ("FREQ=DAILY;INTERVAL=10;COUNT=5", "2026-01-31T23:30:00Z"),
    ("FREQ=DAILY;BYDAY=MO,WE,FR;BYMONTH=2", "2026-01-01T06:00:00Z"),
    ("FREQ=DAILY;BYMONTHDAY=1,15,-1;UNTIL=20260701", "2026-01-01T06:00:00Z"),
    ("FREQ=WEEKLY", "2026-01-07T10:00:00Z"),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA", "2026-01-08T10:00:00Z"),
    ("FREQ=WEEKLY;BYDAY=SU;BYMONTH=6,7,8", "2026-01-01T05:00:00Z"),
    ("FREQ=WEEKLY;INTERVAL=3;COUNT=7", "2026-12-30T00:00:00Z"),
    ("FREQ=MONTHLY", "2026-01-31T09:00:00Z"),
    ("FREQ=MONTHLY;INTERVAL=1", "2026-02-10T09:00:00Z"),
    ("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1", "2026-01-15T09:00:00Z"),
    ("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-01T18:00:00Z"),
    ("FREQ=MONTHLY;BYDAY=1MO", "2026-01-01T07:00:00Z"),
    ("FREQ=MONTHLY;BYDAY=-1FR;COUNT=10", "2026-01-01T07:00:00Z"),
    ("FREQ=MONTHLY;BYDAY=2TU,4TU", "2026-01-01T07:00:00Z"),
    ("FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=1,2,3,4,5,6,7", "2026-01-01T07:00:00Z"),
    ("FREQ=MONTHLY;BYMONTHDAY=31", "2026-01-01T07:00:00Z"),
    ("FREQ=MONTHLY;BYMONTH=3,9;BYMONTHDAY=15", "2026-01-01T07:00:00Z"),
    ("FREQ=YEARLY", "2024-02-29T12:00:00Z"),
    ("FREQ=YEARLY;BYMONTH=4,10;BYDAY=1MO", "2026-01-01T06:30:00Z"),
    ("FREQ=YEARLY;BYMONTH=11;BYDAY=-1TH", "2026-01-01T06:30:00Z"),
    ("FREQ=YEARLY;INTERVAL=2;BYMONTH=5;BYMONTHDAY=20", "2025-01-01T06:30:00Z"),
    ("FREQ=YEARLY;BYMONTH=1,7;UNTIL=20270101T000000Z", "2026-03-05T06:30:00Z"),
]
lo = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
hi = dt.datetime(2028, 1, 1, tzinfo=dt.timezone.utc)
with open("rrule.txt", "w") as f:
    f.write("# rule | dtstart | occurrences in [2026, 2028), at most 40 (python-dateutil)\n")
    for rule, start in CASES:
        ds = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        r = rule.replace("UNTIL=20260701", "UNTIL=20260701T235959Z")
        occ = [t for t in rrule.rrulestr(r, dtstart=ds) if True and t >= lo and t < hi] if "COUNT" in r or "UNTIL" in r else list(rrule.rrulestr(r, dtstart=ds).between(lo, hi, inc=True))
        occ = occ[:40]
        f.write("%s | %s | %s\n" % (rule, start, " ".join(t.strftime("%Y-%m-%dT%H:%M") for t in occ)))
