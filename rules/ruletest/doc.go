// Package ruletest runs rule unit tests: YAML files that give input series
// in a compact notation and the incident events the rules must (and must
// not) raise from them. It is `frostline rules test`, Frostline's
// `promtool test rules`: an FM who changes a rule's numbers, or writes a new
// rule, states the physics it must get right and checks it in seconds,
// without a recorded stream.
//
// # Test files
//
// A test file is named *.test.yaml. It is decoded strictly: an unknown
// field, a bad value, an unknown metric, asset or rule is an error, and
// every error is reported as "file:line:col: message".
//
//	# Rules files or folders, relative to this file. Without rule_files the
//	# tests run the built-in default pack.
//	rule_files: [../default]
//	# The site, inline, with the schema of a site file (rules.ParseSite);
//	# or site_file: path/to/site.yaml, relative to this file.
//	site:
//	  site: s1
//	  assets:
//	    - {id: c1, class: walk_in_cooler}
//	start: 2026-07-06T00:00:00Z   # step 0 of every series (default: this)
//	interval: 1m                  # the step (default 1m)
//	tests:
//	  - name: compressor failure opens a P1
//	    interval: 1m              # a test may override start and interval
//	    input:
//	      - {asset: c1, metric: air_temp, values: "3x60 3+0.1x120 15x60"}
//	      - {asset: c1, metric: defrost, values: "0x16", interval: 15m}
//	      - {asset: c1, metric: door_open, values: "closed openx20", offset: 30m}
//	    expect:                   # must happen, in this order
//	      - {event: opened, rule: chilled-no-cooling, asset: c1, priority: P2}
//	      - {event: updated, rule: chilled-no-cooling, priority: P1}
//	      - {event: opened, rule: chilled-product-temp-high, at: 1h50m, at_within: 10m}
//	    exact: false              # true: no opened or cleared event beyond those listed
//	    absent:                   # must not happen at all
//	      - {rule: temp-sensor-stuck}
//	    restart_at: [19h, 20h10m] # snapshot and restore the engine here
//	    pending: "..."            # known to fail, and why (see below)
//
// # Series
//
// A series gives one metric of one asset, one value per step, in the
// notation of promtool:
//
//	3 3.5 -2       plain numbers, one per step
//	3+0.1x4        3 3.1 3.2 3.3 3.4: a start, then N further steps of b
//	8-0.5x2        8 7.5 7
//	3x4            3 3 3 3 3: shorthand for 3+0x4 (N+1 values)
//	_   _x4        no sample for one step; for four steps (N, not N+1)
//	cool  coolx4   a word the metric knows: mode's off, cool, heat, fan,
//	               auto; a 0/1 metric's on, off, open, closed, true, false
//	(1x7 0x11)*16  a group repeated N times (Frostline's own): sixteen
//	               compressor cycles of 8 steps on, 12 off
//
// Mind the counts: "axN" is N+1 steps (a, then N more), as in promtool,
// while "_xN" is N steps and "(...)*N" is the group N times.
// Step k of a series is at start + offset + k*interval, where a series may
// set its own interval (a defrost signal reported every 15 min) and offset
// (a series that begins later). The test runs until the last step of its
// longest series, trailing `_` steps included: "3x30 _x60" is half an hour
// of readings, then an hour of silence.
//
// # Running
//
// Each test gets a fresh engine (rules.NewEngine with default options) and
// the test file's site. The samples of all series are merged in time order
// (a tie keeps the order of the input list) and fed to Engine.Observe;
// between samples, event time is advanced with Engine.Advance one interval
// at a time, as the edge's ticker does, so missing-data and state rules
// fire when nothing is reported. Event times are therefore exact to one
// interval on a silent stretch. At each restart_at offset the engine's state
// goes through Engine.Snapshot into a new engine (Engine.Restore), as when
// the edge agent restarts: a test then checks that episodes carry across.
//
// `frostline rules test -v` lists the events of passing tests too, which is
// how to see what the rules make of a new series before writing expect:.
//
// # Matching events
//
// An expect, or absent, entry matches an incident event on the fields it
// gives: event (opened, updated, cleared), rule, asset ("*" for site-wide
// incidents), problem, priority, trade, and at, the event's time as an
// offset from start, within at_within either way (exactly, by default).
// Expected events must occur in the order listed: each matches the first
// event after the one the previous entry matched. With exact: true, every
// opened and cleared event must be listed; updates (progress reports and
// escalations) are checked only where they are listed. An absent entry
// fails the test if any event matches it. Naming a rule that is not in the
// rule files, or one that does not apply to the named asset, is an error,
// so that a typo cannot make an absent: check pass for ever.
//
// A failing test prints the expectations that were not met (with the
// nearest event in time, for a missed at:), the events that should not
// have happened, and every opened, cleared and escalated event it got, its
// time as an offset from start.
//
// # Pending tests
//
// A test with pending: "reason" documents a case the rules get wrong today.
// It still runs: a failure is reported as PENDING and does not fail the
// run; a pass is reported as FIXED, to say the mark can go.
package ruletest
