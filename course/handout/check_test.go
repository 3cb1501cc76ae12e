package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"
)

// writeCourse lays out the fixture course of testdata/flow/course.txtar as a
// git checkout, with edit applied to its files first.
func writeCourse(t *testing.T, edit func(name string, data []byte) []byte) string {
	t.Helper()
	ar, err := txtar.ParseFile(filepath.Join("testdata", "flow", "course.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for _, f := range ar.Files {
		data := f.Data
		if edit != nil {
			data = edit(f.Name, data)
		}
		writeFixtureFile(t, src, f.Name, data)
	}
	runGit(t, src, "init", "-q")
	runGit(t, src, "add", "-A")
	return src
}

func checkCourse(t *testing.T, src string, extra ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	o, err := parseFlags(append([]string{"-src", src, "-fail-timeout", "2s"}, extra...), &out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := runChecks(ctx, o, &out)
	return code, out.String()
}

func TestCheckPassesOnAGoodCourse(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs a fixture course")
	}
	code, out := checkCourse(t, writeCourse(t, nil), "-all")
	if code != 0 {
		t.Fatalf("exit %d on a good course:\n%s", code, out)
	}
	for _, want := range []string{
		"ok    every stage's tests fail on the handout",
		"ok    stage 1 passes with stages 1 kept",
		"ok    stage 2AA passes with stages 1..2AA kept",
		"ok    stage 2AA fails with only stages 1 kept",
		"skip  stage 2B passes with stages 1..2B kept: no tests yet",
		"handout-check: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// One course with a defect of every kind: each check must report its own,
// and one run keeps the test fast.
func TestCheckCatchesBrokenCourses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs a fixture course")
	}
	edits := map[string]func(string) string{
		// a test that passes on the skeleton
		"raft/raft_test.go": func(s string) string { return s + "\nfunc TestFree2AA(t *testing.T) {}\n" },
		// a solution copied outside its region
		"raft/raft.go": func(s string) string {
			return s + "\nfunc elect(n int) int {\n\tif kv.Get(\"x\") == \"\" {\n\t\treturn -1\n\t}\n\treturn n % 3\n}\n"
		},
		// a stage-1 solution marked as 2AA: stage 1 needs a later stage
		"kv/kv.go": func(s string) string { return strings.Replace(s, "//lab:begin 1", "//lab:begin 2AA", 1) },
		// a weight for a test that does not exist
		"course/weights.json": func(s string) string { return strings.Replace(s, "TestGetEmpty1", "TestGetNothing1", 1) },
		// a link to a staff-only document
		"README.md": func(s string) string { return s + "\n[staff](doc/handout.md)\n" },
	}
	src := writeCourse(t, func(name string, data []byte) []byte {
		if edit := edits[name]; edit != nil {
			return []byte(edit(string(data)))
		}
		return data
	})
	// a stub that does not compile
	writeFixtureFile(t, src, "store/store.go", []byte("package store\n\nfunc Size() int {\n\t//lab:begin 2AA\n\treturn 1\n\t//lab:else\n\t//\treturn \"\"\n\t//lab:end\n}\n"))
	// a hint that names a helper only the reference has
	writeFixtureFile(t, src, "store/hint.go", []byte("package store\n\n// Twice doubles n: see `double`.\nfunc Twice(n int) int {\n\t//lab:begin 2AA\n\treturn double(n)\n\t//lab:else\n\t//\treturn 0\n\t//lab:end\n}\n\n//lab:begin 2AA\n\nfunc double(n int) int { return 2 * n }\n\n//lab:end\n"))
	// a stub nothing calls and no document names
	writeFixtureFile(t, src, "store/orphan.go", []byte("package store\n\nfunc orphan() int {\n\t//lab:begin 2AA\n\treturn 1\n\t//lab:else\n\t//\treturn 0\n\t//lab:end\n}\n"))
	runGit(t, src, "add", "-A")

	code, out := checkCourse(t, src)
	if code == 0 {
		t.Errorf("exit 0 on a broken course")
	}
	for _, want := range []string{
		"TestFree2AA (stage 2AA, raft/raft_test.go) passes on the handout",
		"FAIL  the handout compiles and vets",
		"store/store.go:5:9: cannot use \"\"", // line 4 is the "// Your Code Here (2AA)." the generator wrote
		"raft/raft.go: has 3 lines of the solution region at raft/raft.go:8 (stage 2AA), unmarked",
		"FAIL  stage 1 passes with stages 1 kept",
		"TestGet1: failed: kv_test.go:7: Get(a) = \"\", want \"value of a\"",
		"lists TestGetNothing1, which no test file declares",
		"README.md:5: link to doc/handout.md, which the handout does not have",
		"store/orphan.go:3:1: orphan (stage 2AA) is a stub nothing in the skeleton calls",
		"store/hint.go:3: the comment names double, which only the reference has",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestCheckKeepsTreesInWork(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a fixture course")
	}
	work := t.TempDir()
	code, out := checkCourse(t, writeCourse(t, nil), "-stages", "1", "-work", work)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, dir := range []string{"handout", "keep-1"} {
		if _, err := os.Stat(filepath.Join(work, dir, "go.mod")); err != nil {
			t.Errorf("-work did not keep the %s tree: %v", dir, err)
		}
	}
}
