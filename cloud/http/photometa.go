package http

import (
	"bytes"
	"encoding/binary"
)

// withoutLocation returns the photo without its EXIF block, which is
// where a phone writes the GPS position it was taken at (and the device,
// and the time). A store employee's photo of a leak needs none of it, and
// a photo taken at home would give their home away. JPEG's APP1 "Exif"
// segments and PNG's eXIf chunk are dropped; anything the parser does not
// understand is left as it is (the picture is still checked to be an
// image). A technician's visit photos keep theirs: they are the visit's
// evidence of where the work was done.
func (u *upload) withoutLocation() *upload {
	var data []byte
	switch u.contentType {
	case "image/jpeg":
		data = jpegWithoutExif(u.data)
	case "image/png":
		data = pngWithoutExif(u.data)
	}
	if data == nil {
		return u
	}
	return &upload{contentType: u.contentType, data: data}
}

// jpegWithoutExif drops APP1 Exif segments from the header of a JPEG, or
// returns nil when there is none or the header cannot be read.
func jpegWithoutExif(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:2]...)
	dropped := false
	for i := 2; ; {
		if i+4 > len(b) || b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		if marker == 0xDA { // start of scan: the image data follows
			out = append(out, b[i:]...)
			break
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg[4:], []byte("Exif\x00\x00")) {
			dropped = true
		} else {
			out = append(out, seg...)
		}
		i += 2 + n
	}
	if !dropped {
		return nil
	}
	return out
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngWithoutExif drops the eXIf chunk of a PNG, or returns nil when there
// is none or the file cannot be read.
func pngWithoutExif(b []byte) []byte {
	if !bytes.HasPrefix(b, pngSignature) {
		return nil
	}
	out := append(make([]byte, 0, len(b)), pngSignature...)
	dropped := false
	for i := len(pngSignature); i < len(b); {
		if i+12 > len(b) {
			return nil
		}
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		chunk := b[i : i+12+n]
		if string(chunk[4:8]) == "eXIf" {
			dropped = true
		} else {
			out = append(out, chunk...)
		}
		i += 12 + n
	}
	if !dropped {
		return nil
	}
	return out
}
