package main

import (
	"encoding/json"
	"testing"

	"twincap/firmware/box"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		st   box.Status
		pass bool
	}{
		{box.Status{Room: "connected"}, true},
		{box.Status{Room: "degraded"}, true},
		{box.Status{Room: "connecting"}, false},
		{box.Status{}, false},
		{box.Status{Room: "connected", Fault: "camera", Message: "camera lost"}, false},
		{box.Status{Room: "degraded", Fault: "disk"}, false},
	} {
		// Through JSON, as the control API sends it.
		b, err := json.Marshal(tc.st)
		if err != nil {
			t.Fatal(err)
		}
		var st status
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.Room != tc.st.Room || st.Fault != tc.st.Fault || st.Message != tc.st.Message {
			t.Fatalf("%s read as %+v", b, st)
		}
		if err := Check(st); (err == nil) != tc.pass {
			t.Errorf("%+v: %v, want pass %v", tc.st, err, tc.pass)
		}
	}
}

func TestPathStatus(t *testing.T) {
	if pathStatus != box.PathStatus {
		t.Fatalf("pathStatus %q, box.PathStatus %q", pathStatus, box.PathStatus)
	}
}
