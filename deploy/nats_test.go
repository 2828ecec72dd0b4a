package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// writeTestTLS writes a self-signed CA, certificate and key, standing in
// for the files the configs name under /etc/nats/tls.
func writeTestTLS(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "frostline-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"server.crt": crt, "ca.crt": crt,
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNATSConfigs parses every NATS config with the server's own parser,
// with the TLS files and secrets a real deployment would have.
func TestNATSConfigs(t *testing.T) {
	dir := t.TempDir()
	writeTestTLS(t, dir)
	for _, env := range []string{"FROSTLINE_CLOUD_NATS_PASSWORD", "GATEWAY_STORE_1471_PASSWORD", "NATS_SYS_PASSWORD"} {
		t.Setenv(env, "test-secret")
	}
	files, err := filepath.Glob("nats/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/etc/nats/tls", dir)
		text = strings.ReplaceAll(text, "/etc/frostline/store-1471.creds", filepath.Join(dir, "store.creds"))
		out := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accounts, _ := os.ReadFile("nats/accounts.conf")
	if err := os.WriteFile(filepath.Join(dir, "accounts.conf"), accounts, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		name := filepath.Join(dir, "cloud-nats-"+string(rune('0'+i))+".conf")
		opts, err := server.ProcessConfigFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !opts.JetStream || !opts.SyncAlways {
			t.Errorf("%s: jetstream %v, sync always %v: want both", name, opts.JetStream, opts.SyncAlways)
		}
		if opts.Cluster.Name != "frostline" || len(opts.Routes) != 3 {
			t.Errorf("%s: cluster %q with %d routes, want frostline with 3", name, opts.Cluster.Name, len(opts.Routes))
		}
		if opts.TLSConfig == nil {
			t.Errorf("%s: no TLS", name)
		}
		if len(opts.Accounts) < 2 || opts.SystemAccount != "SYS" {
			t.Errorf("%s: accounts %d, system %q", name, len(opts.Accounts), opts.SystemAccount)
		}
		var gateway *server.User
		for _, u := range opts.Users {
			if u.Username == "gateway-store-1471" {
				gateway = u
			}
		}
		if gateway == nil || gateway.Permissions == nil || gateway.Permissions.Publish == nil ||
			len(gateway.Permissions.Publish.Allow) == 0 || gateway.Permissions.Publish.Allow[0] != "frostline.site.store-1471.>" {
			t.Errorf("%s: the gateway user may not be limited to its own site: %+v", name, gateway)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "store.creds"), []byte("placeholder"), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, err := server.ProcessConfigFile(filepath.Join(dir, "edge-nats-leaf.conf"))
	if err != nil {
		t.Fatalf("edge leaf config: %v", err)
	}
	if leaf.JetStreamDomain != "store-1471" || !leaf.SyncAlways || len(leaf.LeafNode.Remotes) != 1 {
		t.Errorf("edge leaf: domain %q sync %v remotes %d", leaf.JetStreamDomain, leaf.SyncAlways, len(leaf.LeafNode.Remotes))
	}
}
