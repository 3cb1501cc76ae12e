package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
	"github.com/tinykv-lab/tinykv/course/internal/grading"
	"github.com/tinykv-lab/tinykv/course/internal/stage"
	"github.com/tinykv-lab/tinykv/course/internal/weights"
)

// checker runs the handout checks and keeps their results.
type checker struct {
	o       *options
	w       io.Writer
	ctx     context.Context
	src     string
	module  string
	work    string
	stages  []string      // stages asked for with -stages
	tests   []gotest.Test // the reference's tests, hidden tier included
	weights *weights.File // the reference's weights
	handout string        // the generated handout (hidden tier included)
	sum     *Summary      // what generating it did
	passed  int
	failed  int
	skipped int
}

// runChecks runs every check, prints a line per check and a closing
// "N passed, M failed" line, and returns the exit status.
func runChecks(ctx context.Context, o *options, w io.Writer) int {
	c := &checker{o: o, w: w, ctx: ctx}
	if err := c.setUp(); err != nil {
		fmt.Fprintln(w, "handout-check:", err)
		return 2
	}
	defer c.tearDown()
	start := time.Now()
	c.check("generate the handout", c.generate)
	if c.handout != "" {
		c.check("no marker and no solution line left", c.noSolutionLeft)
		c.check("the handout compiles and vets, hidden tier included", c.buildAndVet)
		c.check("the weights file names only existing tests", c.weightsMatchTests)
		c.check("make targets and document links work in the handout", c.studentEntryPoints)
		c.check("every student room is called from the skeleton or named in the docs", c.roomsReachable)
		c.check("comments in the handout name only what the handout has", c.commentsNameWhatExists)
		c.check("every stage's tests fail on the handout", c.testsFailOnHandout)
		for _, s := range c.stages {
			c.stageIndependence(s)
		}
	}
	fmt.Fprintf(w, "\nhandout-check took %v\n", time.Since(start).Round(time.Second))
	fmt.Fprintf(w, "handout-check: %d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped)
	if c.failed > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

func (c *checker) setUp() error {
	root, module, err := gotest.ModuleRoot(c.o.cfg.Src)
	if err != nil {
		return err
	}
	c.src, c.module = root, module
	if c.stages, err = stage.Expand(c.o.stages); err != nil {
		return fmt.Errorf("-stages: %w", err)
	}
	if c.tests, err = gotest.Discover(root, module, gotest.Scope{Hidden: true}); err != nil {
		return err
	}
	if c.weights, err = weights.Load(filepath.Join(root, weights.DefaultPath)); os.IsNotExist(err) {
		c.weights, err = &weights.File{}, nil
	}
	if err != nil {
		return err
	}
	c.work = c.o.work
	if c.work == "" {
		c.work, err = os.MkdirTemp("", "tinykv-handout-check-")
		return err
	}
	return os.MkdirAll(c.work, 0o755)
}

func (c *checker) tearDown() {
	if c.o.work == "" {
		os.RemoveAll(c.work)
	}
}

// errSkip marks a check that had nothing to check.
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

func skip(format string, args ...interface{}) error { return errSkip{fmt.Sprintf(format, args...)} }

// check runs one check and prints its verdict, with the details of a failure
// indented below it.
func (c *checker) check(name string, fn func() error) {
	if c.ctx.Err() != nil {
		return
	}
	start := time.Now()
	fmt.Fprintf(c.w, "check: %s ...\n", name)
	err := fn()
	took := time.Since(start).Round(100 * time.Millisecond)
	var s errSkip
	switch {
	case err == nil:
		c.passed++
		fmt.Fprintf(c.w, "  ok    %s (%v)\n", name, took)
	case errors.As(err, &s):
		c.skipped++
		fmt.Fprintf(c.w, "  skip  %s: %s\n", name, s.why)
	default:
		c.failed++
		fmt.Fprintf(c.w, "  FAIL  %s (%v)\n", name, took)
		for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
			fmt.Fprintf(c.w, "        %s\n", line)
		}
	}
}

// tree cuts a handout into the work directory, hidden tier included. Every
// tree goes to the same path unless -work asks to keep them: the go command
// then finds the packages that did not change in its build cache.
func (c *checker) tree(name string, keep []string) (string, *Summary, error) {
	if c.o.work == "" {
		name = "tree"
	}
	cfg := Config{Src: c.src, Out: filepath.Join(c.work, name), Keep: map[string]bool{}, Hidden: true}
	for _, s := range keep {
		cfg.Keep[s] = true
	}
	sum, err := Generate(cfg)
	return cfg.Out, sum, err
}

func (c *checker) generate() error {
	out, sum, err := c.tree("handout", nil)
	if err != nil {
		return err
	}
	c.handout, c.sum = out, sum
	for _, s := range summaryStages(sum) {
		st := sum.Stages[s]
		fmt.Fprintf(c.w, "        stage %-5s %3d regions, %5d lines removed, %3d files dropped\n", s, st.Regions, st.Lines, st.Files)
	}
	return nil
}

// markerPattern finds a marker in any comment syntax.
var markerPattern = regexp.MustCompile(`(//|#|<!--)\s*lab:(begin|else|end|file)\b`)

// leakWindow is how many consecutive substantial solution lines, found
// together outside their region, make an unmarked copy of the solution.
// Single lines repeat by nature (`if err != nil {`); runs of them do not. A
// region shorter than that is one window when it has at least two lines and
// minLeakChars characters.
const (
	leakWindow   = 4
	minLeakChars = 40
)

// substantial tells a line that says something: not blank, not a comment,
// not only braces and parentheses.
func substantial(line string) bool {
	t := strings.TrimSpace(line)
	return t != "" && !strings.HasPrefix(t, "//") && strings.Trim(t, "{}()[],; \t") != ""
}

func substantialLines(lines []string) []string {
	var subst []string
	for _, l := range lines {
		if substantial(l) {
			subst = append(subst, strings.TrimSpace(l))
		}
	}
	return subst
}

// windows lists the joined runs of size consecutive substantial lines.
func windows(subst []string, size int) []string {
	var out []string
	for i := 0; i+size <= len(subst); i++ {
		out = append(out, strings.Join(subst[i:i+size], "\n"))
	}
	return out
}

// solutionWindows indexes the removed solutions by window size, then by
// window, with where each comes from.
func solutionWindows(removed map[string][]Region) map[int]map[string]string {
	index := map[int]map[string]string{}
	for file, regions := range removed {
		for _, r := range regions {
			subst := substantialLines(r.Solution)
			size := leakWindow
			if len(subst) < size {
				size = len(subst)
				if size < 2 || len(strings.Join(subst, "")) < minLeakChars {
					continue
				}
			}
			if index[size] == nil {
				index[size] = map[string]string{}
			}
			for _, w := range windows(subst, size) {
				index[size][w] = fmt.Sprintf("%s:%d (stage %s)", file, r.Line, r.Stage)
			}
		}
	}
	return index
}

// noSolutionLeft looks for marker lines in every handout file, and for runs
// of solution lines in the handout's Go code: such a run outside its region
// is an unmarked copy of the solution.
func (c *checker) noSolutionLeft() error {
	solutions := solutionWindows(c.sum.Removed)
	allowed, err := readAllowList(filepath.Join(c.src, leakAllowList))
	if err != nil {
		return err
	}
	var problems []string
	err = walkFiles(c.handout, func(rel string, data []byte) {
		lines := strings.Split(string(data), "\n")
		for n, line := range lines {
			if markerPattern.MatchString(line) {
				problems = append(problems, fmt.Sprintf("%s:%d: marker left: %s", rel, n+1, strings.TrimSpace(line)))
			}
		}
		if !strings.HasSuffix(rel, ".go") || allowed[rel] {
			return
		}
		problems = append(problems, leaksIn(rel, substantialLines(lines), solutions)...)
	})
	if err != nil {
		return err
	}
	return joinProblems(problems)
}

// leaksIn reports each solution region a file repeats a window of.
func leaksIn(rel string, subst []string, solutions map[int]map[string]string) []string {
	var problems []string
	seen := map[string]bool{}
	for size, index := range solutions {
		for _, w := range windows(subst, size) {
			if from, ok := index[w]; ok && !seen[from] {
				seen[from] = true
				first, _, _ := strings.Cut(w, "\n")
				problems = append(problems, fmt.Sprintf("%s: has %d lines of the solution region at %s, unmarked, from %q",
					rel, size, from, first))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// leakAllowList names handout files allowed to repeat solution lines, one
// path a line with the reason after a #: code the skeleton ships on
// purpose that happens to look like a solution.
const leakAllowList = "course/handout/leaks.allow"

func readAllowList(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for n, line := range strings.Split(string(data), "\n") {
		entry, why, _ := strings.Cut(line, "#")
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.TrimSpace(why) == "" {
			return nil, fmt.Errorf("%s:%d: say after a # why %s may repeat solution lines", path, n+1, entry)
		}
		allowed[entry] = true
	}
	return allowed, nil
}

// walkFiles calls fn for every regular text file under root.
func walkFiles(root string, fn func(rel string, data []byte)) error {
	return filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == ".git" {
			return filepath.SkipDir
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return nil // binary
		}
		rel, _ := filepath.Rel(root, p)
		fn(filepath.ToSlash(rel), data)
		return nil
	})
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	const max = 30
	if len(problems) > max {
		problems = append(problems[:max], fmt.Sprintf("... and %d more", len(problems)-max))
	}
	return errors.New(strings.Join(problems, "\n"))
}

// goCmd runs the go command in dir.
func (c *checker) goCmd(dir string, args ...string) error {
	cmd := exec.CommandContext(c.ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, tailOf(string(out), 40))
	}
	return nil
}

func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// buildAndVet vets the handout with the hidden tier, which type-checks every
// package and test file the grader compiles; a plain vet follows only when
// some file is left out by the grading tag (//go:build !grading).
func (c *checker) buildAndVet() error {
	if err := c.goCmd(c.handout, "vet", "-tags", gotest.GradingTag, "./..."); err != nil {
		return err
	}
	replaced := false
	err := walkFiles(c.handout, func(rel string, data []byte) {
		replaced = replaced || (strings.HasSuffix(rel, ".go") && bytes.Contains(data, []byte("!"+gotest.GradingTag)))
	})
	if err != nil || !replaced {
		return err
	}
	return c.goCmd(c.handout, "vet", "./...")
}

func (c *checker) weightsMatchTests() error {
	declared := map[string]bool{}
	for _, t := range c.tests {
		declared[t.Name] = true
	}
	var problems []string
	for _, name := range c.weights.Listed() {
		if !declared[name] {
			problems = append(problems, fmt.Sprintf("%s lists %s, which no test file declares", weights.DefaultPath, name))
		}
	}
	return joinProblems(problems)
}

// studentEntryPoints checks what a student touches first: the project make
// targets (dry run) and the relative links of the Markdown documents.
func (c *checker) studentEntryPoints() error {
	var problems []string
	if err := exec.Command("make", "-n", "-C", c.src, "project1").Run(); err != nil {
		fmt.Fprintln(c.w, "        the reference Makefile has no project targets yet (include course/course.mk); links only")
	} else {
		for _, target := range stage.Targets() {
			if out, err := exec.Command("make", "-n", "-C", c.handout, target).CombinedOutput(); err != nil {
				problems = append(problems, fmt.Sprintf("make %s in the handout: %v: %s", target, err, strings.TrimSpace(string(out))))
			}
		}
	}
	err := walkFiles(c.handout, func(rel string, data []byte) {
		if strings.HasSuffix(rel, ".md") {
			problems = append(problems, brokenLinks(c.handout, rel, data)...)
		}
	})
	if err != nil {
		return err
	}
	return joinProblems(problems)
}

// roomsReachable checks the stub policy: an unexported function a student
// fills (its body announces a room, "// Your Code Here (STAGE).") is either
// called from the skeleton's code, or named in a course document (doc/*.md)
// as a suggested helper. Otherwise nothing tells the student it exists for
// a reason. Exported rooms are the package's surface (tests and other
// programs call them).
func (c *checker) roomsReachable() error {
	rooms, used, err := handoutRooms(c.handout)
	if err != nil {
		return err
	}
	docs, err := docWords(c.handout)
	if err != nil {
		return err
	}
	var problems []string
	for _, r := range rooms {
		if !token.IsExported(r.name) && !used[r.name] && !docs[r.name] {
			problems = append(problems, fmt.Sprintf("%s: %s (stage %s) is a stub nothing in the skeleton calls: call it from the skeleton's code or name it in the stage's document (doc/) as a suggested helper",
				r.pos, r.name, r.stage))
		}
	}
	sort.Strings(problems)
	return joinProblems(problems)
}

// room is a function of the handout that a student fills.
type room struct {
	name, stage, pos string
}

// roomLine finds the announcement of a room and its stage.
var roomLine = regexp.MustCompile(`^\s*// Your Code Here \(([0-9A-Za-z, ]+)\)\.`)

// handoutRooms lists the rooms of the handout's Go code (tests left out)
// and every name its code uses other than in a declaration.
func handoutRooms(root string) ([]room, map[string]bool, error) {
	var rooms []room
	used := map[string]bool{}
	fset := token.NewFileSet()
	var parseErr error
	err := walkFiles(root, func(rel string, data []byte) {
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || parseErr != nil {
			return
		}
		f, err := parser.ParseFile(fset, rel, data, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			parseErr = err
			return
		}
		declared := map[*ast.Ident]bool{}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			declared[fn.Name] = true
			for _, cg := range f.Comments {
				if cg.Pos() < fn.Body.Lbrace || cg.End() > fn.Body.Rbrace {
					continue
				}
				if m := roomLine.FindStringSubmatch(cg.List[0].Text); m != nil {
					rooms = append(rooms, room{name: fn.Name.Name, stage: m[1], pos: fset.Position(fn.Pos()).String()})
					break
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && !declared[id] {
				used[id.Name] = true
			}
			return true
		})
	})
	if err == nil {
		err = parseErr
	}
	return rooms, used, err
}

// docWords lists the identifiers the course documents name.
func docWords(root string) (map[string]bool, error) {
	words := map[string]bool{}
	ident := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	err := filepath.Walk(filepath.Join(root, "doc"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		data, err := os.ReadFile(p)
		for _, w := range ident.FindAllString(string(data), -1) {
			words[w] = true
		}
		return err
	})
	if os.IsNotExist(err) {
		return words, nil
	}
	return words, err
}

// commentsNameWhatExists looks for comments in the handout's Go code that
// name a declaration only the reference has (a helper of a removed
// solution): a hint that points the student at something that is not there.
// A name counts when it reads as code: in backticks, followed by "(", or
// written in camelCase.
func (c *checker) commentsNameWhatExists() error {
	inReference, err := goDeclarations(c.src)
	if err != nil {
		return err
	}
	inHandout, err := goDeclarations(c.handout)
	if err != nil {
		return err
	}
	var problems []string
	err = walkFiles(c.handout, func(rel string, data []byte) {
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return
		}
		for n, line := range strings.Split(string(data), "\n") {
			text, ok := strings.CutPrefix(strings.TrimSpace(line), "//")
			if !ok {
				continue
			}
			for _, m := range commentIdent.FindAllStringSubmatchIndex(text, -1) {
				name := text[m[2]:m[3]]
				if !inReference[name] || inHandout[name] || !readsAsCode(text, m[2], m[3]) {
					continue
				}
				problems = append(problems, fmt.Sprintf("%s:%d: the comment names %s, which only the reference has: %s",
					rel, n+1, name, strings.TrimSpace(text)))
			}
		}
	})
	if err != nil {
		return err
	}
	return joinProblems(problems)
}

// commentIdent finds identifiers in comment text.
var commentIdent = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)\b`)

// camelCase matches a name with a lower-case letter followed by an upper-case one.
var camelCase = regexp.MustCompile(`[a-z0-9][A-Z]`)

// readsAsCode tells whether text[start:end] names code rather than being an
// English word.
func readsAsCode(text string, start, end int) bool {
	return camelCase.MatchString(text[start:end]) || strings.HasPrefix(text[end:], "(") ||
		(start > 0 && text[start-1] == '`')
}

// goDeclarations lists the names declared at the top level of the Go files
// under root (functions, methods, types, constants, variables) and the
// fields of its structs; the handout's dist/ and testdata/ are left out.
func goDeclarations(root string) (map[string]bool, error) {
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			switch info.Name() {
			case ".git", "dist", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil // not this check's business: the build check reports it
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch d := n.(type) {
			case *ast.FuncDecl:
				names[d.Name.Name] = true
			case *ast.TypeSpec:
				names[d.Name.Name] = true
			case *ast.ValueSpec:
				for _, id := range d.Names {
					names[id.Name] = true
				}
			case *ast.Field:
				for _, id := range d.Names {
					names[id.Name] = true
				}
			}
			return true
		})
		return nil
	})
	return names, err
}

// linkPattern finds Markdown link targets: [text](target).
var linkPattern = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// brokenLinks lists relative links of a Markdown file whose target is not
// in the tree (a link to a staff-only file, say).
func brokenLinks(root, rel string, data []byte) []string {
	var problems []string
	for n, line := range strings.Split(string(data), "\n") {
		for _, m := range linkPattern.FindAllStringSubmatch(line, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(root, filepath.Dir(filepath.FromSlash(rel)), filepath.FromSlash(target))
			if strings.HasPrefix(target, "/") {
				p = filepath.Join(root, filepath.FromSlash(target))
			}
			if _, err := os.Stat(p); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: link to %s, which the handout does not have", rel, n+1, m[1]))
			}
		}
	}
	return problems
}

// stageTests are the reference's tests of one stage.
func (c *checker) stageTests(s string) []gotest.Test {
	return gotest.Select(c.tests, []string{s})
}

// grade runs tests in a tree with the hidden tier and returns the report; a
// test is found by package directory and name, which are the same in every
// tree cut from the reference.
func (c *checker) grade(dir string, tests []gotest.Test, timeout time.Duration, parallel int) (*grading.Report, error) {
	return grading.Grade(c.ctx, grading.Options{
		Root: dir, Module: c.module, Tests: tests, Weights: c.weights, Timeout: timeout,
		Parallel: parallel, Tags: []string{gotest.GradingTag},
	})
}

// testsFailOnHandout runs every checked stage's tests on the bare handout
// with a short timeout: a test that passes there does not test the stage.
func (c *checker) testsFailOnHandout() error {
	var tests []gotest.Test
	var empty []string
	for _, s := range c.stages {
		if st := c.stageTests(s); len(st) > 0 {
			tests = append(tests, st...)
		} else {
			empty = append(empty, s)
		}
	}
	if len(empty) > 0 {
		fmt.Fprintf(c.w, "        no tests yet for stage %s\n", strings.Join(empty, ", "))
	}
	if len(tests) == 0 {
		return skip("no stage has tests yet")
	}
	rep, err := c.grade(c.handout, tests, c.o.failTimeout, c.o.parallel)
	if err != nil {
		return err
	}
	var problems []string
	reasons := map[string]int{}
	for _, t := range rep.Tests {
		if t.Verdict == grading.VerdictPass {
			problems = append(problems, fmt.Sprintf("%s (stage %s, %s) passes on the handout: it does not need the stage's solution", t.Name, t.Stage, t.File))
		} else if run := t.FirstFailure(); run != nil {
			reasons[run.Reason]++
		}
	}
	fmt.Fprintf(c.w, "        %d tests failed as they should in %v (%s)\n", len(rep.Tests)-len(problems), rep.Elapsed.Round(time.Second), tally(reasons))
	return joinProblems(problems)
}

// stageIndependence checks that the handout with the solutions of s and of
// every stage before it passes the tests of s; with -all also that without
// the solution of s (earlier stages kept) they fail.
func (c *checker) stageIndependence(s string) {
	tests := c.stageTests(s)
	name := fmt.Sprintf("stage %s passes with stages %s kept", s, rangeLabel(stage.UpTo(s)))
	if len(tests) == 0 {
		c.check(name, func() error { return skip("no tests yet") })
		return
	}
	if stage.Cluster(s) && !c.o.all {
		c.check(name, func() error { return skip("a cluster stage: run make handout-check-all") })
		return
	}
	parallel := min(c.o.parallel, runtime.NumCPU())
	if stage.Cluster(s) {
		parallel = 1
	}
	c.check(name, func() error {
		return c.runKept("keep-"+s, stage.UpTo(s), tests, 0, parallel, true)
	})
	if c.o.all && len(stage.UpTo(s)) > 1 {
		before := stage.UpTo(s)
		before = before[:len(before)-1]
		c.check(fmt.Sprintf("stage %s fails with only stages %s kept", s, rangeLabel(before)), func() error {
			return c.runKept("without-"+s, before, tests, c.o.failTimeout, c.o.parallel, false)
		})
	}
}

// runKept cuts a tree keeping the given stages and checks that the tests
// all pass (wantPass) or all fail.
func (c *checker) runKept(dir string, keep []string, tests []gotest.Test, timeout time.Duration, parallel int, wantPass bool) error {
	tree, _, err := c.tree(dir, keep)
	if err != nil {
		return err
	}
	rep, err := c.grade(tree, tests, timeout, parallel)
	if err != nil {
		return err
	}
	var problems []string
	for _, t := range rep.Tests {
		passed := t.Verdict == grading.VerdictPass
		if passed == wantPass {
			continue
		}
		if run := t.FirstFailure(); wantPass && run != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", t.Name, run.Reason, run.Message))
		} else {
			problems = append(problems, fmt.Sprintf("%s passes without its stage's solution", t.Name))
		}
	}
	fmt.Fprintf(c.w, "        %d tests in %v\n", len(rep.Tests), rep.Elapsed.Round(time.Second))
	return joinProblems(problems)
}

// tally writes counts by reason: "30 failed, 4 timeout".
func tally(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return counts[keys[i]] > counts[keys[j]] || counts[keys[i]] == counts[keys[j]] && keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}

// rangeLabel writes a list of stages as "1..2AB" or "1".
func rangeLabel(stages []string) string {
	if len(stages) == 1 {
		return stages[0]
	}
	return stages[0] + ".." + stages[len(stages)-1]
}
