package sqldb

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// TestStatements renders the package's one SQL form (statement.go): each
// case's statement is compared with testdata/statements/<name>.sql.
func TestStatements(t *testing.T) {
	pg := &Dialect{Name: "postgres", SkipLocked: " FOR UPDATE SKIP LOCKED"}
	lite := &Dialect{Name: "sqlite"}
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"insert", Insert{Table: "outbox", Columns: cols("subject, msg_id, data, at")}.SQL()},
		{"insert_rows", Insert{Table: "outbox", Columns: cols("subject, msg_id, data, at"), Rows: 3}.SQL()},
		{"do_nothing", Insert{Table: "processed", Columns: cols("key, at"), Conflict: cols("key"), DoNothing: true}.SQL()},
		{"do_nothing_any", Insert{Table: "wo_facts_daily", Columns: cols("day, site"), Select: "SELECT $1, f.site FROM wo_facts f WHERE 1 = 1 GROUP BY f.site", DoNothing: true}.SQL()},
		{"do_nothing_returning", Insert{Table: "processed", Columns: cols("key, at"), Rows: 2, Conflict: cols("key"), DoNothing: true, Returning: cols("key")}.SQL()},
		{"update", Insert{Table: "sites", Columns: cols("id, region, data"), Conflict: cols("id"), Update: cols("region, data")}.SQL()},
		{"update_where", Insert{Table: "wo_windows", Columns: cols("incident, event, seq, data"), Conflict: cols("incident, event"), Update: cols("seq, data"), Where: "wo_windows.seq < excluded.seq"}.SQL()},
		{"update_returning", Insert{Table: "incident_order", Columns: cols("incident, applied, held, at"), Rows: 2, Conflict: cols("incident"), Update: cols("at"), Returning: cols("incident, applied, held")}.SQL()},
		{"set", Insert{Table: "pm_runtime_daily", Columns: cols("site, asset, day, hours"), Conflict: cols("site, asset, day"), Set: []string{"hours = pm_runtime_daily.hours + excluded.hours"}}.SQL()},
		{"select", Insert{Table: "assets", Columns: cols("site, id, data"), Select: "SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM sites WHERE id = $1)", Conflict: cols("site, id"), Update: cols("data")}.SQL()},
		{"lease_postgres", pg.lease("webhook_deliveries", "webhook IN (SELECT id FROM webhooks WHERE active = 1)", cols("id, body"))},
		{"lease_sqlite", lite.lease("notifications", "", cols("id, body"))},
		{"update_appending", updateAppending("UPDATE workorders SET data = $2 WHERE id = $1 AND version = $3", 4, 2)},
		{"placeholders", "IN (" + placeholders(3, 4) + ") VALUES " + values(2, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "statements", tc.name+".sql")
			if *update {
				if err := os.WriteFile(path, []byte(tc.sql+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.sql + "\n"; got != string(want) {
				t.Errorf("%s:\n got %s\nwant %s", tc.name, got, want)
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden statements in testdata/statements")

// TestParams: arguments and their placeholders are numbered together, so
// that a statement built in pieces keeps them in step.
func TestParams(t *testing.T) {
	var args params
	q := "site = " + args.add("s1") + " AND vendor IN (" + list(&args, []string{"v1", "v2"}) + ") AND at >= " + args.add(int64(7))
	if want := "site = $1 AND vendor IN ($2, $3) AND at >= $4"; q != want {
		t.Errorf("got %q, want %q", q, want)
	}
	if got := placeholders(1, 0); got != "" {
		t.Errorf("no placeholders: got %q", got)
	}
	if len(args) != 4 || args[0] != "s1" || args[1] != "v1" || args[2] != "v2" || args[3] != int64(7) {
		t.Errorf("args %v", args)
	}
}
