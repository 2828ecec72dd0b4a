package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/frostline/frostline/edge/internal/testserver"
)

// TestDeployMosquittoACL runs mosquitto with the ACL file shipped in
// deploy/edge: the store's gateway reads its own store's readings and not
// another store's, and a controller may write only its own store's assets.
func TestDeployMosquittoACL(t *testing.T) {
	bin := testserver.MosquittoBin(t)
	passwdTool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	_ = bin
	// mosquitto started as root drops to its own user: it must be able to
	// read the files.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	passwd := filepath.Join(dir, "passwd")
	for i, user := range []string{"gw-store-0001", "ctl-store-0001", "ctl-store-0002"} {
		args := []string{"-b", passwd, user, "secret"}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(passwdTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	acl, err := filepath.Abs(filepath.Join("..", "..", "deploy", "edge", "frostline.acl"))
	if err != nil {
		t.Fatal(err)
	}
	// A store-0002 controller, which the shipped file does not list, gets
	// its own block here.
	acl2 := filepath.Join(dir, "acl")
	shipped, err := os.ReadFile(acl)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, acl2, string(shipped)+"\nuser ctl-store-0002\ntopic readwrite sites/store-0002/assets/#\n")
	for _, f := range []string{passwd, acl2} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	broker := testserver.MosquittoWith(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\nacl_file %s\n", passwd, acl2))

	connect := func(user string) paho.Client {
		t.Helper()
		c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(user).SetUsername(user).SetPassword("secret"))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", user, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		return c
	}
	gw := connect("gw-store-0001")
	var mu sync.Mutex
	var got []string
	if tok := gw.Subscribe("sites/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m.Topic())
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish := func(c paho.Client, topic string) {
		r := c.OptionsReader()
		if tok := c.Publish(topic, 1, false, r.Username()); !tok.WaitTimeout(5 * time.Second) {
			t.Fatal("publish timed out")
		}
	}
	ctl1, ctl2 := connect("ctl-store-0001"), connect("ctl-store-0002")
	var got2 []string
	if tok := ctl2.Subscribe("sites/store-0002/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		defer mu.Unlock()
		got2 = append(got2, string(m.Payload()))
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish(ctl1, "sites/store-0001/assets/wic-01/air_temp") // allowed, readable by gw
	publish(ctl1, "sites/store-0002/assets/wic-01/air_temp") // controller writes outside its store: dropped
	publish(ctl2, "sites/store-0002/assets/wic-01/air_temp") // allowed, but not readable by gw-store-0001
	publish(ctl1, "sites/store-0001/assets/wic-01/door_open")
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"sites/store-0001/assets/wic-01/air_temp", "sites/store-0001/assets/wic-01/door_open"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("gateway received %v, want %v", got, want)
	}
	if fmt.Sprint(got2) != "[ctl-store-0002]" {
		t.Errorf("store-0002 received writes from %v, want only its own controller's", got2)
	}
}
