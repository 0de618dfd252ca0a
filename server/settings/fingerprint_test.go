package settings

import "testing"

// Equal fingerprints exactly when Compare finds nothing that should match
// and does not: one change of each field, and none.
func TestFingerprint(t *testing.T) {
	a := full()
	if Fingerprint(a) != Fingerprint(full()) || len(Fingerprint(a)) != 64 {
		t.Fatalf("Fingerprint is not a stable SHA-256: %q", Fingerprint(a))
	}
	for _, tc := range classes {
		t.Run(tc.path, func(t *testing.T) {
			b := full()
			tc.change(&b)
			same := Fingerprint(a) == Fingerprint(b)
			if same != Compare(a, b).Match() {
				t.Fatalf("fingerprints equal = %v, Compare.Match = %v", same, Compare(a, b).Match())
			}
		})
	}
}
