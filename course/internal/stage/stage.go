// Package stage names the course stages and maps tests to them.
//
// A test belongs to the stage its name ends with: TestLeaderElection2AA is a
// 2AA test, TestRawGet1 a stage 1 test. Stage names are case-insensitive on
// input and upper case everywhere else.
package stage

import (
	"fmt"
	"sort"
	"strings"
)

// All lists the stages in course order: a stage may rely on the work of every
// stage before it.
var All = []string{"1", "2AA", "2AB", "2AC", "2B", "2C", "3A", "3B", "3C", "4A", "4B", "4C"}

// aliases are names that stand for several stages (make project2a).
var aliases = map[string][]string{
	"2A":  {"2AA", "2AB", "2AC"},
	"ALL": All,
}

// Known reports whether name is one of All (not an alias).
func Known(name string) bool {
	return Index(name) >= 0
}

// Index is the position of the stage in All, or -1.
func Index(name string) int {
	for i, s := range All {
		if s == name {
			return i
		}
	}
	return -1
}

// Expand turns a comma-separated list of stages and aliases ("2A,2B") into
// stages of All, in course order and without duplicates.
func Expand(list string) ([]string, error) {
	seen := map[string]bool{}
	for _, field := range strings.Split(list, ",") {
		name := strings.ToUpper(strings.TrimSpace(field))
		if name == "" {
			continue
		}
		if group, ok := aliases[name]; ok {
			for _, s := range group {
				seen[s] = true
			}
			continue
		}
		if !Known(name) {
			return nil, fmt.Errorf("unknown stage %q: want one of %s, 2A or all", field, strings.Join(All, ", "))
		}
		seen[name] = true
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no stage named in %q", list)
	}
	stages := make([]string, 0, len(seen))
	for s := range seen {
		stages = append(stages, s)
	}
	sort.Slice(stages, func(i, j int) bool { return Index(stages[i]) < Index(stages[j]) })
	return stages, nil
}

// UpTo returns the stages of All up to and including s.
func UpTo(s string) []string {
	i := Index(s)
	if i < 0 {
		return nil
	}
	return append([]string(nil), All[:i+1]...)
}

// OfTest returns the stage a test function belongs to, judged by the end of
// its name, and false when the name ends in no stage. The character before
// the stage must not be a digit, so TestSplit21 is not a stage 1 test.
func OfTest(name string) (string, bool) {
	best := ""
	for _, s := range All {
		if !strings.HasSuffix(name, s) || len(s) <= len(best) {
			continue
		}
		rest := name[:len(name)-len(s)]
		if rest == "" || isDigit(rest[len(rest)-1]) {
			continue
		}
		best = s
	}
	return best, best != ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
