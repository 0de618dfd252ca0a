package settings

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzApply: whatever a client sends, Apply either refuses it (naming at
// least one field or the document, and leaving the settings as they were)
// or returns valid settings that survive a round trip through JSON.
func FuzzApply(f *testing.F) {
	for _, tc := range applyCases {
		f.Add([]byte(tc.patch))
	}
	fullJSON, _ := json.Marshal(full())
	f.Add(fullJSON)
	f.Fuzz(func(t *testing.T, patch []byte) {
		old := full()
		got, err := Apply(old, patch)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || len(ie.Fields) == 0 {
				t.Fatalf("error %v (%T) is not an *InvalidError with fields", err, err)
			}
			if !reflect.DeepEqual(got, full()) {
				t.Fatalf("a refused patch changed the settings")
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Apply returned invalid settings: %v", err)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Marshal(x)): %v\n%s", err, b)
		}
		if c := Compare(back, got); len(c.Differences) != 0 {
			t.Fatalf("round trip changed %v", c.Differences)
		}
	})
}
