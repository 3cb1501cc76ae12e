package main

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

var update = flag.Bool("update", false, "rewrite the out/ sections of testdata/*.txtar with what the generator writes")

// Each testdata/*.txtar is a scenario: in/ is a reference tree (put under
// git; untracked/ files are written but not added), a "flags" section holds
// keep=STAGES, hidden and classroom, and either out/ is the handout expected
// byte for byte or "error" lists substrings the error must contain.
func TestGenerateScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

func runScenario(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	cfg := Config{Src: src, Out: filepath.Join(t.TempDir(), "handout"), Keep: map[string]bool{}}
	var wantErr []string
	for _, f := range ar.Files {
		switch {
		case strings.HasPrefix(f.Name, "in/"):
			writeFixtureFile(t, src, strings.TrimPrefix(f.Name, "in/"), f.Data)
		case f.Name == "flags":
			applyScenarioFlags(t, &cfg, string(f.Data))
		case f.Name == "error":
			wantErr = nonEmptyLines(string(f.Data))
		}
	}
	runGit(t, src, "init", "-q")
	runGit(t, src, "add", "-A")
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "untracked/") {
			writeFixtureFile(t, src, strings.TrimPrefix(f.Name, "untracked/"), f.Data)
		}
	}

	_, err = Generate(cfg)
	if wantErr != nil {
		if err == nil {
			t.Fatalf("Generate succeeded, want an error containing %q", wantErr)
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error does not contain %q; the error is:\n%v", w, err)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	got := readTree(t, cfg.Out)
	if *update {
		rewriteOut(t, file, ar, got)
		return
	}
	compareTree(t, got, ar)
}

func applyScenarioFlags(t *testing.T, cfg *Config, text string) {
	for _, field := range strings.Fields(text) {
		name, value, _ := strings.Cut(field, "=")
		switch name {
		case "keep":
			stages, err := stage.Expand(value)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stages {
				cfg.Keep[s] = true
			}
		case "hidden":
			cfg.Hidden = true
		case "classroom":
			cfg.Classroom = true
		default:
			t.Fatalf("unknown scenario flag %q", field)
		}
	}
}

func writeFixtureFile(t *testing.T, root, name string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// readTree reads every file under root, by slash path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	tree := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		tree[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func compareTree(t *testing.T, got map[string][]byte, ar *txtar.Archive) {
	want := map[string][]byte{}
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "out/") {
			want[strings.TrimPrefix(f.Name, "out/")] = f.Data
		}
	}
	for name, data := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("the handout lacks %s", name)
		case !bytes.Equal(g, data):
			t.Errorf("%s differs.\ngot:\n%s\nwant:\n%s", name, g, data)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("the handout has %s, which the scenario does not expect", name)
		}
	}
}

// rewriteOut replaces the out/ sections of a scenario with got.
func rewriteOut(t *testing.T, file string, ar *txtar.Archive, got map[string][]byte) {
	var kept []txtar.File
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "out/") {
			kept = append(kept, f)
		}
	}
	names := make([]string, 0, len(got))
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		kept = append(kept, txtar.File{Name: "out/" + name, Data: got[name]})
	}
	ar.Files = kept
	if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateRefusesToClobberOtherDirectories(t *testing.T) {
	src := t.TempDir()
	writeFixtureFile(t, src, "go.mod", []byte("module example.com/fixture\n\ngo 1.22\n"))
	runGit(t, src, "init", "-q")
	runGit(t, src, "add", "-A")

	other := t.TempDir()
	writeFixtureFile(t, other, "precious.txt", []byte("keep me"))
	if _, err := Generate(Config{Src: src, Out: other}); err == nil || !strings.Contains(err.Error(), "remove it yourself") {
		t.Errorf("Generate into a non-empty directory: got %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(other, "precious.txt")); err != nil {
		t.Errorf("the directory was touched: %v", err)
	}
	if _, err := Generate(Config{Src: src, Out: filepath.Dir(src)}); err == nil || !strings.Contains(err.Error(), "would contain the reference") {
		t.Errorf("Generate into a parent of the reference: got %v, want a refusal", err)
	}

	out := filepath.Join(t.TempDir(), "handout")
	for i := 0; i < 2; i++ { // the second run replaces the first handout
		if _, err := Generate(Config{Src: src, Out: out}); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
}

func TestGenerateNeedsAGitCheckout(t *testing.T) {
	src := t.TempDir()
	writeFixtureFile(t, src, "go.mod", []byte("module example.com/fixture\n\ngo 1.22\n"))
	_, err := Generate(Config{Src: src, Out: filepath.Join(t.TempDir(), "h")})
	if err == nil || !strings.Contains(err.Error(), "not a git checkout") {
		t.Errorf("got %v, want an error saying the source is not a git checkout", err)
	}
}
