package settings

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// MaxDocument bounds a settings document or patch, in bytes.
const MaxDocument = 64 << 10

// Decode reads a whole settings document over Default and validates it.
func Decode(data []byte) (Settings, error) { return Apply(Default(), data) }

// Apply merges patch, a JSON object holding any subset of the fields, into
// old and validates the result. Nested objects merge field by field; a list
// (maintenance, days) is replaced whole; null is refused. When anything is
// wrong, Apply returns old unchanged and an *InvalidError naming every
// offending field: unknown fields, values of the wrong type, unknown enum
// values, values out of range.
func Apply(old Settings, patch []byte) (Settings, error) {
	if len(patch) > MaxDocument {
		return old, &InvalidError{Fields: []FieldError{{Problem: fmt.Sprintf("document is %d bytes; at most %d", len(patch), MaxDocument)}}}
	}
	s := old.Clone()
	var p problems
	decodeObject(reflect.ValueOf(&s).Elem(), patch, "", &p)
	if p.has("") {
		// The document itself is unreadable: nothing more to say.
		return old, p.err()
	}
	var v problems
	s.validate(&v)
	for _, f := range v {
		if !p.covers(f.Field) {
			p = append(p, f)
		}
	}
	if err := p.err(); err != nil {
		return old, err
	}
	return s, nil
}

// decodeObject merges the JSON object data into the struct v, recording
// what is wrong under path.
func decodeObject(v reflect.Value, data []byte, path string, p *problems) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		p.add(path, "not valid JSON: %v", cleanJSONError(err))
		return
	}
	if tok != json.Delim('{') {
		p.add(path, "want a JSON object")
		return
	}
	fields := jsonFields(v.Type())
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			p.add(path, "not valid JSON: %v", cleanJSONError(err))
			return
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			p.add(path, "not valid JSON: %v", cleanJSONError(err))
			return
		}
		at := join(path, key)
		switch i, known := fields[key]; {
		case seen[key]:
			p.add(at, "given twice")
		case !known:
			p.add(at, "unknown field")
		default:
			decodeValue(v.Field(i), raw, at, p)
		}
		seen[key] = true
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		p.add(path, "not valid JSON: %v", cleanJSONError(err))
		return
	}
	if path == "" {
		if _, err := dec.Token(); err != io.EOF {
			p.add("", "not valid JSON: data after the settings object")
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// isObject reports whether t is decoded field by field.
func isObject(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler)
}

func decodeValue(f reflect.Value, raw json.RawMessage, at string, p *problems) {
	if string(bytes.TrimSpace(raw)) == "null" {
		p.add(at, "null is not a value here; give %s", want(f.Type()))
		return
	}
	t := f.Type()
	switch {
	case isObject(t):
		decodeObject(f, raw, at, p)
	case t.Kind() == reflect.Slice && isObject(t.Elem()):
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			p.add(at, "want a list")
			return
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			el := fmt.Sprintf("%s[%d]", at, i)
			if string(bytes.TrimSpace(item)) == "null" {
				p.add(el, "null is not a value here; give an object")
				continue
			}
			decodeObject(out.Index(i), item, el, p)
		}
		f.Set(out)
	default:
		v := reflect.New(t)
		if err := json.Unmarshal(raw, v.Interface()); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				p.add(at, "want %s, not %s", want(t), te.Value)
			} else {
				p.add(at, "%v", cleanJSONError(err))
			}
			return
		}
		f.Set(v.Elem())
	}
}

// want says, for an operator, what kind of JSON value a type takes.
func want(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return `a duration such as "24h" or "90m"`
	case reflect.TypeFor[Clock]():
		return `a time of day "HH:MM"`
	}
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshaler), t.Kind() == reflect.String:
		return "a string"
	case isObject(t):
		return "an object"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Bool:
		return "true or false"
	}
	return "a whole number"
}

func cleanJSONError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonFields maps the JSON names of a struct's fields to their indexes.
func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}
