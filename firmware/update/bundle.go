package update

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"
)

// Sentinel errors: each names one reason a bundle is refused.
var (
	ErrLayout    = errors.New("update: bundle layout")            // not a bundle, or entries out of order
	ErrSignature = errors.New("update: bad signature")            // the signature does not verify
	ErrUntrusted = errors.New("update: signed by an unknown key") // no trusted key has the signature's ID
	ErrFormat    = errors.New("update: unknown bundle format")
	ErrManifest  = errors.New("update: bad manifest")
	ErrBoard     = errors.New("update: bundle is for another board")
	ErrTruncated = errors.New("update: bundle truncated")
	ErrPayload   = errors.New("update: payload does not match the manifest") // altered, or sizes differ
)

// Verifier checks bundles for one box: its trusted keys and its board.
type Verifier struct {
	Trust *Trust
	Board string
}

// Verify reads the whole bundle from r and checks it: signature, format,
// product, board, then every payload's size and SHA-256. It writes
// nothing; the manifest it returns is the signed one.
func (v Verifier) Verify(r io.Reader) (Manifest, error) {
	m, _, err := v.walk(r, nil)
	return m, err
}

// Target receives a verified bundle's payloads. Nothing a Target wrote
// may take effect before Commit; Abort throws it away.
type Target interface {
	Write(p Payload, r io.Reader) error
	Commit(m Manifest) error
	Abort()
}

// Install verifies the whole bundle in f and only then reads it again and
// writes its payloads to t, checking each again as it goes (f could have
// changed in between), and commits. A bundle that fails the first pass
// writes nothing to t.
func (v Verifier) Install(f io.ReadSeeker, t Target) (Manifest, error) {
	m, raw, err := v.walk(f, nil)
	if err != nil {
		return Manifest{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Manifest{}, fmt.Errorf("update: rewind bundle: %w", err)
	}
	_, raw2, err := v.walk(f, t.Write)
	if err == nil && !bytes.Equal(raw, raw2) {
		err = fmt.Errorf("%w: the bundle changed while it was installed", ErrManifest)
	}
	if err != nil {
		t.Abort()
		return Manifest{}, err
	}
	if err := t.Commit(m); err != nil {
		t.Abort()
		return Manifest{}, fmt.Errorf("update: commit: %w", err)
	}
	return m, nil
}

// walk reads a bundle: manifest and signature first, checked before the
// manifest is trusted for anything, then each payload, handed to write
// (if not nil) through a reader of exactly its size and checked against
// its hash once read. It returns the manifest and its raw bytes.
func (v Verifier) walk(r io.Reader, write func(Payload, io.Reader) error) (Manifest, []byte, error) {
	if v.Trust == nil {
		return Manifest{}, nil, errors.New("update: no trusted keys configured")
	}
	tr := tar.NewReader(r)
	raw, err := readEntry(tr, ManifestName, maxManifest)
	if err != nil {
		return Manifest{}, nil, err
	}
	sigRaw, err := readEntry(tr, SignatureName, maxSignature)
	if err != nil {
		return Manifest{}, nil, err
	}
	if err := v.Trust.verify(raw, sigRaw); err != nil {
		return Manifest{}, nil, err
	}
	m, err := decodeManifest(raw)
	if err != nil {
		return Manifest{}, nil, err
	}
	if m.Compatible != v.Board {
		return Manifest{}, nil, fmt.Errorf("%w: bundle for %q, this box is %q", ErrBoard, m.Compatible, v.Board)
	}
	for _, p := range m.Payloads {
		if err := readPayload(tr, p, write); err != nil {
			return Manifest{}, nil, err
		}
	}
	switch h, err := tr.Next(); {
	case err == io.EOF:
	case err != nil:
		return Manifest{}, nil, fmt.Errorf("%w: after the last payload: %v", ErrLayout, err)
	default:
		return Manifest{}, nil, fmt.Errorf("%w: %q is not in the manifest", ErrLayout, h.Name)
	}
	return m, raw, nil
}

func next(tr *tar.Reader, want string) (*tar.Header, error) {
	h, err := tr.Next()
	switch {
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %s missing", ErrTruncated, want)
	case err != nil:
		return nil, fmt.Errorf("%w: reading %s: %v", ErrLayout, want, err)
	case h.Name != want:
		return nil, fmt.Errorf("%w: found %q where %s belongs", ErrLayout, h.Name, want)
	case h.Typeflag != tar.TypeReg:
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrLayout, want)
	}
	return h, nil
}

func readEntry(tr *tar.Reader, name string, limit int64) ([]byte, error) {
	h, err := next(tr, name)
	if err != nil {
		return nil, err
	}
	if h.Size > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrLayout, name, h.Size, limit)
	}
	data := make([]byte, h.Size)
	if _, err := io.ReadFull(tr, data); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTruncated, name, err)
	}
	return data, nil
}

func readPayload(tr *tar.Reader, p Payload, write func(Payload, io.Reader) error) error {
	h, err := next(tr, p.Name)
	if err != nil {
		return err
	}
	if h.Size != p.Size {
		return fmt.Errorf("%w: %s is %d bytes, the manifest says %d", ErrPayload, p.Name, h.Size, p.Size)
	}
	hr := &hashingReader{name: p.Name, r: tr, h: sha256.New()}
	if write != nil {
		if err := write(p, hr); err != nil {
			if hr.err != nil {
				return hr.err
			}
			return fmt.Errorf("update: write %s: %w", p.Name, err)
		}
	}
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return err
	}
	if hr.n != p.Size {
		return fmt.Errorf("%w: %s ends after %d of %d bytes", ErrTruncated, p.Name, hr.n, p.Size)
	}
	if got := hex.EncodeToString(hr.h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("%w: %s has SHA-256 %s, the manifest says %s", ErrPayload, p.Name, got, p.SHA256)
	}
	return nil
}

// hashingReader hashes what passes through and turns a short read of
// the archive into ErrTruncated.
type hashingReader struct {
	name string
	r    io.Reader
	h    hash.Hash
	n    int64
	err  error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %s ends early: %v", ErrTruncated, h.name, err)
		} else {
			err = fmt.Errorf("update: read %s: %w", h.name, err)
		}
		h.err = err
	}
	return n, err
}

func (t *Trust) verify(manifest, sigRaw []byte) error {
	var s signature
	dec := json.NewDecoder(bytes.NewReader(sigRaw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("%w: manifest.sig: %v", ErrSignature, err)
	}
	if s.Algorithm != Algorithm {
		return fmt.Errorf("%w: algorithm %q, want %q", ErrSignature, s.Algorithm, Algorithm)
	}
	pub, ok := t.keys[s.KeyID]
	if !ok {
		return fmt.Errorf("%w: key %q (trusted: %v)", ErrUntrusted, s.KeyID, t.IDs())
	}
	sum := sha256.Sum256(manifest)
	if !ecdsa.VerifyASN1(pub, sum[:], s.Signature) {
		return fmt.Errorf("%w: manifest.json does not verify with key %s", ErrSignature, s.KeyID)
	}
	return nil
}

// File is a payload to put in a bundle: its name in the bundle and where
// it is read from.
type File struct{ Name, Path string }

// Build writes a bundle to w: it hashes each file, signs the manifest
// with key, then writes manifest, signature and files. m gives the
// version, the board and (if not zero) the created time; the rest is
// filled in. A file that changes while it is written is an error.
func Build(w io.Writer, key *ecdsa.PrivateKey, m Manifest, files []File) (Manifest, error) {
	m.Format, m.Product, m.Payloads = Format, Product, nil
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	m.Created = m.Created.UTC().Truncate(time.Second)
	for _, f := range files {
		size, sum, err := hashFile(f.Path)
		if err != nil {
			return Manifest{}, err
		}
		m.Payloads = append(m.Payloads, Payload{Name: f.Name, Size: size, SHA256: sum})
	}
	if err := m.check(); err != nil {
		return Manifest{}, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, fmt.Errorf("update: manifest: %w", err)
	}
	raw = append(raw, '\n')
	sig, err := Sign(key, raw)
	if err != nil {
		return Manifest{}, err
	}
	tw := tar.NewWriter(w)
	put := func(name string, size int64, body io.Reader) error {
		h := &tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("update: write %s: %w", name, err)
		}
		if _, err := io.Copy(tw, body); err != nil {
			return fmt.Errorf("update: write %s: %w", name, err)
		}
		return nil
	}
	if err := put(ManifestName, int64(len(raw)), bytes.NewReader(raw)); err != nil {
		return Manifest{}, err
	}
	if err := put(SignatureName, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return Manifest{}, err
	}
	for i, f := range files {
		p := m.Payloads[i]
		fh, err := os.Open(f.Path)
		if err != nil {
			return Manifest{}, fmt.Errorf("update: %w", err)
		}
		h := sha256.New()
		err = put(p.Name, p.Size, io.TeeReader(io.LimitReader(fh, p.Size), h))
		fh.Close()
		if err != nil {
			return Manifest{}, err
		}
		if hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
			return Manifest{}, fmt.Errorf("update: %s changed while the bundle was written", f.Path)
		}
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("update: %w", err)
	}
	return m, nil
}

// Sign makes manifest.sig for the manifest's exact bytes.
func Sign(key *ecdsa.PrivateKey, manifest []byte) ([]byte, error) {
	id, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(manifest)
	der, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return nil, fmt.Errorf("update: sign: %w", err)
	}
	out, err := json.MarshalIndent(signature{Algorithm: Algorithm, KeyID: id, Signature: der}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("update: signature: %w", err)
	}
	return append(out, '\n'), nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("update: read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
