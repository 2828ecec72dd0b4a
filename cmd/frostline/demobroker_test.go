package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
)

// shippedACL reads deploy/edge/frostline.acl: user -> filter -> access.
func shippedACL(t *testing.T) map[string]auth.Filters {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "deploy", "edge", "frostline.acl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]auth.Filters{}
	user := ""
	access := map[string]auth.Access{"read": auth.ReadOnly, "write": auth.WriteOnly, "readwrite": auth.ReadWrite}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 2 && fs[0] == "user":
			user = fs[1]
			out[user] = auth.Filters{}
		case len(fs) == 3 && fs[0] == "topic" && user != "":
			out[user][auth.RString(fs[2])] = access[fs[1]]
		}
	}
	return out
}

// TestDemoBrokerACL: the demo's embedded broker grants the store users of
// deploy/edge/frostline.acl the same topics, refuses anyone else, keeps
// each store to its own topics, and drops packets over max_packet_size.
// Before, it allowed any client to publish anything of any size.
func TestDemoBrokerACL(t *testing.T) {
	sites := []string{"store-0001", "store-0002"}
	b, err := startBroker("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)), sites)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	// Same grants as the shipped ACL file for its store.
	want := shippedACL(t)
	ledger := demoLedger(sites, b.passwords)
	for _, u := range []string{"gw-store-0001", "ctl-store-0001"} {
		if got := ledger.Users[u].ACL; len(got) != len(want[u]) || len(got) == 0 {
			t.Errorf("%s: demo grants %v, deploy/edge/frostline.acl %v", u, got, want[u])
		}
		for f, a := range want[u] {
			if ledger.Users[u].ACL[f] != a {
				t.Errorf("%s: demo grants %v on %s, deploy/edge/frostline.acl %v", u, ledger.Users[u].ACL[f], f, a)
			}
		}
	}

	url := "tcp://" + b.addr
	connect := func(id, user, password string) (paho.Client, error) {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(password).
			SetConnectTimeout(5 * time.Second))
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("%s: connect timed out", id)
		}
		return c, tok.Error()
	}
	for _, tc := range []struct{ user, password string }{{"", ""}, {"gw-store-0001", "wrong"}, {"someone", "x"}} {
		if c, err := connect("refused", tc.user, tc.password); err == nil {
			c.Disconnect(0)
			t.Errorf("user %q with password %q connected", tc.user, tc.password)
		}
	}
	got := make(chan string, 10)
	gw, err := connect("gw1", "gw-store-0001", b.passwords["gw-store-0001"])
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Disconnect(100)
	for _, f := range []string{"sites/store-0001/#", "sites/store-0002/#"} { // the second is denied
		gw.Subscribe(f, 1, func(_ paho.Client, m paho.Message) {
			got <- m.Topic() + " " + string(m.Payload()[:min(len(m.Payload()), 20)])
		}).WaitTimeout(5 * time.Second)
	}
	ctl, err := connect("ctl1", "ctl-store-0001", b.passwords["ctl-store-0001"])
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Disconnect(100)
	for _, topic := range []string{"sites/store-0002/assets/a/air_temp", "sites/store-0001/status"} { // not its own
		ctl.Publish(topic, 1, false, `{"value":1}`).WaitTimeout(5 * time.Second)
	}
	ctl.Publish("sites/store-0001/assets/a/air_temp", 0, false, bytes.Repeat([]byte("x"), demoMaxPacket+1)).WaitTimeout(5 * time.Second)
	// The simulator publishes in process; another controller connection
	// its own store's reading.
	if err := b.srv.Publish("sites/store-0002/assets/b/air_temp", []byte(`{"value":2}`), false, 1); err != nil {
		t.Fatal(err)
	}
	ctl2, err := connect("ctl2", "ctl-store-0001", b.passwords["ctl-store-0001"])
	if err != nil {
		t.Fatal(err)
	}
	defer ctl2.Disconnect(100)
	if tok := ctl2.Publish("sites/store-0001/assets/a/air_temp", 1, false, `{"value":3}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case topic := <-got:
		if topic != `sites/store-0001/assets/a/air_temp {"value":3}` {
			t.Errorf("gw-store-0001 received %s first: a topic outside its store's or an oversize packet passed", topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gw-store-0001 received nothing")
	}
	select {
	case topic := <-got:
		t.Errorf("gw-store-0001 also received %s", topic)
	case <-time.After(300 * time.Millisecond):
	}
}
