package gotest

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

// GradingTag is the build tag of the hidden test tier.
const GradingTag = "grading"

// Test is one course test function found in the source tree.
type Test struct {
	Name       string `json:"name"`
	Stage      string `json:"stage"`
	Dir        string `json:"dir"` // package directory, slash-separated, relative to the module root ("." for the root)
	ImportPath string `json:"package"`
	File       string `json:"file"` // relative to the module root
	Line       int    `json:"line"`
	Hidden     bool   `json:"hidden,omitempty"` // declared in a file built only with the grading tag
}

// Pattern is the go command's package pattern for the test's package.
func (t Test) Pattern() string {
	if t.Dir == "." {
		return "."
	}
	return "./" + t.Dir
}

// ModuleRoot walks up from dir to the directory holding go.mod and returns it
// with the module path.
func ModuleRoot(dir string) (root, module string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if module, err := modulePath(filepath.Join(d, "go.mod")); err == nil {
			return d, module, nil
		} else if !os.IsNotExist(err) {
			return "", "", err
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("no go.mod in %s or any directory above it", dir)
		}
	}
}

func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`), nil
		}
	}
	return "", fmt.Errorf("%s has no module line", gomod)
}

// Scope says which tests Discover lists.
type Scope struct {
	Hidden   bool // include the hidden tier (files built only with the grading tag), marked Hidden
	AnyStage bool // include tests whose name ends in no stage (their Stage is "")
}

// Discover lists the stage tests of the module rooted at root, sorted by
// stage, package and name.
func Discover(root, module string, scope Scope) ([]Test, error) {
	var tests []Test
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(p, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		found, err := testsInFile(root, module, p, scope)
		tests = append(tests, found...)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(tests, func(i, j int) bool {
		a, b := tests[i], tests[j]
		if a.Stage != b.Stage {
			return stage.Index(a.Stage) < stage.Index(b.Stage) // tests of no stage (-1) first
		}
		if a.Dir != b.Dir {
			return a.Dir < b.Dir
		}
		return a.Name < b.Name
	})
	return tests, nil
}

// skipDir tells the directories the go command ignores, plus nested modules
// and the generated handout.
func skipDir(p, name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "dist" {
		return true
	}
	_, err := os.Stat(filepath.Join(p, "go.mod"))
	return err == nil
}

// FileTier tells whether the go command builds file (a path) without the
// grading tag (plain) and with it (graded). A hidden-tier file is graded but
// not plain; a file that a hidden one replaces is plain but not graded.
func FileTier(file string) (plain, graded bool, err error) {
	dir, name := filepath.Split(file)
	ctx := build.Default
	plain, err = ctx.MatchFile(dir, name)
	if err != nil {
		return false, false, err
	}
	ctx.BuildTags = append(append([]string(nil), ctx.BuildTags...), GradingTag)
	graded, err = ctx.MatchFile(dir, name)
	return plain, graded, err
}

func testsInFile(root, module, file string, scope Scope) ([]Test, error) {
	plain, graded, err := FileTier(file)
	if err != nil {
		return nil, err
	}
	if (scope.Hidden && !graded) || (!scope.Hidden && !plain) {
		return nil, nil
	}
	hidden := graded && !plain
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return nil, err
	}
	rel = filepath.ToSlash(rel)
	dir := path.Dir(rel)
	importPath := module
	if dir != "." {
		importPath = module + "/" + dir
	}
	var tests []Test
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || !isTestFunc(fn) {
			continue
		}
		s, ok := stage.OfTest(fn.Name.Name)
		if !ok && !scope.AnyStage {
			continue
		}
		tests = append(tests, Test{
			Name: fn.Name.Name, Stage: s, Dir: dir, ImportPath: importPath,
			File: rel, Line: fset.Position(fn.Pos()).Line, Hidden: hidden,
		})
	}
	return tests, nil
}

// isTestFunc reports whether fn is `func TestXxx(t *testing.T)`.
func isTestFunc(fn *ast.FuncDecl) bool {
	if fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Type.TypeParams != nil {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

// Select keeps the tests of the given stages.
func Select(tests []Test, stages []string) []Test {
	want := map[string]bool{}
	for _, s := range stages {
		want[s] = true
	}
	var out []Test
	for _, t := range tests {
		if want[t.Stage] {
			out = append(out, t)
		}
	}
	return out
}
