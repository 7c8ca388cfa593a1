// SPDX-License-Identifier: MIT
package saq

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libsaq/libsaq/bindings/go/internal/saqraw"
)

// LevelOff, given to WithLogLevel, turns a queue's logging off (it is above
// every level libsaq logs at).
const LevelOff slog.Level = math.MaxInt32

// WithLogger sends the log records of the queue and of its workers to l:
// those libsaq writes (worker started and stopped, Redis unreachable, a
// connection lost and recovered with its cause and the outage's length, a
// record that cannot be read, a job swept or recovered from a dead worker, a
// handler that failed, ...) and the binding's own (a Go hook that panicked).
// Levels map as SAQ_LOG_DEBUG, INFO, WARNING, ERROR → slog.LevelDebug, Info,
// Warn, Error; the record's structured fields (queue, worker, job,
// function, error, code, address, outage_ms, ...) become attributes.
//
// Which records libsaq sends is decided once, when the queue is made, by the
// least severe level l's handler is enabled for (WithLogLevel overrides
// it): a handler whose level is later lowered through a slog.LevelVar does
// not get libsaq's records below the first level until WithLogLevel asks for
// them. A logger whose handler is enabled for no level
// silences the queue.
//
// Without WithLogger (or with a nil l), records go to slog.Default() (looked up at each
// record, so slog.SetDefault applies), for warnings and errors, or from the
// level in the environment variable SAQ_LOG_LEVEL ("debug", "info",
// "warning", "error", "off"). The records are handed to the handler from the
// queue's poller goroutine: a handler that blocks delays the queue's
// operations.
func WithLogger(l *slog.Logger) QueueOption {
	return func(c *queueConfig) { c.logger = l }
}

// WithLogLevel sets the least severe level of the queue's log records (those
// of libsaq and of the binding): slog.LevelDebug, LevelInfo, LevelWarn,
// LevelError, or LevelOff to log nothing. It is libsaq's log_level key
// (WithConfig("log_level", "info") is the same), so records below it are not
// even produced.
func WithLogLevel(level slog.Level) QueueOption {
	return func(c *queueConfig) { c.set("log_level", levelWord(level)) }
}

// levelWord is libsaq's log_level word for a slog level: the least severe
// of libsaq's levels that level lets through.
func levelWord(level slog.Level) string {
	switch {
	case level <= slog.LevelDebug:
		return "debug"
	case level <= slog.LevelInfo:
		return "info"
	case level <= slog.LevelWarn:
		return "warning"
	case level <= slog.LevelError:
		return "error"
	}
	return "off"
}

// wordLevel is the inverse of levelWord; ok is false for an unknown word.
func wordLevel(word string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(word)) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warning", "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	case "off":
		return LevelOff, true
	}
	return 0, false
}

// slogLevel maps a SAQ_LOG_* level (syslog's numbers) to slog's.
func slogLevel(level int) slog.Level {
	switch {
	case level <= saqraw.SAQ_LOG_ERROR:
		return slog.LevelError
	case level <= saqraw.SAQ_LOG_WARNING+1: // 5, syslog's notice, is not used by libsaq
		return slog.LevelWarn
	case level <= saqraw.SAQ_LOG_INFO:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// logSink is where a queue's records go.
type logSink struct {
	logger *slog.Logger // nil: slog.Default() at each record
	min    slog.Level   // the queue's log_level, for the binding's own records
}

// newLogSink decides the logger and the level of a queue from its options;
// it returns the log_level value to set on the conf ("" to leave libsaq's
// default, which reads SAQ_LOG_LEVEL).
func newLogSink(cfg *queueConfig) (*logSink, string) {
	s := &logSink{logger: cfg.logger, min: slog.LevelWarn}
	explicit := ""
	for _, p := range cfg.kv {
		if p[0] == "log_level" {
			explicit = p[1]
		}
	}
	if explicit != "" {
		if l, ok := wordLevel(explicit); ok {
			s.min = l
		}
		return s, "" // already in cfg.kv; libsaq checks it
	}
	if s.logger == nil {
		if l, ok := wordLevel(os.Getenv("SAQ_LOG_LEVEL")); ok {
			s.min = l
		}
		return s, ""
	}
	s.min = LevelOff
	h, ctx := s.logger.Handler(), context.Background()
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if h.Enabled(ctx, l) {
			s.min = l
			break
		}
	}
	return s, levelWord(s.min)
}

func (s *logSink) get() *slog.Logger {
	if s.logger != nil {
		return s.logger
	}
	return slog.Default()
}

// emit hands one record to the logger's handler (with no source position:
// it comes from libsaq or from the binding, not from the caller's code).
func (s *logSink) emit(level slog.Level, msg string, attrs ...slog.Attr) {
	h, ctx := s.get().Handler(), context.Background()
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

// logf logs one of the binding's own records, filtered by the queue's level
// as libsaq filters its records.
func (s *logSink) logf(level slog.Level, msg string, attrs ...slog.Attr) {
	if level < s.min {
		return
	}
	s.emit(level, msg, attrs...)
}

// emitEvent logs a SAQ_EVENT_LOG event (libsaq filtered it already).
func (s *logSink) emitEvent(ev rawEvent) {
	s.emit(slogLevel(int(saqraw.Saq_event_int(ev))), capText(saqraw.Saq_event_text(ev)),
		fieldAttrs(saqraw.Saq_event_json(ev))...)
}

// maxLogText caps the message and each string field of a record: a handler's
// error text, which libsaq puts in the record, may be megabytes long (the
// job's record keeps it whole).
const maxLogText = 8 << 10

// capJSONStrings cuts every string of a JSON document longer than
// maxLogText bytes, before it is decoded (decoding megabytes would hold up
// the poller), with the note capText writes. The cut falls between escape
// sequences and UTF-8 characters.
func capJSONStrings(doc string) string {
	if len(doc) <= maxLogText {
		return doc
	}
	var b strings.Builder
	i := 0 // doc[:i] is handled
	for {
		open := strings.IndexByte(doc[i:], '"')
		if open < 0 {
			b.WriteString(doc[i:])
			return b.String()
		}
		start := i + open + 1 // the string's first byte
		end := start          // its closing quote
		for {
			q := strings.IndexByte(doc[end:], '"')
			if q < 0 {
				return doc // malformed: left to the decoder
			}
			end += q
			bs := 0
			for k := end - 1; k >= start && doc[k] == '\\'; k-- {
				bs++
			}
			if bs%2 == 0 {
				break
			}
			end++
		}
		b.WriteString(doc[i:start])
		if end-start <= maxLogText {
			b.WriteString(doc[start:end])
		} else {
			cut := start
			for cut < end {
				n := 1
				if doc[cut] == '\\' {
					n = 2
					if cut+1 < end && doc[cut+1] == 'u' {
						n = 6
					}
				} else if doc[cut] >= utf8.RuneSelf {
					_, n = utf8.DecodeRuneInString(doc[cut:end])
				}
				if cut+n-start > maxLogText {
					break
				}
				cut += n
			}
			b.WriteString(doc[start:cut])
			b.WriteString("[... " + strconv.Itoa(end-cut) + " bytes cut]")
		}
		b.WriteByte('"')
		i = end + 1
	}
}

// capText cuts s to maxLogText bytes (on a UTF-8 boundary) with a note.
func capText(s string) string {
	if len(s) <= maxLogText {
		return s
	}
	cut := maxLogText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "[... " + strconv.Itoa(len(s)-cut) + " bytes cut]"
}

// fieldAttrs turns a record's flat JSON object of fields into attributes, in
// the object's order: strings as strings, integers as int64, other numbers
// as float64 (anything else, which libsaq does not write, as decoded).
func fieldAttrs(doc string) []slog.Attr {
	if doc == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(capJSONStrings(doc)))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return []slog.Attr{slog.String("fields", doc)}
	}
	var attrs []slog.Attr
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break
		}
		attrs = append(attrs, fieldAttr(key, raw))
	}
	return attrs
}

func fieldAttr(key string, raw json.RawMessage) slog.Attr {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil && err != io.EOF {
		return slog.String(key, string(raw))
	}
	switch x := v.(type) {
	case string:
		return slog.String(key, capText(x))
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return slog.Int64(key, i)
		}
		if f, err := x.Float64(); err == nil {
			return slog.Float64(key, f)
		}
		return slog.String(key, x.String())
	case bool:
		return slog.Bool(key, x)
	}
	return slog.Any(key, v)
}
