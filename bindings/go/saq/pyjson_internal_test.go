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
