package http

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// pngChunk builds a PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// exif is an EXIF block holding a GPS position, as a phone writes it
// (only its marker matters here).
var exif = append([]byte("Exif\x00\x00MM\x00\x2a"), []byte("GPSLatitude 41.8801 GPSLongitude -87.6301")...)

func testImages(t testing.TB) (jpg, pngb []byte) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	var j, p bytes.Buffer
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	return j.Bytes(), p.Bytes()
}

func TestWithoutLocation(t *testing.T) {
	jpg, pngb := testImages(t)
	app1 := append([]byte{0xFF, 0xE1, 0, 0}, exif...)
	binary.BigEndian.PutUint16(app1[2:], uint16(len(app1)-2))
	jpgExif := append(append(append([]byte{}, jpg[:2]...), app1...), jpg[2:]...)
	pngExif := append(append(append([]byte{}, pngb[:33]...), pngChunk("eXIf", exif[6:])...), pngb[33:]...) // after IHDR
	for _, tc := range []struct {
		name     string
		ct       string
		in, want []byte
	}{
		{"jpeg with its position", "image/jpeg", jpgExif, jpg},
		{"jpeg without", "image/jpeg", jpg, jpg},
		{"png with its position", "image/png", pngExif, pngb},
		{"png without", "image/png", pngb, pngb},
		{"a jpeg cut short: left as it is", "image/jpeg", jpgExif[:10], jpgExif[:10]},
		{"gif: nothing to strip", "image/gif", []byte("GIF89a"), []byte("GIF89a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&upload{contentType: tc.ct, data: tc.in}).withoutLocation()
			if !bytes.Equal(got.data, tc.want) || got.contentType != tc.ct {
				t.Errorf("got %d bytes (%s), want %d", len(got.data), got.contentType, len(tc.want))
			}
			if bytes.Contains(got.data, []byte("GPSLatitude")) && len(tc.want) > 20 {
				t.Error("the position is still in the photo")
			}
		})
	}
	// What is left is still the picture.
	if _, _, err := image.Decode(bytes.NewReader((&upload{contentType: "image/jpeg", data: jpgExif}).withoutLocation().data)); err != nil {
		t.Errorf("stripped jpeg: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader((&upload{contentType: "image/png", data: pngExif}).withoutLocation().data)); err != nil {
		t.Errorf("stripped png: %v", err)
	}
}

func FuzzWithoutLocation(f *testing.F) {
	jpg, pngb := testImages(f)
	f.Add(jpg)
	f.Add(pngb)
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0, 0xFF, 0xDA})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ct := range []string{"image/jpeg", "image/png"} {
			got := (&upload{contentType: ct, data: b}).withoutLocation()
			if len(got.data) > len(b) {
				t.Fatalf("%s: grew from %d to %d bytes", ct, len(b), len(got.data))
			}
			if len(b) >= 2 && len(got.data) >= 2 && !bytes.Equal(got.data[:2], b[:2]) {
				t.Fatalf("%s: the signature changed", ct)
			}
		}
	})
}
