package http

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// TestVisitPhotos: a technician attaches photos at check-in and at
// completion; they are on the work order's visit, kind by kind, and
// served by the API as the pictures they are. A visit photo keeps its
// EXIF position (the visit's evidence); a store's report photo loses it.
func TestVisitPhotos(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	jpg, png := testImages(t)
	app1 := append([]byte{0xFF, 0xE1, 0, 0}, exif...)
	binary.BigEndian.PutUint16(app1[2:], uint16(len(app1)-2))
	jpgExif := append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
	dataURL := func(ct string, b []byte) string {
		return "data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(b)
	}
	photos := func(kinds ...string) string {
		var ps []map[string]any
		for i, k := range kinds {
			b, ct := jpgExif, "image/jpeg"
			if i%2 == 1 {
				b, ct = png, "image/png"
			}
			ps = append(ps, map[string]any{"kind": k, "photo": dataURL(ct, b)})
		}
		out, _ := json.Marshal(ps)
		return string(out)
	}
	pos := `"lat":41.8801,"lon":-87.6301`

	// Refusals name the field, and nothing is recorded.
	for _, tc := range []struct {
		name, action, body, field string
	}{
		{"a kind it does not know", "check_in", `{` + pos + `,"photos":` + photos("selfie") + `}`, "photos[0].kind"},
		{"not a picture", "check_in", `{` + pos + `,"photos":[{"kind":"before","photo":"data:image/png;base64,aGVsbG8="}]}`, "photos[0].photo"},
		{"too many", "check_in", `{` + pos + `,"photos":` + photos("before", "before", "before", "before", "before") + `}`, "photos"},
	} {
		code, body := d.do(t, "tech-polar", "POST", "/api/v1/workorders/"+w.ID+"/actions/"+tc.action, tc.body)
		if code != 400 || !strings.Contains(body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, code, body, tc.field)
		}
	}
	if v := d.wo(t, w.ID); v.Status != workorder.Accepted || len(v.Visits) != 0 {
		t.Fatalf("after refusals: %s with %d visits", v.Status, len(v.Visits))
	}

	d.act(t, "tech-polar", w.ID, "check_in", `{`+pos+`,"photos":`+photos("before", "nameplate")+`}`, 200)
	d.act(t, "tech-polar", w.ID, "complete", `{"problem":"no_cooling","cause":"compressor_failed","remedy":"replaced_compressor",`+pos+`,"photos":`+photos("after", "part")+`}`, 200)
	v := d.wo(t, w.ID)
	if len(v.Visits) != 1 {
		t.Fatalf("%d visits, want 1", len(v.Visits))
	}
	var kinds []string
	for _, p := range v.Visits[0].Photos {
		kinds = append(kinds, p.Kind)
		req, _ := http.NewRequest("GET", d.ts.URL+"/api/v1/workorders/"+w.ID+"/photos/"+p.ID, nil)
		req.Header.Set("Authorization", "Bearer "+d.tokens["fm"])
		resp, err := d.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := jpgExif
		if p.Kind == "nameplate" || p.Kind == "part" {
			want = png
		}
		if resp.StatusCode != 200 || !bytes.Equal(b, want) || resp.Header.Get("Content-Type") != http.DetectContentType(want) {
			t.Errorf("photo %s (%s): %d, %d bytes of %s; want the picture sent, EXIF kept", p.ID, p.Kind, resp.StatusCode, len(b), resp.Header.Get("Content-Type"))
		}
	}
	if fmt.Sprint(kinds) != "[before nameplate after part]" {
		t.Errorf("visit photos %v, want before, nameplate (check-in), after, part (completion)", kinds)
	}

	// A report's photo loses its position.
	code, body := d.do(t, "fm", "POST", "/api/v1/workorders", `{"site":"s1","asset":"wic-1","problem":"water_leak","photo":"`+dataURL("image/jpeg", jpgExif)+`"}`)
	if code/100 != 2 {
		t.Fatalf("report: %d %s", code, body)
	}
	var rep struct {
		ID       string `json:"id"`
		Evidence []struct {
			Photos []string `json:"photos"`
		} `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, e := range rep.Evidence {
		if len(e.Photos) > 0 {
			id = e.Photos[0]
		}
	}
	req, _ := http.NewRequest("GET", d.ts.URL+"/api/v1/workorders/"+rep.ID+"/photos/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+d.tokens["fm"])
	resp, err := d.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(b, jpg) {
		t.Errorf("report photo %q: %d, %d bytes; want the picture without its EXIF (%d bytes)", id, resp.StatusCode, len(b), len(jpg))
	}
}
