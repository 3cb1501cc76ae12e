package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/tools/imports"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
	"github.com/tinykv-lab/tinykv/course/internal/stage"
	"github.com/tinykv-lab/tinykv/course/internal/weights"
)

// staffOnly lists the tracked paths (files, or directories ending in /) that
// never go to students: the generator with its checks and fixtures, the
// staff guide, the classroom template (installed on request with
// -classroom), and the reference's own CI script, which runs tests that
// fail on the skeleton by design.
var staffOnly = []string{
	"course/handout/",
	"course/classroom/",
	"doc/handout.md",
	".ci/",
}

// Paths of the classroom workflow: template in the reference, place in a
// student repository.
const (
	classroomTemplate = "course/classroom/classroom.yml"
	classroomWorkflow = ".github/workflows/classroom.yml"
)

// Config says what handout to cut.
type Config struct {
	Src       string          // root of the reference checkout
	Out       string          // the handout goes here (replaced)
	Keep      map[string]bool // stages whose solutions stay
	Hidden    bool            // also write the hidden tier (for checks and the private grading repository)
	Classroom bool            // install the classroom workflow
	Git       bool            // make the handout a git repository with one commit
}

// StageSummary counts what the handout lost of one stage.
type StageSummary struct {
	Regions, Lines, StubLines, Files int
}

// Summary is what Generate did.
type Summary struct {
	Copied, Rewritten int
	Hidden            []string // hidden-tier files (left out unless Config.Hidden)
	StaffOnly         []string // tracked paths left out as staff-only
	HiddenWeights     int      // weights entries of hidden tests removed
	Stages            map[string]*StageSummary
	Removed           map[string][]Region // by file: regions whose solution was removed
}

func newSummary() *Summary {
	return &Summary{Stages: map[string]*StageSummary{}, Removed: map[string][]Region{}}
}

func (s *Summary) stage(name string) *StageSummary {
	if s.Stages[name] == nil {
		s.Stages[name] = &StageSummary{}
	}
	return s.Stages[name]
}

// generator carries one Generate call.
type generator struct {
	cfg     Config
	module  string
	sum     *Summary
	errs    []error
	hidden  map[string]bool // test functions declared in hidden-tier files
	visible map[string]bool // test functions declared in files students get
	weights []byte          // the weights file, written last
}

// Generate cuts the handout out of the tracked files of cfg.Src.
func Generate(cfg Config) (*Summary, error) {
	root, module, err := gotest.ModuleRoot(cfg.Src)
	if err != nil {
		return nil, err
	}
	cfg.Src = root
	files, err := trackedFiles(root)
	if err != nil {
		return nil, err
	}
	if err := prepareOut(cfg.Out, root, module); err != nil {
		return nil, err
	}
	g := &generator{cfg: cfg, module: module, sum: newSummary(), hidden: map[string]bool{}, visible: map[string]bool{}}
	imports.LocalPrefix = module
	for _, name := range files {
		if err := g.file(name); err != nil {
			g.errs = append(g.errs, err)
		}
	}
	if len(g.errs) == 0 {
		g.finish()
	}
	if len(g.errs) > 0 {
		return g.sum, errors.Join(g.errs...)
	}
	if cfg.Git {
		if err := gitInit(cfg.Out); err != nil {
			return g.sum, err
		}
	}
	return g.sum, nil
}

// trackedFiles lists the files git tracks: the handout never picks up build
// output, editor files or a student's experiments.
func trackedFiles(root string) ([]string, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("%s is not a git checkout (the handout is cut from the tracked files): %s", root, bytes.TrimSpace(exit.Stderr))
		}
		return nil, fmt.Errorf("running git: %w", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	return files, nil
}

// prepareOut empties the output directory, refusing one that holds anything
// but an earlier handout of the same module.
func prepareOut(out, src, module string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(abs, src); err == nil && !strings.HasPrefix(rel, "..") {
		return fmt.Errorf("-out %s would contain the reference tree %s", out, src)
	}
	entries, err := os.ReadDir(abs)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if len(entries) > 0 {
		_, other, err := gotest.ModuleRoot(abs)
		if err != nil || other != module {
			return fmt.Errorf("-out %s is not empty and holds no earlier handout of %s: remove it yourself", out, module)
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fmt.Errorf("-out %s is not empty and is not a handout root: remove it yourself", out)
		}
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	return os.MkdirAll(abs, 0o755)
}

func isStaffOnly(name string) bool {
	for _, p := range staffOnly {
		if name == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(name, p)) {
			return true
		}
	}
	return false
}

// file copies one tracked file into the handout, applying its markers.
func (g *generator) file(name string) error {
	if isStaffOnly(name) {
		g.sum.StaffOnly = append(g.sum.StaffOnly, name)
		return g.classroom(name)
	}
	src := filepath.Join(g.cfg.Src, filepath.FromSlash(name))
	info, err := os.Lstat(src)
	if os.IsNotExist(err) {
		return nil // deleted in the work tree, not yet committed
	}
	if err != nil {
		return err
	}
	if info.Mode()&os.ModeSymlink != 0 {
		return g.symlink(name, src)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	hidden, err := g.hiddenTier(name, src, data)
	if err != nil {
		return err
	}
	if hidden && !g.cfg.Hidden {
		g.sum.Hidden = append(g.sum.Hidden, name)
		return nil
	}
	data, drop, err := g.applyMarkers(name, src, data)
	if err != nil || drop {
		return err
	}
	if name == weights.DefaultPath {
		g.weights = data
		return nil
	}
	return g.write(name, data, info.Mode().Perm())
}

// hiddenTier tells a Go file built only with the grading tag and records the
// tests each tier declares.
func (g *generator) hiddenTier(name, src string, data []byte) (bool, error) {
	if !strings.HasSuffix(name, ".go") {
		return false, nil
	}
	plain, graded, err := gotest.FileTier(src)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	hidden := graded && !plain
	if strings.HasSuffix(name, "_test.go") {
		for _, t := range testFuncs(src, data) {
			if hidden {
				g.hidden[t] = true
			} else {
				g.visible[t] = true
			}
		}
	}
	return hidden, nil
}

// testFuncs lists the Test functions of a test file (none if it does not parse).
func testFuncs(name string, data []byte) []string {
	f, err := parser.ParseFile(token.NewFileSet(), name, data, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	var names []string
	for _, d := range f.Decls {
		if name, ok := funcName(d); ok && strings.HasPrefix(name, "Test") {
			names = append(names, name)
		}
	}
	return names
}

// applyMarkers strips the solutions of the stages not kept and fixes the
// imports of a Go file that changed.
func (g *generator) applyMarkers(name, src string, data []byte) ([]byte, bool, error) {
	st := styleFor(name, data)
	if st == nil || !bytes.Contains(data, []byte("lab")) {
		return data, false, nil
	}
	res, err := Strip(name, data, st, g.keep)
	if err != nil {
		return nil, false, err
	}
	if res.Drop {
		g.sum.stage(res.FileStage).Files++
		return nil, true, nil
	}
	g.record(name, res)
	if bytes.Equal(res.Out, data) {
		return data, false, nil
	}
	g.sum.Rewritten++
	if path.Ext(name) != ".go" {
		return res.Out, false, nil
	}
	fixed, err := imports.Process(src, res.Out, &imports.Options{Comments: true, TabIndent: true, TabWidth: 8})
	if err != nil {
		return nil, false, fmt.Errorf("%s: after the markers were applied the file is not valid Go: %w", name, err)
	}
	return fixed, false, nil
}

func (g *generator) keep(s string) bool {
	return s != StaffStage && g.cfg.Keep[s]
}

func (g *generator) record(name string, res *FileResult) {
	for _, r := range res.Regions {
		if r.Kept {
			continue
		}
		ss := g.sum.stage(r.Stage)
		ss.Regions++
		ss.Lines += len(r.Solution)
		ss.StubLines += r.StubLines
		g.sum.Removed[name] = append(g.sum.Removed[name], r)
	}
}

func (g *generator) write(name string, data []byte, perm os.FileMode) error {
	dst := filepath.Join(g.cfg.Out, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	g.sum.Copied++
	return os.WriteFile(dst, data, perm)
}

func (g *generator) symlink(name, src string) error {
	target, err := os.Readlink(src)
	if err != nil {
		return err
	}
	dst := filepath.Join(g.cfg.Out, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	g.sum.Copied++
	return os.Symlink(target, dst)
}

// classroom installs the classroom workflow when asked.
func (g *generator) classroom(name string) error {
	if !g.cfg.Classroom || name != classroomTemplate {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(g.cfg.Src, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	data, _, err = g.applyMarkers(name, name, data)
	if err != nil {
		return err
	}
	return g.write(classroomWorkflow, data, 0o644)
}

// finish writes the weights file without the entries of hidden tests, so
// that the handout does not name them.
func (g *generator) finish() {
	if g.weights == nil {
		return
	}
	data := g.weights
	if !g.cfg.Hidden {
		w, err := weights.Parse(data, weights.DefaultPath)
		if err != nil {
			g.errs = append(g.errs, err)
			return
		}
		secret := map[string]bool{}
		for t := range g.hidden {
			if !g.visible[t] {
				secret[t] = true
			}
		}
		if g.sum.HiddenWeights = w.Without(secret); g.sum.HiddenWeights > 0 {
			data = w.Marshal()
		}
	}
	if err := g.write(weights.DefaultPath, data, 0o644); err != nil {
		g.errs = append(g.errs, err)
	}
}

// gitInit makes the handout a repository with a single commit, ready to be
// pushed as a starter repository.
func gitInit(dir string) error {
	steps := [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=TinyKV Lab", "-c", "user.email=staff@tinykv-lab.invalid", "commit", "-q", "-m", "TinyKV Lab handout"},
	}
	for _, args := range steps {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s: %v\n%s", args[0], dir, err, out)
		}
	}
	return nil
}

// summaryStages lists the stages that appear in a summary, in course order,
// with staff last.
func summaryStages(s *Summary) []string {
	var names []string
	for _, st := range stage.All {
		if s.Stages[st] != nil {
			names = append(names, st)
		}
	}
	if s.Stages[StaffStage] != nil {
		names = append(names, StaffStage)
	}
	return names
}

// funcName is the name of a top-level function (not a method).
func funcName(d ast.Decl) (string, bool) {
	fn, ok := d.(*ast.FuncDecl)
	if !ok || fn.Recv != nil {
		return "", false
	}
	return fn.Name.Name, true
}
