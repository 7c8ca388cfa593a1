// SPDX-License-Identifier: MIT
package saq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// JSON as Python's json module writes it. Python saq stores a non-finite
// float as a bare NaN, Infinity or -Infinity token, which encoding/json
// refuses; these helpers read and write such documents without changing
// anything else.

// maxJSONDepth bounds the nesting the fallback decoder accepts (libsaq
// itself refuses records nested deeper than 512).
const maxJSONDepth = 10000

// decodeJSON decodes JSON text into the values encoding/json uses for an
// `any` (map[string]any, []any, float64, string, bool, nil), also accepting
// Python's NaN, Infinity and -Infinity (decoded as math.NaN() and
// math.Inf(±1)). A number that does not fit a float64 (Python writes
// 10**400 as its digits) decodes as a json.Number holding its exact text
// instead of failing the whole document.
func decodeJSON(data []byte) (any, error) {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return v, nil
	}
	d := &pyDecoder{data: data}
	d.ws()
	v, perr := d.value(0)
	if perr != nil {
		return nil, err // encoding/json's message is the better one for malformed text
	}
	if d.ws(); d.pos != len(d.data) {
		return nil, err
	}
	return v, nil
}

type pyDecoder struct {
	data []byte
	pos  int
}

func (d *pyDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *pyDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *pyDecoder) lit(word string) bool {
	if bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		d.pos += len(word)
		return true
	}
	return false
}

func (d *pyDecoder) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, d.errorf("nested too deeply")
	}
	if d.pos >= len(d.data) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.str()
	case d.lit("true"):
		return true, nil
	case d.lit("false"):
		return false, nil
	case d.lit("null"):
		return nil, nil
	case d.lit("NaN"):
		return math.NaN(), nil
	case d.lit("Infinity"):
		return math.Inf(1), nil
	case d.lit("-Infinity"):
		return math.Inf(-1), nil
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	default:
		return nil, d.errorf("invalid character %q", c)
	}
}

func (d *pyDecoder) object(depth int) (any, error) {
	d.pos++ // '{'
	m := map[string]any{}
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.errorf("object key expected")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.errorf("':' expected")
		}
		d.pos++
		d.ws()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.ws()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.pos < len(d.data) && d.data[d.pos] == '}' {
			d.pos++
			return m, nil
		}
		return nil, d.errorf("',' or '}' expected")
	}
}

func (d *pyDecoder) array(depth int) (any, error) {
	a := []any{}
	err := d.elements(depth, func(v any, _ []byte) { a = append(a, v) })
	if err != nil {
		return nil, err
	}
	return a, nil
}

// elements reads the array at d.pos ('['), calling each with every
// element's value and its text.
func (d *pyDecoder) elements(depth int, each func(v any, text []byte)) error {
	d.pos++ // '['
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return nil
	}
	for {
		d.ws()
		start := d.pos
		v, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		each(v, d.data[start:d.pos])
		d.ws()
		if d.pos < len(d.data) && d.data[d.pos] == ',' {
			d.pos++
			continue
		}
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return nil
		}
		return d.errorf("',' or ']' expected")
	}
}

// splitArray returns the text of each element of a JSON array, Python's
// NaN and Infinity tokens allowed inside.
func splitArray(data []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := json.Unmarshal(data, &out)
	if err == nil {
		return out, nil
	}
	d := &pyDecoder{data: data}
	d.ws()
	if d.pos >= len(d.data) || d.data[d.pos] != '[' {
		return nil, err
	}
	out = []json.RawMessage{}
	if perr := d.elements(0, func(_ any, text []byte) { out = append(out, json.RawMessage(text)) }); perr != nil {
		return nil, err
	}
	if d.ws(); d.pos != len(d.data) {
		return nil, err
	}
	return out, nil
}

// str decodes the string literal at d.pos with encoding/json itself, so
// escapes and invalid UTF-8 are handled exactly as everywhere else.
func (d *pyDecoder) str() (string, error) {
	start := d.pos
	i := start + 1
	for i < len(d.data) && d.data[i] != '"' {
		if d.data[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(d.data) {
		return "", d.errorf("unterminated string")
	}
	d.pos = i + 1
	var s string
	if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
		return "", err
	}
	return s, nil
}

func (d *pyDecoder) number() (any, error) {
	start := d.pos
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos < len(d.data) && d.data[d.pos] == '0' {
		d.pos++
	} else if digits() == 0 {
		return nil, d.errorf("invalid number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return nil, d.errorf("invalid number")
		}
	}
	text := string(d.data[start:d.pos])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return json.Number(text), nil // out of float64's range: keep it exact
	}
	return f, nil
}

// decodeInto is json.Unmarshal that also takes Python's NaN and Infinity
// where the target can hold them: into an *any (math.NaN(), math.Inf), into
// a *float64 or *float32 for a bare token, and into a *json.RawMessage (the
// text as it is). Elsewhere it returns an error naming the problem.
func decodeInto(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err
	}
	val, perr := decodeJSON(data)
	if perr != nil {
		return err
	}
	switch p := v.(type) {
	case *any:
		*p = val
		return nil
	case *json.RawMessage:
		*p = append((*p)[:0], data...)
		return nil
	case *float64:
		if f, ok := val.(float64); ok {
			*p = f
			return nil
		}
	case *float32:
		if f, ok := val.(float64); ok {
			*p = float32(f)
			return nil
		}
	}
	return fmt.Errorf("%w (the value holds NaN or Infinity as Python's json writes them, which encoding/json cannot decode into %s: decode into an any or a float64, or read the raw JSON)",
		err, reflect.TypeOf(v))
}

// encodeResult renders a value for libsaq the way Python's json.dumps would:
// json.Marshal, except that a float64 or float32 NaN or ±Inf becomes the
// bare token NaN, Infinity or -Infinity (which encoding/json refuses), and a
// json.RawMessage is passed through as it is, so that any document Python's
// json accepts, NaN and Infinity inside included, can be written (libsaq
// checks it). A nil RawMessage is null.
func encodeResult(v any) ([]byte, error) {
	switch x := v.(type) {
	case json.RawMessage:
		if len(bytes.TrimSpace(x)) == 0 {
			return []byte("null"), nil
		}
		if bytes.IndexByte(x, 0) >= 0 {
			// C would cut the text at the NUL, maybe into another valid document
			return nil, fmt.Errorf("the json.RawMessage holds a NUL byte")
		}
		return x, nil
	case *json.RawMessage:
		if x == nil {
			return []byte("null"), nil
		}
		return encodeResult(*x)
	case float64:
		if t := nonFinite(x); t != "" {
			return []byte(t), nil
		}
	case float32:
		if t := nonFinite(float64(x)); t != "" {
			return []byte(t), nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		if _, ok := err.(*json.UnsupportedValueError); ok {
			err = fmt.Errorf("%w (a NaN or Inf nested in a value cannot go through encoding/json: return the document as a json.RawMessage, e.g. {\"x\": NaN}, to store it)", err)
		}
		return nil, err
	}
	return b, nil
}

func nonFinite(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return ""
}
