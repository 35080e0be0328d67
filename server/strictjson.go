package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// maxDepth bounds how deeply a request body may nest. The deepest body the
// API takes is three objects down; the bound keeps the recursive key walk
// below from following a megabyte of brackets.
const maxDepth = 16

// keyError is a body whose keys are wrong: ambiguous or unknown.
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// checkKeys walks the JSON value in data alongside the Go type it is about
// to be decoded into, because encoding/json on its own is too forgiving to
// tell what a body said: it matches keys case-insensitively ("PROJECT"
// fills project) and lets the last of two equal keys win, so a body could
// carry one value past a check that reads it and another into storage.
// checkKeys refuses, in every object, a key given twice and a key that
// names a field of t in another case; with unknown it also refuses keys
// that name no field (user bodies), otherwise those are left for the
// decoder to ignore (agent bodies). Map keys are free-form but still
// unique. Syntax errors are returned as the decoder's.
func checkKeys(data []byte, t reflect.Type, unknown bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	w := keyWalker{dec: dec, unknown: unknown}
	return w.value(t, "", 0)
}

type keyWalker struct {
	dec     *json.Decoder
	unknown bool
}

// value consumes one JSON value; t is the type it decodes into, nil when
// that is not known (an unknown key's value, a custom decoder's input).
func (w *keyWalker) value(t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return &keyError{fmt.Sprintf("the body nests deeper than %d levels", maxDepth)}
	}
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	t = underlying(t)
	switch tok {
	case json.Delim('{'):
		return w.object(t, path, depth)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for w.dec.More() {
			if err := w.value(elem, path+"[]", depth+1); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // ]
		return err
	}
	return nil
}

// object consumes the members of an object whose '{' has been read.
func (w *keyWalker) object(t reflect.Type, path string, depth int) error {
	var fields map[string]reflect.Type
	isMap := t != nil && t.Kind() == reflect.Map
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return &keyError{fmt.Sprintf("key %q appears twice in %s", short(key), where(path))}
		}
		seen[key] = true
		var next reflect.Type
		switch {
		case isMap:
			next = t.Elem()
		case fields != nil:
			ft, known := fields[key]
			if err := w.checkField(fields, known, key, path); err != nil {
				return err
			}
			next = ft
		}
		if err := w.value(next, join(path, key), depth+1); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // }
	return err
}

// checkField refuses a key that is a field's name in another case, and,
// when unknown keys are refused, one that names no field at all.
func (w *keyWalker) checkField(fields map[string]reflect.Type, known bool, key, path string) error {
	if known {
		return nil
	}
	for name := range fields {
		if strings.EqualFold(name, key) {
			return &keyError{fmt.Sprintf("key %q in %s: keys are case-sensitive; the field is %q", short(key), where(path), name)}
		}
	}
	if w.unknown {
		return &keyError{fmt.Sprintf("unknown key %q in %s", short(key), where(path))}
	}
	return nil
}

// underlying is t without pointers; nil for types that decode themselves
// (time.Time, api.CommandLine), whose insides the walk cannot name.
func underlying(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	return t
}

// jsonFields maps a struct's JSON keys to their types, as encoding/json
// names them (the tag's name, else the Go name; "-" skipped). The API's
// types embed nothing, so embedded structs need no special case.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// short keeps a quoted key to a readable length in an error message.
func short(key string) string {
	const max = 64
	if len(key) > max {
		return key[:max] + "…"
	}
	return key
}

func join(path, key string) string {
	if path == "" {
		return short(key)
	}
	return path + "." + short(key)
}

func where(path string) string {
	if path == "" {
		return "the body"
	}
	return path
}

// isKeyError reports whether err is checkKeys' own refusal rather than a
// syntax error.
func isKeyError(err error) bool {
	var ke *keyError
	return errors.As(err, &ke)
}
