package update

import (
	"bytes"
	"testing"
)

// FuzzVerify feeds hostile bytes to the verifier: it must refuse them
// without panicking or reading without bound, and whatever it accepts
// must be a bundle whose payloads match its signed manifest.
func FuzzVerify(f *testing.F) {
	r := newRig(f)
	good := r.bundleTB(f, r.manifest())
	f.Add(good)
	f.Add(good[:1024])
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := r.verifier.Verify(bytes.NewReader(data))
		if err != nil {
			return
		}
		rec := &recorder{}
		if _, err := r.verifier.Install(bytes.NewReader(data), rec); err != nil {
			t.Fatalf("Verify accepted what Install refused: %v", err)
		}
		var total int64
		for _, p := range m.Payloads {
			total += p.Size
		}
		if rec.bytes != total || m.Compatible != r.verifier.Board {
			t.Fatalf("accepted %+v, wrote %d bytes", m, rec.bytes)
		}
	})
}
