package main

import (
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
		{box.Status{Room: "connected", Fault: "camera"}, false},
		{box.Status{Room: "degraded", Fault: "disk"}, false},
	} {
		if err := Check(tc.st); (err == nil) != tc.pass {
			t.Errorf("%+v: %v, want pass %v", tc.st, err, tc.pass)
		}
	}
}
