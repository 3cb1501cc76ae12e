package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestParseStructuredLine(t *testing.T) {
	e, ok := Parse("2026/11/23 10:55:01.123456 [info] peer.go:120: [elect] peer=2 term=6 became candidate at term=6\n")
	if !ok || !e.Structured {
		t.Fatalf("Parse did not recognise a log line: %+v", e)
	}
	want := Entry{
		Raw: "2026/11/23 10:55:01.123456 [info] peer.go:120: [elect] peer=2 term=6 became candidate at term=6", Structured: true,
		Time: "10:55:01.123456", Level: "info", Source: "peer.go:120", Topic: "elect",
		Fields: []Field{{"peer", "2"}, {"term", "6"}}, Text: "became candidate at term=6",
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got  %+v\nwant %+v", e, want)
	}
}

func TestParseLinesOffTheConvention(t *testing.T) {
	cases := []struct {
		line             string
		structured       bool
		topic, text, raw string
		fields           int
	}{
		{"2026/11/23 10:55:01.123456 [warn] x.go:1: no topic here", true, "", "no topic here", "", 0},
		{"2026/11/23 10:55:01.123456 [debug] x.go:1: [apply] applied", true, "apply", "applied", "", 0},
		{"2026/11/23 10:55:01.123456 [debug] x.go:1: [gc] region=3", true, "gc", "", "", 1},
		{"10:55:01.123456 [error] x.go:1: [msg] store=1 dropped", true, "msg", "dropped", "", 1},
		{"    raft_test.go:42: expected 3, got 4", false, "", "", "    raft_test.go:42: expected 3, got 4", 0},
		{"=== RUN   TestBasic2B", false, "", "", "=== RUN   TestBasic2B", 0},
		{"2026/11/23 10:55:01 [info] x.go:1: no fraction", true, "", "no fraction", "", 0},
		{"2026/11/23 10:55:01.1 [loud] x.go:1: unknown level", false, "", "", "2026/11/23 10:55:01.1 [loud] x.go:1: unknown level", 0},
	}
	for _, c := range cases {
		e, ok := Parse(c.line)
		if !ok || e.Structured != c.structured || e.Topic != c.topic || e.Text != c.text || len(e.Fields) != c.fields {
			t.Errorf("Parse(%q) = %+v", c.line, e)
		}
		if !c.structured && e.Raw != c.raw {
			t.Errorf("Parse(%q) lost the raw line: %q", c.line, e.Raw)
		}
	}
}

func TestParseUnwrapsGoTestJSON(t *testing.T) {
	line := `{"Action":"output","Test":"TestX2B","Output":"2026/11/23 10:55:01.123456 [info] peer.go:9: [commit] store=1 region=1 peer=1 term=6 commit 7\n"}`
	e, ok := Parse(line)
	if !ok || e.Topic != "commit" || e.Get("store") != "1" || e.Text != "commit 7" {
		t.Errorf("a go test -json output line was not unwrapped: %+v", e)
	}
	if _, ok := Parse(`{"Action":"pass","Test":"TestX2B","Elapsed":1}`); ok {
		t.Error("an event without output should show nothing")
	}
}

func TestFilter(t *testing.T) {
	parse := func(s string) *Entry { e, _ := Parse(s); return &e }
	tick := parse("2026/11/23 10:55:01.1 [debug] r.go:1: [tick] store=1 region=1 tick")
	vote := parse("2026/11/23 10:55:01.1 [info] r.go:1: [vote] store=2 region=3 granted")
	misc := parse("--- FAIL: TestX2B (1.00s)")
	cases := []struct {
		name            string
		f               Filter
		tick, vote, mis bool
	}{
		{"everything", Filter{Misc: true}, true, true, true},
		{"ignore", Filter{Misc: true, Ignore: map[string]bool{"tick": true}}, false, true, true},
		{"topic", Filter{Misc: true, Topics: map[string]bool{"tick": true}}, true, false, false},
		{"level", Filter{Misc: true, MinLevel: levelRank["info"]}, false, true, true},
		{"field", Filter{Misc: true, Fields: map[string]string{"region": "3"}}, false, true, false},
		{"no misc", Filter{}, true, true, false},
	}
	for _, c := range cases {
		if got := [3]bool{c.f.Keep(tick), c.f.Keep(vote), c.f.Keep(misc)}; got != [3]bool{c.tick, c.vote, c.mis} {
			t.Errorf("%s: kept tick, vote, misc = %v; want %v", c.name, got, [3]bool{c.tick, c.vote, c.mis})
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("granted vote to peer 2 at term 6", 10)
	want := []string{"granted", "vote to", "peer 2 at", "term 6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	if got := wrap("abcdefghijkl", 5); !reflect.DeepEqual(got, []string{"abcde", "fghij", "kl"}) {
		t.Errorf("wrap of a word longer than the width = %q", got)
	}
}

// The whole program on a small cluster log, compared with a golden file
// (go test ./course/logview -update rewrites it).
func TestRenderClusterLog(t *testing.T) {
	var out, errs bytes.Buffer
	input := filepath.Join("testdata", "cluster.log")
	if code := run([]string{"-width", "100", "-color", "never", input}, nil, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	golden := filepath.Join("testdata", "cluster.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("output differs from %s:\n%s", golden, out.String())
	}
	if strings.Contains(out.String(), "\033[") {
		t.Error("-color never printed colour codes")
	}
}

func TestColourAndBadFlags(t *testing.T) {
	var out, errs bytes.Buffer
	input := filepath.Join("testdata", "cluster.log")
	if code := run([]string{"-color", "always", "-level", "warn", input}, nil, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "\033[1;33mWARN [snap]") {
		t.Errorf("a warning is not painted: %q", out.String())
	}
	for _, args := range [][]string{{"-level", "loud"}, {"-by", "region"}, {"-color", "rainbow"}, {"-grep", "("}, {"missing.log"}} {
		errs.Reset()
		if code := run(args, strings.NewReader(""), &out, &errs); code == 0 || errs.Len() == 0 {
			t.Errorf("run %v: exit %d with message %q; want an error", args, code, errs.String())
		}
	}
}

func TestPeersFindTheirStore(t *testing.T) {
	var entries []Entry
	for _, line := range []string{
		"2026/11/23 10:55:01.1 [info] peer.go:1: [apply] store=2 region=3 peer=7 term=6 applied 42",
		"2026/11/23 10:55:01.2 [debug] raft.go:1: [elect] peer=7 term=6 became leader",
		"2026/11/23 10:55:01.3 [debug] raft.go:1: [vote] peer=9 term=6 granted vote to 7",
		"2026/11/23 10:55:01.4 [info] store.go:1: [split] store=1 region=3 split",
	} {
		e, _ := Parse(line)
		entries = append(entries, e)
	}
	l := NewLayout(entries, "auto", 100, false)
	if l.By != "store" || strings.Join(l.Columns, ",") != "1,2" {
		t.Fatalf("layout by %s with columns %v, want stores 1 and 2", l.By, l.Columns)
	}
	if got := l.column(l.key(&entries[1])); got != 1 {
		t.Errorf("peer 7's line went to column %d, want 1 (store 2, where peer 7 lives)", got)
	}
	if got := l.column(l.key(&entries[2])); got != -1 {
		t.Errorf("peer 9, of no known store, went to column %d, want the full width", got)
	}
	if l := NewLayout(entries[1:3], "auto", 100, false); l.By != "peer" {
		t.Errorf("a raft-only log is laid out by %s, want peer", l.By)
	}
}
