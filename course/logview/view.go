package main

import (
	"fmt"
	"hash/fnv"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Filter says which entries to show.
type Filter struct {
	Topics   map[string]bool   // when set, only these topics
	Ignore   map[string]bool   // never these topics
	MinLevel int               // lowest level shown (levelRank)
	Fields   map[string]string // only entries whose fields have these values (region=3)
	Grep     *regexp.Regexp    // only entries whose raw line matches
	Misc     bool              // show lines that are not structured log lines
}

// Keep tells whether an entry is shown.
func (f *Filter) Keep(e *Entry) bool {
	if f.Grep != nil && !f.Grep.MatchString(e.Raw) {
		return false
	}
	if !e.Structured {
		return f.Misc && len(f.Topics) == 0 && len(f.Fields) == 0
	}
	if levelRank[e.Level] < f.MinLevel {
		return false
	}
	if len(f.Topics) > 0 && !f.Topics[e.Topic] {
		return false
	}
	if f.Ignore[e.Topic] {
		return false
	}
	for k, v := range f.Fields {
		if e.Get(k) != v {
			return false
		}
	}
	return true
}

// Layout places entries in one column per store or per peer.
type Layout struct {
	By        string   // the field that picks the column: "store" or "peer"
	Columns   []string // the field's values, one column each
	Width     int      // of the whole output
	Color     bool
	peerStore map[string]string // store of each peer, learnt from lines that carry both
}

// timeWidth is the width of the time column: "10:55:01.123 ".
const timeWidth = 13

// NewLayout picks the column field and the columns in numeric order. By
// default (by "" or "auto") the columns are stores when at least as many
// lines can be placed by store as by peer: raft lines carry only peer=, but
// peer ids are unique across stores, so a line that names both teaches
// which store a peer lives on.
func NewLayout(entries []Entry, by string, width int, color bool) *Layout {
	l := &Layout{By: by, Width: width, Color: color, peerStore: map[string]string{}}
	for i := range entries {
		if s, p := entries[i].Get("store"), entries[i].Get("peer"); s != "" && p != "" {
			l.peerStore[p] = s
		}
	}
	if by == "" || by == "auto" {
		byStore, byPeer := 0, 0
		for i := range entries {
			if l.storeOf(&entries[i]) != "" {
				byStore++
			}
			if entries[i].Get("peer") != "" {
				byPeer++
			}
		}
		l.By = "peer"
		if byStore > 0 && byStore >= byPeer {
			l.By = "store"
		}
	}
	seen := map[string]bool{}
	for i := range entries {
		if v := l.key(&entries[i]); v != "" && !seen[v] {
			seen[v] = true
			l.Columns = append(l.Columns, v)
		}
	}
	sort.Slice(l.Columns, func(i, j int) bool { return lessID(l.Columns[i], l.Columns[j]) })
	return l
}

// storeOf is the store of an entry: its store field, or its peer's store.
func (l *Layout) storeOf(e *Entry) string {
	if s := e.Get("store"); s != "" {
		return s
	}
	return l.peerStore[e.Get("peer")]
}

// key is the value that picks the entry's column, "" for none.
func (l *Layout) key(e *Entry) string {
	if !e.Structured {
		return ""
	}
	if l.By == "store" {
		return l.storeOf(e)
	}
	return e.Get(l.By)
}

// lessID orders numeric ids as numbers, anything else as text.
func lessID(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// colWidth is the width of one column.
func (l *Layout) colWidth() int {
	n := len(l.Columns)
	if n == 0 {
		n = 1
	}
	w := (l.Width - timeWidth) / n
	if w < 12 {
		w = 12
	}
	return w
}

// Header writes the column titles.
func (l *Layout) Header(w io.Writer) {
	if len(l.Columns) == 0 {
		return
	}
	cw := l.colWidth()
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", timeWidth))
	for _, c := range l.Columns {
		b.WriteString(pad(l.By+" "+c, cw))
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	fmt.Fprintln(w, strings.Repeat("-", timeWidth+cw*len(l.Columns)-1))
}

// Write prints one entry: in its column, or across the full width when it
// has no column (a misc line).
func (l *Layout) Write(w io.Writer, e *Entry) {
	col := l.column(l.key(e))
	start, width := timeWidth, l.Width-timeWidth
	if col >= 0 {
		start, width = timeWidth+col*l.colWidth(), l.colWidth()-1
	}
	text := l.cellText(e, col >= 0)
	for i, line := range wrap(text, width) {
		prefix := strings.Repeat(" ", timeWidth)
		if i == 0 && e.Structured {
			prefix = pad(shortTime(e.Time), timeWidth)
		}
		fmt.Fprintf(w, "%s%s%s\n", prefix, strings.Repeat(" ", start-timeWidth), l.paint(e, line))
	}
}

func (l *Layout) column(v string) int {
	if v == "" {
		return -1
	}
	for i, c := range l.Columns {
		if c == v {
			return i
		}
	}
	return -1
}

// fieldOrder and fieldShort write the known fields compactly: r3 t6.
var (
	fieldOrder = []string{"store", "region", "peer", "term"}
	fieldShort = map[string]string{"store": "s", "region": "r", "peer": "p", "term": "t"}
)

// cellText is what an entry shows: level (when not debug or info), topic,
// short fields except the one its column already says, and the text.
func (l *Layout) cellText(e *Entry, inColumn bool) string {
	if !e.Structured {
		return e.Raw
	}
	var parts []string
	if levelRank[e.Level] >= levelRank["warn"] {
		parts = append(parts, strings.ToUpper(e.Level))
	}
	if e.Topic != "" {
		parts = append(parts, "["+e.Topic+"]")
	}
	for _, k := range fieldOrder {
		if v := e.Get(k); v != "" && !(inColumn && k == l.By) {
			parts = append(parts, fieldShort[k]+v)
		}
	}
	for _, f := range e.Fields {
		if fieldShort[f.Key] == "" {
			parts = append(parts, f.Key+"="+f.Value)
		}
	}
	if e.Text != "" {
		parts = append(parts, e.Text)
	}
	if !inColumn {
		parts = append([]string{e.Source}, parts...)
	}
	return strings.Join(parts, " ")
}

// ANSI colours: levels first, then one colour per topic.
var (
	topicColors = map[string]string{
		"elect": "35", "vote": "95", "append": "34", "commit": "32", "heartbeat": "90",
		"snap": "36", "transfer": "33", "conf": "93", "propose": "94", "persist": "96",
		"apply": "92", "split": "91", "gc": "90", "tick": "90", "msg": "37",
	}
	palette = []string{"31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96"}
)

func (l *Layout) paint(e *Entry, s string) string {
	if !l.Color || !e.Structured {
		return s
	}
	code := topicColors[e.Topic]
	switch {
	case e.Level == "error" || e.Level == "fatal":
		code = "1;31"
	case e.Level == "warn":
		code = "1;33"
	case code == "" && e.Topic != "":
		h := fnv.New32a()
		h.Write([]byte(e.Topic))
		code = palette[h.Sum32()%uint32(len(palette))]
	}
	if code == "" {
		return s
	}
	return "\033[" + code + "m" + s + "\033[0m"
}

// shortTime cuts microseconds to milliseconds: 10:55:01.123.
func shortTime(t string) string {
	if i := strings.IndexByte(t, '.'); i >= 0 && len(t) > i+4 {
		return t[:i+4]
	}
	return t
}

func pad(s string, width int) string {
	if len(s) >= width {
		return s[:width-1] + " "
	}
	return s + strings.Repeat(" ", width-len(s))
}

// wrap breaks text into lines of at most width characters, at spaces when
// it can.
func wrap(text string, width int) []string {
	if width < 1 {
		width = 1
	}
	var lines []string
	for len(text) > width {
		cut := strings.LastIndexByte(text[:width+1], ' ')
		if cut <= 0 {
			cut = width
		}
		lines = append(lines, strings.TrimRight(text[:cut], " "))
		text = strings.TrimLeft(text[cut:], " ")
	}
	return append(lines, text)
}
