// SPDX-License-Identifier: MIT
package saq

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// The fallback decoder reads what Python's json writes and nothing else:
// tokens inside strings stay strings, malformed text is refused.
func TestDecodePythonJSON(t *testing.T) {
	v, err := decodeJSON([]byte(` {"a": [NaN, -Infinity, Infinity, -1.5e3, 0, "NaN", "-Infinity", "\u0000saq:NaN"], "b": {"c": null, "d": true, "e": false, "f": 1e999, "g": "x\"NaN"}} `))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	a := m["a"].([]any)
	if !math.IsNaN(a[0].(float64)) || !math.IsInf(a[1].(float64), -1) || !math.IsInf(a[2].(float64), 1) {
		t.Fatalf("tokens: %#v", a)
	}
	if !reflect.DeepEqual(a[3:], []any{-1500.0, 0.0, "NaN", "-Infinity", "\x00saq:NaN"}) {
		t.Fatalf("values: %#v", a[3:])
	}
	want := map[string]any{"c": nil, "d": true, "e": false, "f": json.Number("1e999"), "g": `x"NaN`}
	if !reflect.DeepEqual(m["b"], want) {
		t.Fatalf("b = %#v", m["b"])
	}
	for _, bad := range []string{`NaNx`, `[NaN,]`, `{"a" NaN}`, `-NaN`, `nan`, `[1] 2`, `"\x01"`, `{"a":1,}`, `01`, `[Infinity`} {
		if v, err := decodeJSON([]byte(bad)); err == nil {
			t.Errorf("decodeJSON(%q) = %#v, want an error", bad, v)
		}
	}
	var f float64
	if err := decodeInto([]byte("-Infinity"), &f); err != nil || !math.IsInf(f, -1) {
		t.Fatalf("decodeInto(*float64) = %v, %v", f, err)
	}
	if b, err := encodeResult([]any{1, "NaN"}); err != nil || string(b) != `[1,"NaN"]` {
		t.Fatalf("encodeResult = %s, %v", b, err)
	}
}

// splitArray keeps each element's text, Python's tokens included, and
// refuses what is not one array.
func TestSplitArray(t *testing.T) {
	got, err := splitArray([]byte(` [1, NaN, {"a": [-Infinity, "x,]"]}, null, "s"] `))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1`, `NaN`, `{"a": [-Infinity, "x,]"]}`, `null`, `"s"`}
	if len(got) != len(want) {
		t.Fatalf("splitArray = %q", got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("element %d = %s, want %s", i, got[i], want[i])
		}
	}
	if got, err := splitArray([]byte(`[]`)); err != nil || len(got) != 0 {
		t.Fatalf("splitArray([]) = %q, %v", got, err)
	}
	for _, bad := range []string{`{"a": 1}`, `[NaN`, `[NaN] 1`, `NaN`, `[NaN,]`, ``} {
		if v, err := splitArray([]byte(bad)); err == nil {
			t.Errorf("splitArray(%q) = %q, want an error", bad, v)
		}
	}
}
