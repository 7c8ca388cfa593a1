// SPDX-License-Identifier: MIT
package saq

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Long texts in a record (a handler's megabytes of error text) are cut
// before they are decoded, between escapes and characters; short ones pass.
func TestCapLogTexts(t *testing.T) {
	long := strings.Repeat("é<\x01\"\\", 100000)
	doc, _ := json.Marshal(map[string]any{"job": "k", "reason": long, "n": 3})
	attrs := fieldAttrs(string(doc))
	got := map[string]string{}
	for _, a := range attrs {
		got[a.Key] = a.Value.String()
	}
	r := got["reason"]
	if got["job"] != "k" || got["n"] != "3" || !utf8.ValidString(r) || len(r) > maxLogText+40 ||
		!strings.HasPrefix(r, "é<\x01\"\\é<") || !strings.Contains(r, " bytes cut]") {
		t.Fatalf("capped fields: job %q n %q reason (%d bytes) %q...", got["job"], got["n"], len(r), r[:40])
	}
	short := `{"queue": "a\"b", "x": "y"}`
	if capJSONStrings(short) != short {
		t.Fatal("a short document changed")
	}
	if m := capText(strings.Repeat("é", maxLogText)); len(m) > maxLogText+40 || !utf8.ValidString(m) {
		t.Fatalf("capText: %d bytes", len(m))
	}
}
