package settings

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Fingerprint digests (SHA-256) every setting that should match between
// the two servers of a room — all but the ignored ones — so that two
// servers' fingerprints are equal exactly when Compare finds neither a
// blocking nor a non-blocking difference. A server shows it in its health
// reply; a monitor can compare the pair without reading their settings.
func Fingerprint(s Settings) string {
	v := values(s)
	b := []byte("twincap-settings-v1\x00")
	for _, f := range fields {
		if f.Class == Ignored {
			continue
		}
		for _, x := range []string{f.Path, v[f.Path]} {
			b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
			b = append(b, x...)
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
