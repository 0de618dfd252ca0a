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
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rig is a signing key, a box that trusts it, and payloads to bundle.
type rig struct {
	key      *ecdsa.PrivateKey
	verifier Verifier
	files    map[string][]byte
	order    []string
}

func newRig(t testing.TB) *rig {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := NewTrust(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, 300<<10)
	_, _ = rand.Read(root)
	return &rig{
		key:      key,
		verifier: Verifier{Trust: trust, Board: "rpi4-64"},
		files:    map[string][]byte{"rootfs.img": root, "VERSION": []byte("1.4.0\n")},
		order:    []string{"rootfs.img", "VERSION"},
	}
}

func (r *rig) manifest() Manifest {
	m := Manifest{Format: Format, Product: Product, Version: "1.4.0", Compatible: "rpi4-64",
		Created: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	for _, name := range r.order {
		sum := sha256.Sum256(r.files[name])
		m.Payloads = append(m.Payloads, Payload{Name: name, Size: int64(len(r.files[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	return m
}

// entry is one tar entry of a hand-made bundle.
type entry struct {
	name string
	data []byte
}

// assemble writes entries as a bundle, with no checks: tests make broken
// bundles with it.
func assemble(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Size: int64(len(e.data)), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSign(t testing.TB, key *ecdsa.PrivateKey, raw []byte) []byte {
	t.Helper()
	sig, err := Sign(key, raw)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// bundle signs m with key and puts the rig's payloads after it.
func (r *rig) bundleTB(t testing.TB, m Manifest) []byte { return r.bundle(t, r.key, m) }

func (r *rig) bundle(t testing.TB, key *ecdsa.PrivateKey, m Manifest) []byte {
	raw := mustJSON(t, m)
	es := []entry{{ManifestName, raw}, {SignatureName, mustSign(t, key, raw)}}
	for _, name := range r.order {
		es = append(es, entry{name, r.files[name]})
	}
	return assemble(t, es...)
}

// recorder is a Target that records what reached it.
type recorder struct {
	writes    []string
	bytes     int64
	committed bool
	aborted   bool
}

func (r *recorder) Write(p Payload, rd io.Reader) error {
	r.writes = append(r.writes, p.Name)
	n, err := io.Copy(io.Discard, rd)
	r.bytes += n
	return err
}
func (r *recorder) Commit(Manifest) error { r.committed = true; return nil }
func (r *recorder) Abort()                { r.aborted = true }

func TestBuildThenVerifyAndInstall(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	var files []File
	for _, name := range r.order {
		p := filepath.Join(dir, "in-"+name)
		if err := os.WriteFile(p, r.files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: name, Path: p})
	}
	var buf bytes.Buffer
	built, err := Build(&buf, r.key, Manifest{Version: "1.4.0", Compatible: "rpi4-64"}, files)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.verifier.Verify(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("a good bundle is refused: %v", err)
	}
	if m.Version != "1.4.0" || m.Compatible != "rpi4-64" || len(m.Payloads) != 2 || m.Created.IsZero() ||
		m.Payloads[0] != built.Payloads[0] {
		t.Errorf("manifest %+v", m)
	}
	out := filepath.Join(dir, "staged")
	if _, err := r.verifier.Install(bytes.NewReader(buf.Bytes()), &DirTarget{Dir: out}); err != nil {
		t.Fatal(err)
	}
	for _, name := range r.order {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, r.files[name]) {
			t.Errorf("%s staged wrong (%v)", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, ManifestName)); err != nil {
		t.Errorf("no manifest after commit: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(out, ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRefusedBundlesWriteNothing(t *testing.T) {
	r := newRig(t)
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good := r.bundle(t, r.key, r.manifest())
	raw := mustJSON(t, r.manifest())
	sig := mustSign(t, r.key, raw)
	root, version := r.files["rootfs.img"], r.files["VERSION"]

	cases := []struct {
		name   string
		bundle func() []byte
		want   error
		says   string // part of the message: the reason, named
	}{
		{"bad signature", func() []byte {
			var s signature
			_ = json.Unmarshal(sig, &s)
			s.Signature[len(s.Signature)/2] ^= 0x40
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, mustJSON(t, s)}, entry{"rootfs.img", root}, entry{"VERSION", version})
		}, ErrSignature, "does not verify"},
		{"wrong key", func() []byte { return r.bundle(t, other, r.manifest()) }, ErrUntrusted, "unknown key"},
		{"signature by the wrong key under the right ID", func() []byte {
			var s signature
			_ = json.Unmarshal(mustSign(t, other, raw), &s)
			s.KeyID, _ = KeyID(&r.key.PublicKey)
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, mustJSON(t, s)}, entry{"rootfs.img", root}, entry{"VERSION", version})
		}, ErrSignature, "does not verify"},
		{"another algorithm", func() []byte {
			var s signature
			_ = json.Unmarshal(sig, &s)
			s.Algorithm = "ed25519"
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, mustJSON(t, s)}, entry{"rootfs.img", root}, entry{"VERSION", version})
		}, ErrSignature, `algorithm "ed25519"`},
		{"truncated payload", func() []byte { return good[:len(good)-len(version)-2048-100<<10] }, ErrTruncated, "rootfs.img"},
		{"truncated before a payload", func() []byte {
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, sig}, entry{"rootfs.img", root})
		}, ErrTruncated, "VERSION missing"},
		{"truncated manifest", func() []byte { return good[:700] }, ErrTruncated, ManifestName},
		{"altered payload", func() []byte {
			bad := bytes.Clone(root)
			bad[12345] ^= 1
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, sig}, entry{"rootfs.img", bad}, entry{"VERSION", version})
		}, ErrPayload, "rootfs.img has SHA-256"},
		{"payload of another size", func() []byte {
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, sig}, entry{"rootfs.img", root[:len(root)-1]}, entry{"VERSION", version})
		}, ErrPayload, "the manifest says"},
		{"wrong board", func() []byte {
			m := r.manifest()
			m.Compatible = "qemu-x86_64"
			return r.bundle(t, r.key, m)
		}, ErrBoard, `bundle for "qemu-x86_64", this box is "rpi4-64"`},
		{"manifest tampered", func() []byte {
			tampered := bytes.Replace(raw, []byte(`"1.4.0"`), []byte(`"9.9.9"`), 1)
			return assemble(t, entry{ManifestName, tampered}, entry{SignatureName, sig}, entry{"rootfs.img", root}, entry{"VERSION", version})
		}, ErrSignature, "does not verify"},
		{"unknown format version", func() []byte {
			m := r.manifest()
			m.Format = 2
			return r.bundle(t, r.key, m)
		}, ErrFormat, "format 2"},
		{"unknown manifest field", func() []byte {
			withExtra := append(bytes.TrimSuffix(bytes.TrimSpace(bytes.Clone(raw)), []byte("}")), []byte(`, "preinstall": "rm -rf /"}`)...)
			return assemble(t, entry{ManifestName, withExtra}, entry{SignatureName, mustSign(t, r.key, withExtra)}, entry{"rootfs.img", root}, entry{"VERSION", version})
		}, ErrManifest, "preinstall"},
		{"entries out of order", func() []byte {
			return assemble(t, entry{SignatureName, sig}, entry{ManifestName, raw}, entry{"rootfs.img", root}, entry{"VERSION", version})
		}, ErrLayout, "where manifest.json belongs"},
		{"an entry the manifest does not list", func() []byte {
			return assemble(t, entry{ManifestName, raw}, entry{SignatureName, sig}, entry{"rootfs.img", root}, entry{"VERSION", version}, entry{"extra", []byte("x")})
		}, ErrLayout, `"extra" is not in the manifest`},
		{"not a bundle", func() []byte { return []byte("<html>404 not found</html>") }, ErrTruncated, ManifestName},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.bundle()
			_, err := r.verifier.Verify(bytes.NewReader(b))
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("Verify: %q does not say %q", err, c.says)
			}
			rec := &recorder{}
			if _, err := r.verifier.Install(bytes.NewReader(b), rec); !errors.Is(err, c.want) {
				t.Fatalf("Install: %v, want %v", err, c.want)
			}
			if len(rec.writes) > 0 || rec.bytes > 0 || rec.committed {
				t.Errorf("a refused bundle reached the target: %+v", rec)
			}
		})
	}
	// The same bytes, untouched, pass: the cases fail for their reason.
	rec := &recorder{}
	if _, err := r.verifier.Install(bytes.NewReader(good), rec); err != nil || !rec.committed || rec.bytes != int64(len(root)+len(version)) {
		t.Fatalf("good bundle: %v, %+v", err, rec)
	}
}

// changing is a bundle that differs on its second read: Install must
// notice and abort what it wrote.
type changing struct {
	first, second []byte
	r             *bytes.Reader
	reads         int
}

func (c *changing) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *changing) Seek(off int64, whence int) (int64, error) {
	c.reads++
	c.r = bytes.NewReader(c.second)
	return c.r.Seek(off, whence)
}

func TestInstallRechecksWhatItWrites(t *testing.T) {
	r := newRig(t)
	good := r.bundle(t, r.key, r.manifest())
	bad := bytes.Clone(good)
	i := bytes.Index(bad, r.files["rootfs.img"][1000:1100])
	bad[i] ^= 1
	c := &changing{first: good, second: bad, r: bytes.NewReader(good)}
	rec := &recorder{}
	if _, err := r.verifier.Install(c, rec); !errors.Is(err, ErrPayload) {
		t.Fatalf("Install of a bundle changed underneath: %v", err)
	}
	if rec.committed || !rec.aborted {
		t.Errorf("target %+v: want aborted, not committed", rec)
	}
}

func TestKeysRoundTrip(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(priv)
	if err != nil || !back.Equal(k) {
		t.Fatalf("private key round trip: %v", err)
	}
	k2, _ := GenerateKey()
	p1, _ := MarshalPublicKey(&k.PublicKey)
	p2, _ := MarshalPublicKey(&k2.PublicKey)
	keys, err := ParsePublicKeys(append(p1, p2...))
	if err != nil || len(keys) != 2 {
		t.Fatalf("two keys in one file: %v, %d", err, len(keys))
	}
	if _, err := ParsePublicKeys(priv); err == nil {
		t.Error("a private key was taken for a public key")
	}
	path := filepath.Join(t.TempDir(), "keys.pem")
	_ = os.WriteFile(path, append(p1, p2...), 0o644)
	trust, err := LoadTrust(path)
	if err != nil || len(trust.IDs()) != 2 {
		t.Fatalf("LoadTrust: %v", err)
	}
	id, _ := KeyID(&k.PublicKey)
	if len(id) != 32 {
		t.Errorf("key id %q", id)
	}
}

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.4.0", "1.4", 0}, {"1.10.0", "1.9.9", 1}, {"2", "10", -1}, {"0.1.202611251200", "0.1.202611251159", 1},
	}
	for _, c := range cases {
		if got, err := CompareVersions(c.a, c.b); err != nil || got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "v1.0", "1.0-rc1", "1..2", "1.2.3.4.5"} {
		if _, err := CompareVersions(bad, "1"); err == nil {
			t.Errorf("version %q accepted", bad)
		}
	}
}

func TestParseIndex(t *testing.T) {
	good := `{"version":"1.4.0","compatible":"rpi4-64","bundle":"twincap-1.4.0-rpi4-64.tcb","size":10,"sha256":"` + strings.Repeat("ab", 32) + `"}`
	if _, err := ParseIndex([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		strings.Replace(good, "twincap-1.4.0-rpi4-64.tcb", "../../etc/shadow", 1),
		strings.Replace(good, `"size":10`, `"size":0`, 1),
		strings.Replace(good, `"version":"1.4.0"`, `"version":"latest"`, 1),
		strings.Replace(good, `}`, `,"x":1}`, 1),
	} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("index accepted: %s", bad)
		}
	}
}
