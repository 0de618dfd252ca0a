package settings

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Class is what a difference in one setting between the two servers of a
// room means.
type Class int

const (
	// NonBlocking: the settings should match; interviews go on, and the
	// box shows how many differ.
	NonBlocking Class = iota
	// Blocking: the settings must match; no interview can start.
	Blocking
	// Ignored: the settings may differ by design.
	Ignored
)

func (c Class) String() string {
	switch c {
	case NonBlocking:
		return "non-blocking"
	case Blocking:
		return "blocking"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// MarshalText writes String, for logs and the admin API.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads what MarshalText writes, so that clients of the admin
// API can decode a Comparison.
func (c *Class) UnmarshalText(b []byte) error {
	for _, v := range []Class{NonBlocking, Blocking, Ignored} {
		if v.String() == string(b) {
			*c = v
			return nil
		}
	}
	return fmt.Errorf("unknown class %q (want blocking, non-blocking or ignored)", b)
}

// Field describes one setting as Compare sees it.
type Field struct {
	Path  string `json:"path"`  // JSON path, such as "evidence.retry_attempts"
	Label string `json:"label"` // for people, such as "Evidence upload: Retry attempts"
	Class Class  `json:"class"`
}

var fields = collectFields(reflect.TypeFor[Settings](), "", "", NonBlocking)

// Fields lists every setting in document order.
func Fields() []Field { return append([]Field(nil), fields...) }

func collectFields(t reflect.Type, path, label string, class Class) []Field {
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		name := jsonName(sf)
		if name == "" {
			continue
		}
		c := class
		if path == "" {
			switch sf.Tag.Get("compare") {
			case "blocking":
				c = Blocking
			case "ignored":
				c = Ignored
			}
		}
		l := sf.Tag.Get("label")
		if label != "" {
			l = label + ": " + l
		}
		if isObject(sf.Type) {
			out = append(out, collectFields(sf.Type, join(path, name), l, c)...)
			continue
		}
		out = append(out, Field{Path: join(path, name), Label: l, Class: c})
	}
	return out
}

// values flattens s into one canonical JSON value per field path.
func values(s Settings) map[string]string {
	m := map[string]string{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			name := jsonName(v.Type().Field(i))
			if name == "" {
				continue
			}
			f := v.Field(i)
			if isObject(f.Type()) {
				walk(f, join(path, name))
				continue
			}
			if f.Kind() == reflect.Slice && f.Len() == 0 {
				m[join(path, name)] = "[]" // nil and empty are the same setting
				continue
			}
			b, err := json.Marshal(f.Interface())
			if err != nil {
				b = fmt.Appendf(nil, "%q", fmt.Sprint(f.Interface()))
			}
			m[join(path, name)] = string(b)
		}
	}
	walk(reflect.ValueOf(s), "")
	return m
}

// Difference is one setting that differs between two servers.
type Difference struct {
	Field Field `json:"field"`
	// A and B are the two values as JSON.
	A string `json:"a"`
	B string `json:"b"`
}

func (d Difference) String() string {
	return fmt.Sprintf("%s (%s, %s): %s vs %s", d.Field.Label, d.Field.Path, d.Field.Class, d.A, d.B)
}

// Comparison is the result of comparing two servers' settings.
type Comparison struct {
	// Differences lists every setting that differs, ignored ones
	// included, in document order.
	Differences []Difference `json:"differences"`
}

// Compare applies the seed's rule: Room ID, Device ID, Device URL and FIPS
// must match (Blocking); paired-server settings, source settings and
// maintenance times may differ (Ignored); any other difference is
// NonBlocking.
func Compare(a, b Settings) Comparison {
	va, vb := values(a), values(b)
	var c Comparison
	for _, f := range fields {
		if va[f.Path] != vb[f.Path] {
			c.Differences = append(c.Differences, Difference{Field: f, A: va[f.Path], B: vb[f.Path]})
		}
	}
	return c
}

// Of lists the differences of one class.
func (c Comparison) Of(class Class) []Difference {
	var out []Difference
	for _, d := range c.Differences {
		if d.Field.Class == class {
			out = append(out, d)
		}
	}
	return out
}

// Blocking reports whether a difference stops interviews from starting.
func (c Comparison) Blocking() bool { return len(c.Of(Blocking)) > 0 }

// Match reports whether the settings agree on everything that should agree.
func (c Comparison) Match() bool { return len(c.Of(Blocking))+len(c.Of(NonBlocking)) == 0 }

// Message is what the box shows: for a blocking mismatch it names the
// settings; for non-blocking ones it gives their number. Empty when the
// settings match.
func (c Comparison) Message() string {
	blocking, other := c.Of(Blocking), len(c.Of(NonBlocking))
	if len(blocking) > 0 {
		names := make([]string, len(blocking))
		for i, d := range blocking {
			names[i] = d.Field.Label
		}
		msg := fmt.Sprintf("Settings differ between the servers: %s. Interviews cannot start until they match.", list(names))
		if other > 0 {
			msg += fmt.Sprintf(" %s also %s.", plural(other, "other setting"), differ(other))
		}
		return msg
	}
	if other > 0 {
		return fmt.Sprintf("%s %s between the servers; interviews can go on, but correct this promptly (details in the log).", plural(other, "setting"), differ(other))
	}
	return ""
}

// Details lists the blocking and non-blocking differences, one line each,
// for the logs.
func (c Comparison) Details() []string {
	var out []string
	for _, d := range c.Differences {
		if d.Field.Class != Ignored {
			out = append(out, d.String())
		}
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func differ(n int) string {
	if n == 1 {
		return "differs"
	}
	return "differ"
}

func list(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
