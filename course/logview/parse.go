package main

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Entry is one line of a test log. Lines written by the log package are
// structured: time, level, source, and a message that by convention starts
// with a [topic] and key=value fields (store, region, peer, term) before its
// free text. Anything else (go test's own lines, t.Log output) is kept as Raw.
type Entry struct {
	Raw        string
	Structured bool
	Time       string // hh:mm:ss.micro
	Level      string // debug, info, warn, error, fatal
	Source     string // file.go:line
	Topic      string // "elect", or "" when the message has none
	Fields     []Field
	Text       string // the free text after topic and fields
}

// Field is one key=value pair at the start of a message.
type Field struct{ Key, Value string }

// Get returns the value of a field, or "".
func (e *Entry) Get(key string) string {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// logLine matches the log package's format:
// 2026/11/23 10:55:01.123456 [info] peer.go:120: message
var logLine = regexp.MustCompile(`^(?:\d{4}/\d{2}/\d{2} )?(\d{2}:\d{2}:\d{2}(?:\.\d+)?) \[(debug|info|warn|error|fatal)\] (\S+?:\d+): ?(.*)$`)

var (
	topicPattern = regexp.MustCompile(`^\[([a-z][a-z0-9_-]*)\]\s*`)
	fieldPattern = regexp.MustCompile(`^([a-z][a-z0-9_]*)=(\S+)$`)
)

// goTestEvent is the part of a `go test -json` line that carries output.
type goTestEvent struct {
	Action string
	Output *string
}

// Parse reads one line of a log. A `go test -json` output event is unwrapped
// first, so that both plain and JSON test logs can be viewed.
func Parse(line string) (Entry, bool) {
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "{") {
		var ev goTestEvent
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Action != "" {
			if ev.Output == nil {
				return Entry{}, false // a start/pass/fail event: no text of its own
			}
			line = strings.TrimRight(*ev.Output, "\r\n")
		}
	}
	m := logLine.FindStringSubmatch(line)
	if m == nil {
		return Entry{Raw: line}, true
	}
	e := Entry{Raw: line, Structured: true, Time: m[1], Level: m[2], Source: m[3]}
	msg := m[4]
	if t := topicPattern.FindStringSubmatch(msg); t != nil {
		e.Topic = t[1]
		msg = msg[len(t[0]):]
	}
	e.Fields, e.Text = splitFields(msg)
	return e, true
}

// splitFields takes the leading key=value tokens off a message.
func splitFields(msg string) ([]Field, string) {
	var fields []Field
	rest := strings.TrimLeft(msg, " ")
	for rest != "" {
		token, after, _ := strings.Cut(rest, " ")
		m := fieldPattern.FindStringSubmatch(token)
		if m == nil {
			break
		}
		fields = append(fields, Field{Key: m[1], Value: m[2]})
		rest = strings.TrimLeft(after, " ")
	}
	return fields, rest
}

// levelRank orders levels for the -level filter.
var levelRank = map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4}
