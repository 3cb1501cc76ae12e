package main

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

// StaffStage marks text that never goes to students, whatever -keep says:
// staff-only make targets, README paragraphs about the handout itself.
const StaffStage = "staff"

// Marker kinds.
const (
	markBegin = "begin"
	markElse  = "else"
	markEnd   = "end"
	markFile  = "file"
)

type marker struct {
	kind, stage string
}

// commentStyle knows how one kind of file writes markers and stubs.
type commentStyle struct {
	name   string         // for messages: "//", "#", "<!-- -->"
	prefix string         // line comment that starts a marker and a stub line; "" when stubs are not allowed
	marker *regexp.Regexp // a well-formed marker line; group 1 is the kind, group 2 the stage
	typo   *regexp.Regexp // a line that looks like a misspelt marker
}

var (
	slashStyle = &commentStyle{
		name: "//", prefix: "//",
		marker: regexp.MustCompile(`^//lab:(\S*)(?:[ \t]+(\S+))?[ \t]*$`),
		typo:   regexp.MustCompile(`^(//|/\*)\s*lab:`),
	}
	hashStyle = &commentStyle{
		name: "#", prefix: "#",
		marker: regexp.MustCompile(`^#lab:(\S*)(?:[ \t]+(\S+))?[ \t]*$`),
		typo:   regexp.MustCompile(`^#\s*lab:`),
	}
	htmlStyle = &commentStyle{
		name:   "<!-- -->",
		marker: regexp.MustCompile(`^<!--\s*lab:(\S*?)(?:[ \t]+([^\s-]\S*?))?\s*-->$`),
		typo:   regexp.MustCompile(`^<!--\s*lab\s*:`),
	}
)

// styleFor picks the comment style of a file by name; nil means the file is
// copied as it is.
func styleFor(name string, head []byte) *commentStyle {
	base := path.Base(name)
	switch path.Ext(base) {
	case ".go", ".proto":
		return slashStyle
	case ".mk", ".sh", ".bash", ".yml", ".yaml", ".toml":
		return hashStyle
	case ".md":
		return htmlStyle
	case "":
		if base == "Makefile" || bytes.HasPrefix(head, []byte("#!")) {
			return hashStyle
		}
	}
	return nil
}

// Region is one //lab:begin ... //lab:end block.
type Region struct {
	Stage     string
	Line      int      // of the begin marker
	Solution  []string // the lines between begin and else/end
	StubLines int      // lines between else and end
	Kept      bool     // the solution stays (its stage is kept)
}

// FileResult is a file after the markers were applied.
type FileResult struct {
	Out       []byte
	FileStage string // the stage of a //lab:file first line, "" without one
	Drop      bool   // a //lab:file whose stage is not kept
	Regions   []Region
}

// markerError is an error at a line of a file.
func markerError(name string, line int, format string, args ...interface{}) error {
	return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
}

// parseMarker tells whether a line is a marker and checks it. A line that
// only resembles one (a space after //, an unknown kind) is an error, so
// that a typo never leaves a solution in the handout.
func parseMarker(st *commentStyle, name string, n int, line string) (*marker, error) {
	trimmed := strings.TrimSpace(line)
	m := st.marker.FindStringSubmatch(trimmed)
	if m == nil {
		if st.typo.MatchString(trimmed) {
			return nil, markerError(name, n, "malformed marker %q: write %slab:begin STAGE, %slab:else, %slab:end or %slab:file STAGE",
				trimmed, st.prefix, st.prefix, st.prefix, st.prefix)
		}
		return nil, nil
	}
	mk := &marker{kind: m[1], stage: m[2]}
	switch mk.kind {
	case markBegin, markFile:
		if mk.stage == "" {
			return nil, markerError(name, n, "%q needs a stage", trimmed)
		}
		if !stage.Known(mk.stage) && mk.stage != StaffStage {
			return nil, markerError(name, n, "unknown stage %q in %q: stages are %s and %s",
				mk.stage, trimmed, strings.Join(stage.All, ", "), StaffStage)
		}
	case markElse, markEnd:
		if mk.stage != "" {
			return nil, markerError(name, n, "%q takes no stage", trimmed)
		}
	default:
		return nil, markerError(name, n, "unknown marker %q: want begin, else, end or file", trimmed)
	}
	return mk, nil
}

// stripper applies the markers of one file.
type stripper struct {
	name  string
	st    *commentStyle
	keep  func(stage string) bool
	out   []string
	res   FileResult
	open  *Region // the region being read
	where string  // "solution" or "stub" inside open
	// Go files: the student's room of a region inside a declaration is
	// announced by a "// Your Code Here (STAGE)." line (in a function) or
	// "// Your Data Here (STAGE)." (in a type), written from the region's
	// own stage; see announce.
	goRooms bool
	inFunc  bool // the last top-level declaration before this line is a func
	floor   int  // announce never looks above this line of out
	// The last announcement: its line in out, where its region's text
	// begins in out, and whether the region wrote nothing (no stub, no kept
	// solution). A region right after such a one adds its stage to that
	// line instead of writing its own.
	annLine, annText int
	annEmpty         bool
	annStages        []string
}

// yourHere matches a line that announces a student's room, whatever stage
// it names: the generator replaces it by one that names the region's stage.
var yourHere = regexp.MustCompile(`^\s*// Your (Code|Data) Here\b`)

// Strip applies the markers of a file: solutions of stages not kept are
// removed and their //lab:else stubs un-commented; marker lines go away.
// name is used in error messages as name:line.
func Strip(name string, src []byte, st *commentStyle, keep func(stage string) bool) (*FileResult, error) {
	s := &stripper{name: name, st: st, keep: keep, goRooms: st == slashStyle && strings.HasSuffix(name, ".go")}
	lines := strings.SplitAfter(string(src), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		if err := s.line(i+1, line); err != nil {
			return nil, err
		}
		if s.res.Drop {
			return &s.res, nil
		}
	}
	if s.open != nil {
		return nil, markerError(name, s.open.Line, "%slab:begin %s is never closed by %slab:end", st.prefix, s.open.Stage, st.prefix)
	}
	s.res.Out = []byte(strings.Join(s.out, ""))
	return &s.res, nil
}

func (s *stripper) line(n int, line string) error {
	mk, err := parseMarker(s.st, s.name, n, line)
	if err != nil {
		return err
	}
	if mk == nil {
		return s.text(n, line)
	}
	p := s.st.prefix
	switch mk.kind {
	case markFile:
		if n != 1 {
			return markerError(s.name, n, "%slab:file must be the first line of the file", p)
		}
		s.res.FileStage = mk.stage
		s.res.Drop = !s.keep(mk.stage)
	case markBegin:
		if s.open != nil {
			return markerError(s.name, n, "%slab:begin %s inside the %slab:begin %s of line %d: regions do not nest",
				p, mk.stage, p, s.open.Stage, s.open.Line)
		}
		s.open = &Region{Stage: mk.stage, Line: n, Kept: s.keep(mk.stage)}
		s.where = "solution"
		s.announce(line, mk.stage)
	case markElse:
		if s.open == nil {
			return markerError(s.name, n, "%slab:else outside a %slab:begin region", p, p)
		}
		if s.where == "stub" {
			return markerError(s.name, n, "second %slab:else in the region of line %d", p, s.open.Line)
		}
		if s.st.prefix == "" {
			return markerError(s.name, n, "%s files cannot have lab:else stubs", s.st.name)
		}
		s.where = "stub"
	case markEnd:
		if s.open == nil {
			return markerError(s.name, n, "%slab:end without a %slab:begin", p, p)
		}
		s.res.Regions = append(s.res.Regions, *s.open)
		s.open = nil
		s.annEmpty = s.annStages != nil && len(s.out) == s.annText
		s.floor = len(s.out)
	}
	return nil
}

// announce writes the line that names a student's room above a region that
// begins inside a declaration (an indented marker): "// Your Code Here
// (STAGE)." in a function, "// Your Data Here (STAGE)." in a type, with the
// region's own stage, so the handout never names a wrong stage or leaves a
// room unannounced. Such a line in the comments right above the marker is
// replaced; the new one goes first in those comments (hints follow it).
// Regions at the top level (whole helper declarations) get none.
func (s *stripper) announce(marker, stage string) {
	indent := marker[:len(marker)-len(strings.TrimLeft(marker, " \t"))]
	if !s.goRooms || indent == "" || stage == StaffStage {
		return
	}
	kind := "Data"
	if s.inFunc {
		kind = "Code"
	}
	if s.annEmpty && len(s.out) == s.floor && strings.HasPrefix(s.out[s.annLine], indent+"// Your "+kind+" Here (") {
		// Nothing between this region and the last, which left nothing:
		// one line announces both.
		if !slices.Contains(s.annStages, stage) {
			s.annStages = append(s.annStages, stage)
		}
		s.out[s.annLine] = announcement(indent, kind, s.annStages)
		return
	}
	top := len(s.out)
	for top > s.floor && strings.HasPrefix(strings.TrimSpace(s.out[top-1]), "//") {
		top--
	}
	kept := append([]string(nil), s.out[:top]...)
	s.annLine, s.annStages = len(kept), []string{stage}
	kept = append(kept, announcement(indent, kind, s.annStages))
	for _, l := range s.out[top:] {
		if !yourHere.MatchString(l) {
			kept = append(kept, l)
		}
	}
	s.out = kept
	s.annText = len(s.out)
}

// announcement is the line that announces a room of the given stages.
func announcement(indent, kind string, stages []string) string {
	return fmt.Sprintf("%s// Your %s Here (%s).\n", indent, kind, strings.Join(stages, ", "))
}

// track follows the top-level declarations of a Go file: a region inside a
// func announces code, one inside anything else data.
func (s *stripper) track(line string) {
	if !s.goRooms || line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '\n' || line[0] == '}' || line[0] == ')' ||
		strings.HasPrefix(line, "//") {
		return
	}
	s.inFunc = strings.HasPrefix(line, "func ")
}

// text handles a line that is not a marker.
func (s *stripper) text(n int, line string) error {
	s.track(line)
	switch {
	case s.open == nil:
		s.out = append(s.out, line)
	case s.where == "solution":
		s.open.Solution = append(s.open.Solution, line)
		if s.open.Kept {
			s.out = append(s.out, line)
		}
	default:
		code, ok := s.uncomment(line)
		if !ok {
			return markerError(s.name, n, "line in a %slab:else block must be a %s comment (it becomes code in the handout): %q",
				s.st.prefix, s.st.prefix, strings.TrimSpace(line))
		}
		s.open.StubLines++
		if !s.open.Kept {
			s.out = append(s.out, code)
		}
	}
	return nil
}

// uncomment turns a stub line back into code: the comment prefix and one
// space after it go; gofmt restores the indentation afterwards.
func (s *stripper) uncomment(line string) (string, bool) {
	body := strings.TrimLeft(line, " \t")
	if strings.TrimSpace(body) == "" {
		return line, true
	}
	if !strings.HasPrefix(body, s.st.prefix) {
		return "", false
	}
	indent := line[:len(line)-len(body)]
	code := strings.TrimPrefix(body[len(s.st.prefix):], " ")
	return indent + code, true
}
