package cloud

import "strings"

// CSVCell keeps a text cell of a CSV export from being read as a formula
// by a spreadsheet (CSV injection, OWASP): one that starts with =, +, -,
// @, a tab or a carriage return gets a leading apostrophe, as does one
// that starts with an apostrophe, so that a reader dropping one leading
// apostrophe gives back exactly what was written. Every CSV export writes
// its text cells through it; numbers it writes itself are not text.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}
