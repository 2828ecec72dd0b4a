package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
)

// ruleFiles lists the rule files under the configured paths (a path is a
// file or a folder of *.yaml / *.yml), sorted.
func ruleFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if f != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if f == p || (!strings.HasPrefix(d.Name(), ".") && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml"))) {
				files = append(files, f)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	}
	slices.Sort(files)
	return files, nil
}

// loaded is one generation of rules and sites.
type loaded struct {
	set   *rules.Set
	sites []*rules.Site
	// version identifies the sources, for logs.
	version string
}

// loadRules reads, parses and compiles the configured rules and sites,
// returning every problem found.
func loadRules(cfg *Config) (*loaded, error) {
	h := sha256.New()
	var all []rules.Rule
	if cfg.Rules.DefaultPack {
		rs, err := rules.ParseFS(packs.FS, packs.DefaultName)
		if err != nil {
			return nil, fmt.Errorf("default pack: %w", err)
		}
		all = append(all, rs...)
		h.Write([]byte("default-pack\n"))
	}
	if len(cfg.Rules.Paths) > 0 {
		files, err := ruleFiles(cfg.Rules.Paths)
		if err != nil {
			return nil, err
		}
		var srcs []rules.Source
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("rules: %w", err)
			}
			h.Write([]byte(f + "\n"))
			h.Write(data)
			srcs = append(srcs, rules.Source{Name: f, Data: data})
		}
		rs, err := rules.ParseSources(srcs)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	set, err := rules.Compile(all)
	if err != nil {
		return nil, err
	}
	l := &loaded{set: set}
	for _, f := range cfg.Sites {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("site: %w", err)
		}
		h.Write([]byte(f + "\n"))
		h.Write(data)
		s, err := rules.ParseSite(f, data)
		if err != nil {
			return nil, err
		}
		l.sites = append(l.sites, s)
	}
	l.version = hex.EncodeToString(h.Sum(nil))[:12]
	return l, nil
}

// CheckConfig loads everything a config names (rules, sites, topic
// templates) without connecting anywhere: `frostline-edge check-config`.
func CheckConfig(path string) (*Config, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if _, err := loadRules(cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// sourcesStamp summarises the modification times and sizes of every rule
// and site file, so that a watcher notices a change without reading them.
func sourcesStamp(cfg *Config) string {
	files, _ := ruleFiles(cfg.Rules.Paths)
	files = append(files, cfg.Sites...)
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:missing;", f)
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
	}
	return b.String()
}
