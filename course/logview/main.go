// Command logview shows a test log written with LOG_LEVEL=debug as one
// column per store (or per peer, in raft-only tests), so that what each node
// did at the same moment reads across a line.
//
//	LOG_LEVEL=debug go test -run TestOneSnapshot2C ./kv/test_raftstore > out.log 2>&1
//	go run ./course/logview -ignore tick,heartbeat out.log | less -R
//	go run ./course/logview -region 1 -level info dist/grade/2C/TestOneSnapshot2C-1.log
//
// Lines that do not follow the log convention (go test's own output, t.Log
// lines) are shown across the full width; -misc=false hides them. Colours are
// on when the output is a terminal. See doc/grading.md.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/tinykv-lab/tinykv/course/internal/tty"
)

type options struct {
	filter Filter
	by     string
	width  int
	color  string
	files  []string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{filter: Filter{Misc: true}}
	fs := flag.NewFlagSet("logview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topics := fs.String("topic", "", "only these topics, comma-separated (elect,vote,append,...)")
	ignore := fs.String("ignore", "", "hide these topics, comma-separated (tick,heartbeat)")
	level := fs.String("level", "debug", "lowest level shown: debug, info, warn, error, fatal")
	grep := fs.String("grep", "", "only lines matching this `regexp`")
	fields := map[string]*string{}
	for _, k := range fieldOrder {
		fields[k] = fs.String(k, "", "only lines with "+k+"=`ID`")
	}
	fs.BoolVar(&o.filter.Misc, "misc", true, "show lines that are not log lines (go test output, t.Log)")
	fs.StringVar(&o.by, "by", "auto", "one column per `store` or per `peer` (auto: store when the log has stores)")
	fs.IntVar(&o.width, "width", 0, "output width (default: the terminal's, or $COLUMNS, or 160)")
	fs.StringVar(&o.color, "color", "auto", "colours: auto (on a terminal), always, never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./course/logview [flags] [FILE ...]   (no FILE: read standard input)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.files = fs.Args()
	rank, ok := levelRank[strings.ToLower(*level)]
	if !ok {
		return nil, fmt.Errorf("-level %q: want debug, info, warn, error or fatal", *level)
	}
	o.filter.MinLevel = rank
	o.filter.Topics, o.filter.Ignore = set(*topics), set(*ignore)
	if *grep != "" {
		re, err := regexp.Compile(*grep)
		if err != nil {
			return nil, fmt.Errorf("-grep: %w", err)
		}
		o.filter.Grep = re
	}
	o.filter.Fields = map[string]string{}
	for k, v := range fields {
		if *v != "" {
			o.filter.Fields[k] = *v
		}
	}
	switch {
	case o.by != "auto" && o.by != "store" && o.by != "peer":
		return nil, fmt.Errorf("-by %q: want store, peer or auto", o.by)
	case o.color != "auto" && o.color != "always" && o.color != "never":
		return nil, fmt.Errorf("-color %q: want auto, always or never", o.color)
	case o.width < 0:
		return nil, fmt.Errorf("-width must not be negative")
	}
	return o, nil
}

func set(list string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "logview:", err)
		}
		return 2
	}
	entries, err := readAll(o, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "logview:", err)
		return 1
	}
	terminal := tty.Interactive(stdout)
	layout := NewLayout(entries, o.by, outputWidth(o.width, stdout), o.color == "always" || (o.color == "auto" && terminal))
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	layout.Header(out)
	for i := range entries {
		layout.Write(out, &entries[i])
	}
	return 0
}

// readAll parses and filters every line of the inputs.
func readAll(o *options, stdin io.Reader) ([]Entry, error) {
	if len(o.files) == 0 {
		return readEntries(stdin, &o.filter, nil)
	}
	var entries []Entry
	for _, name := range o.files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		entries, err = readEntries(f, &o.filter, entries)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return entries, nil
}

func readEntries(r io.Reader, f *Filter, entries []Entry) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if e, ok := Parse(sc.Text()); ok && f.Keep(&e) {
			entries = append(entries, e)
		}
	}
	return entries, sc.Err()
}

func outputWidth(flagWidth int, w io.Writer) int {
	if flagWidth > 0 {
		return flagWidth
	}
	if file, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(file.Fd())); err == nil && width > 0 {
			return width
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 160
}
