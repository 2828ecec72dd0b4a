// Package packs embeds the rule packs Frostline ships, so that every
// binary runs on sensible rules with no files on disk.
//
// The default pack (packs/default) encodes the domain notes: food-safety
// limits on a simulated product temperature, defrost suppression, door
// ajar, short cycling, stuck and offline sensors, refrigerant-leak trends
// and RTU cooling failure. Each rule says in a comment why its numbers are
// what they are.
package packs

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/frostline/frostline/rules"
)

//go:embed default/*.yaml
var files embed.FS

// FS holds the packs, one folder each ("default").
var FS fs.FS = files

// DefaultName is the folder of the default pack inside FS.
const DefaultName = "default"

// Default parses and compiles the default pack.
func Default() (*rules.Set, error) {
	rs, err := rules.ParseFS(files, DefaultName)
	if err != nil {
		return nil, fmt.Errorf("packs: default: %w", err)
	}
	return rules.Compile(rs)
}
