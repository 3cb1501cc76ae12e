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

// stages is the one list of the course's stages, in course order, with what
// the tools need to know about each. Everything else (the grader, the
// handout checks, the make targets, the weights file) derives from it.
var stages = []struct {
	name string
	// cluster: the stage's tests run real raftstores or a scheduler on real
	// timers. They are slow and sensitive to load: the handout check runs
	// them one at a time, and checks their stage independence only with -all.
	cluster bool
}{
	{"1", false},
	{"2AA", false}, {"2AB", false}, {"2AC", false},
	{"2B", true}, {"2C", true},
	{"3A", false}, {"3B", true}, {"3C", true},
	{"4A", false}, {"4B", false}, {"4C", false},
}

// All lists the stages in course order: a stage may rely on the work of every
// stage before it.
var All = func() []string {
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.name
	}
	return names
}()

// Group is a name that stands for several stages.
type Group struct {
	Name   string
	Stages []string
}

// Groups are the names that stand for several consecutive stages (make
// project2a grades 2AA, 2AB and 2AC), in course order.
var Groups = []Group{{"2A", []string{"2AA", "2AB", "2AC"}}}

// aliases are the names that stand for several stages: the groups and all.
var aliases = func() map[string][]string {
	m := map[string][]string{"ALL": All}
	for _, g := range Groups {
		m[g.Name] = g.Stages
	}
	return m
}()

// Names describes what -stage accepts, for usage and error messages.
func Names() string {
	var groups []string
	for _, g := range Groups {
		groups = append(groups, fmt.Sprintf("%s (=%s)", g.Name, strings.Join(g.Stages, ",")))
	}
	return strings.Join(All, ", ") + ", " + strings.Join(groups, ", ") + " or all"
}

// Cluster reports whether the stage's tests run real raftstores or a
// scheduler on real timers (slow, sensitive to load).
func Cluster(name string) bool {
	i := Index(name)
	return i >= 0 && stages[i].cluster
}

// Targets lists the make targets that grade stages, in course order:
// project<stage> in lower case for every stage, a group's target before
// those of its stages (project2a, project2aa, ...).
func Targets() []string {
	var targets []string
	for _, name := range All {
		for _, g := range Groups {
			if g.Stages[0] == name {
				targets = append(targets, "project"+strings.ToLower(g.Name))
			}
		}
		targets = append(targets, "project"+strings.ToLower(name))
	}
	return targets
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
			return nil, fmt.Errorf("unknown stage %q: want one of %s", field, Names())
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
