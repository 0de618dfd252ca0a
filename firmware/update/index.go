package update

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// IndexName is the file an update source serves next to its bundles: it
// says which bundle is current, so a box learns there is nothing new
// without downloading one. The index is not signed; everything it says is
// checked again against the signed manifest once the bundle is in.
const IndexName = "index.json"

// Index is an update source's index.json.
type Index struct {
	Version    string `json:"version"`
	Compatible string `json:"compatible"`
	// Bundle is the bundle's file name, next to index.json.
	Bundle string `json:"bundle"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ParseIndex reads and checks an index.json.
func ParseIndex(data []byte) (Index, error) {
	var ix Index
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ix); err != nil {
		return Index{}, fmt.Errorf("update: %s: %w", IndexName, err)
	}
	switch {
	case ValidVersion(ix.Version) != nil:
		return Index{}, fmt.Errorf("update: %s: %w", IndexName, ValidVersion(ix.Version))
	case ValidBoard(ix.Compatible) != nil:
		return Index{}, fmt.Errorf("update: %s: %w", IndexName, ValidBoard(ix.Compatible))
	case !nameRE.MatchString(ix.Bundle):
		return Index{}, fmt.Errorf("update: %s: bundle name %q", IndexName, ix.Bundle)
	case ix.Size <= 0:
		return Index{}, fmt.Errorf("update: %s: size %d", IndexName, ix.Size)
	case !hexRE.MatchString(ix.SHA256):
		return Index{}, fmt.Errorf("update: %s: sha256 %q", IndexName, ix.SHA256)
	}
	return ix, nil
}
