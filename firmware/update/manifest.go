package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Format is the bundle format this package reads and writes.
const Format = 1

// Product is the product every bundle of ours names.
const Product = "twincap"

// Names of the bundle's first two entries.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
)

// Limits that keep a hostile bundle from costing the box memory.
const (
	maxManifest  = 64 << 10
	maxSignature = 4 << 10
	MaxPayloads  = 16
)

// Manifest says what a bundle holds. It is signed as the exact bytes of
// manifest.json, so nothing is canonicalised and a changed byte anywhere
// breaks the signature.
type Manifest struct {
	Format  int    `json:"format"`
	Product string `json:"product"`
	Version string `json:"version"`
	// Compatible is the board the bundle is for (the box's update.board).
	Compatible string    `json:"compatible"`
	Created    time.Time `json:"created"`
	Payloads   []Payload `json:"payloads"`
}

// Payload is one file of a bundle.
type Payload struct {
	// Name is the file's name in the bundle: letters, digits, '.', '_',
	// '-'; the installer maps it to a slot ("rootfs.img" is the root file
	// system image).
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lower-case hex
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	hexRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,3}$`)
	boardRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// ValidBoard checks a board (compatible) string: lower-case letters,
// digits, '.', '_', '-'.
func ValidBoard(b string) error {
	if !boardRE.MatchString(b) {
		return fmt.Errorf("board %q: want lower-case letters, digits, '.', '_' or '-' (at most 64)", b)
	}
	return nil
}

// ValidVersion checks a version: one to four dot-separated whole numbers
// ("1.4.0"), so that versions order without guesswork.
func ValidVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q: want one to four dot-separated whole numbers, such as 1.4.0", v)
	}
	return nil
}

// CompareVersions orders two valid versions like strings.Compare; missing
// parts count as 0 (1.4 == 1.4.0).
func CompareVersions(a, b string) (int, error) {
	for _, v := range []string{a, b} {
		if err := ValidVersion(v); err != nil {
			return 0, fmt.Errorf("update: %w", err)
		}
	}
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		x, y := part(pa, i), part(pb, i)
		if x != y {
			if x < y {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

func part(p []string, i int) uint64 {
	if i >= len(p) {
		return 0
	}
	n, _ := strconv.ParseUint(p[i], 10, 64)
	return n
}

// check validates a manifest's fields; the format is checked first so a
// newer format is named as such and not as some field it may lack.
func (m Manifest) check() error {
	if m.Format != Format {
		return fmt.Errorf("%w: format %d, this box reads format %d", ErrFormat, m.Format, Format)
	}
	var errs []error
	if m.Product != Product {
		errs = append(errs, fmt.Errorf("product %q, want %q", m.Product, Product))
	}
	if err := ValidVersion(m.Version); err != nil {
		errs = append(errs, err)
	}
	if err := ValidBoard(m.Compatible); err != nil {
		errs = append(errs, err)
	}
	if m.Created.IsZero() {
		errs = append(errs, errors.New("no created time"))
	}
	if len(m.Payloads) == 0 || len(m.Payloads) > MaxPayloads {
		errs = append(errs, fmt.Errorf("%d payloads, want 1 to %d", len(m.Payloads), MaxPayloads))
	}
	seen := map[string]bool{}
	for _, p := range m.Payloads {
		switch {
		case !nameRE.MatchString(p.Name) || p.Name == ManifestName || p.Name == SignatureName:
			errs = append(errs, fmt.Errorf("payload name %q", p.Name))
		case seen[p.Name]:
			errs = append(errs, fmt.Errorf("payload %q listed twice", p.Name))
		}
		seen[p.Name] = true
		if p.Size < 0 {
			errs = append(errs, fmt.Errorf("payload %q: size %d", p.Name, p.Size))
		}
		if !hexRE.MatchString(p.SHA256) {
			errs = append(errs, fmt.Errorf("payload %q: sha256 %q is not 64 lower-case hex digits", p.Name, p.SHA256))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrManifest, errors.Join(errs...))
	}
	return nil
}

// decodeManifest reads manifest.json strictly: unknown fields are
// refused, as they would be silently ignored otherwise. A document whose
// format is not ours is reported as ErrFormat even if its fields differ.
func decodeManifest(data []byte) (Manifest, error) {
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if probe.Format != Format {
		return Manifest{}, fmt.Errorf("%w: format %d, this box reads format %d", ErrFormat, probe.Format, Format)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: data after the document", ErrManifest)
	}
	return m, m.check()
}

// signature is manifest.sig.
type signature struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"` // ASN.1 DER, base64 in JSON
}
