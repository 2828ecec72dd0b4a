package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud/notify"
)

// A receiver checks every delivery before trusting it: the exact body
// bytes, the Frostline-Signature header, its own clock, and its secrets
// (both of them while Frostline rotates).
func ExampleVerify() {
	secret := []byte("whsec_example")
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		if err := notify.Verify(r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.DefaultTolerance, secret); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Deduplicate on r.Header.Get(notify.DeliveryHeader), then act.
		w.WriteHeader(http.StatusNoContent)
	}

	// What Frostline sends:
	body := `{"id":"wo_1-3","type":"workorder.transition"}`
	req := httptest.NewRequest(http.MethodPost, "/hooks/frostline", strings.NewReader(body))
	req.Header.Set(notify.SignatureHeader, notify.Sign([]byte(body), time.Now(), secret))
	rec := httptest.NewRecorder()
	handler(rec, req)
	fmt.Println(rec.Code)
	// Output: 204
}
