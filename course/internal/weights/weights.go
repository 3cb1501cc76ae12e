// Package weights reads course/weights.json: the points and the per-test
// timeout of every graded test, set per stage with per-test overrides.
package weights

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

// DefaultPath is where the weights file lives, relative to the module root.
const DefaultPath = "course/weights.json"

// Defaults for a stage the file does not mention.
const (
	DefaultPoints  = 1
	DefaultTimeout = 2 * time.Minute
)

// File is the whole weights file.
type File struct {
	Doc    string            `json:"doc,omitempty"`
	Stages map[string]*Stage `json:"stages"`
}

// Stage holds the defaults of one stage and the tests that differ from them.
type Stage struct {
	Points  int              `json:"points"`  // points of a test not listed in Tests
	Timeout Duration         `json:"timeout"` // per-test timeout of a test not listed in Tests
	Tests   map[string]*Test `json:"tests,omitempty"`
}

// Test overrides the stage defaults for one test; zero fields keep them.
type Test struct {
	Points  int      `json:"points,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
}

// Duration is a time.Duration written as "90s" or "5m".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"90s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("duration %q is not positive", s)
	}
	*d = Duration(v)
	return nil
}

// Load reads and checks a weights file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Parse decodes and checks the weights file read from source.
func Parse(data []byte, source string) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &f, nil
}

func (f *File) check() error {
	for name, s := range f.Stages {
		if !stage.Known(name) {
			return fmt.Errorf("unknown stage %q (stages are %v)", name, stage.All)
		}
		if s == nil || s.Points < 0 || s.Timeout == 0 {
			return fmt.Errorf("stage %s needs points (>= 0) and a timeout", name)
		}
		for test, w := range s.Tests {
			if got, _ := stage.OfTest(test); got != name {
				return fmt.Errorf("test %s is listed under stage %s but its name ends in stage %q", test, name, got)
			}
			if w == nil || w.Points < 0 {
				return fmt.Errorf("test %s: points must be >= 0", test)
			}
		}
	}
	return nil
}

// For gives the points and the timeout of a test of a stage.
func (f *File) For(stageName, test string) (points int, timeout time.Duration) {
	s := f.Stages[stageName]
	if s == nil {
		return DefaultPoints, DefaultTimeout
	}
	points, timeout = s.Points, time.Duration(s.Timeout)
	if w := s.Tests[test]; w != nil {
		if w.Points != 0 {
			points = w.Points
		}
		if w.Timeout != 0 {
			timeout = time.Duration(w.Timeout)
		}
	}
	return points, timeout
}

// Listed returns the names of the tests that have an entry, sorted.
func (f *File) Listed() []string {
	var names []string
	for _, s := range f.Stages {
		for test := range s.Tests {
			names = append(names, test)
		}
	}
	sort.Strings(names)
	return names
}

// Without removes the entries of the named tests and reports how many it removed.
func (f *File) Without(tests map[string]bool) int {
	removed := 0
	for _, s := range f.Stages {
		for test := range s.Tests {
			if tests[test] {
				delete(s.Tests, test)
				removed++
			}
		}
	}
	return removed
}

// Marshal writes the file in its canonical form (sorted keys, tab indent).
func (f *File) Marshal() []byte {
	data, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		panic(err) // the types above always marshal
	}
	return append(data, '\n')
}
