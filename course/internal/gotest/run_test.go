package gotest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFixtureModule lays out a small module whose tests pass, fail, hang,
// leave temp files behind, and live in the hidden tier.
func writeFixtureModule(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":   "module example.com/fixture\n\ngo 1.22\n",
		"kv/kv.go": "package kv\n\nfunc Answer() int { return 42 }\n",
		"kv/kv_test.go": `package kv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestAnswer1(t *testing.T) {
	if _, err := os.Stat("testdata/input.txt"); err != nil {
		t.Fatalf("the test does not run in its package directory: %v", err)
	}
	if Answer() != 42 {
		t.Fatal("wrong answer")
	}
}

func TestWrong1(t *testing.T) { t.Fatalf("expected 43, got %d", Answer()) }

func TestHang1(t *testing.T) { time.Sleep(time.Hour) }

func TestLitter1(t *testing.T) {
	if err := os.WriteFile(filepath.Join(os.TempDir(), "left-behind"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHelperNotAStage(t *testing.T) {}

// TestOrphan1 starts a process and leaves it running, as a test killed
// before its cleanup leaves a server it started.
func TestOrphan1(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("orphan pid %d", cmd.Process.Pid)
}

// TestHog1 keeps growing, as a bug that multiplies messages does.
func TestHog1(t *testing.T) {
	var hoard [][]byte
	for i := 0; i < 1<<10; i++ {
		chunk := make([]byte, 16<<20)
		for j := range chunk {
			chunk[j] = byte(j)
		}
		hoard = append(hoard, chunk)
		time.Sleep(10 * time.Millisecond)
	}
	t.Log(len(hoard))
}

func helper2B(t *testing.T) {}
`,
		"kv/testdata/input.txt":         "x\n",
		"kv/hidden_test.go":             "//go:build grading\n\npackage kv\n\nimport \"testing\"\n\nfunc TestSecret1(t *testing.T) {}\n",
		"raft/raft_test.go":             "package raft\n\nimport \"testing\"\n\nfunc TestElection2AA(t *testing.T) {}\n",
		"raft/testdata/ignored_test.go": "package ignored\n\nimport \"testing\"\n\nfunc TestIgnored2AA(t *testing.T) {}\n",
	}
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testNames(tests []Test) string {
	var names []string
	for _, t := range tests {
		names = append(names, t.Name)
	}
	return strings.Join(names, " ")
}

func TestDiscoverFindsStageTestsAndHiddenTier(t *testing.T) {
	root := writeFixtureModule(t)
	public, err := Discover(root, "example.com/fixture", Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := testNames(public), "TestAnswer1 TestHang1 TestHog1 TestLitter1 TestOrphan1 TestWrong1 TestElection2AA"; got != want {
		t.Errorf("public tests: got %q, want %q", got, want)
	}
	all, err := Discover(root, "example.com/fixture", Scope{Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	var secret *Test
	for i := range all {
		if all[i].Name == "TestSecret1" {
			secret = &all[i]
		}
	}
	if secret == nil || !secret.Hidden || secret.ImportPath != "example.com/fixture/kv" || secret.File != "kv/hidden_test.go" {
		t.Errorf("hidden test: got %+v, want TestSecret1 in kv/hidden_test.go marked hidden", secret)
	}
	everything, err := Discover(root, "example.com/fixture", Scope{AnyStage: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := testNames(everything), "TestHelperNotAStage TestAnswer1 TestHang1 TestHog1 TestLitter1 TestOrphan1 TestWrong1 TestElection2AA"; got != want {
		t.Errorf("tests of any stage: got %q, want %q", got, want)
	}
	if got := Select(all, []string{"2AA"}); testNames(got) != "TestElection2AA" || got[0].Pattern() != "./raft" {
		t.Errorf("Select(2AA) = %+v", got)
	}
}

func TestBuildAndRunOneTestPerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	root := writeFixtureModule(t)
	ctx := context.Background()
	bin := Build(ctx, BuildOptions{Root: root, OutDir: t.TempDir()}, "kv", "example.com/fixture/kv")
	if bin.Failure != nil {
		t.Fatalf("build failed: %+v", bin.Failure)
	}
	cases := []struct {
		test   string
		status Status
		reason string
		left   int
	}{
		{"TestAnswer1", Pass, "", 0},
		{"TestWrong1", Fail, ReasonFailed, 0},
		{"TestHang1", Fail, ReasonTimeout, 0},
		{"TestLitter1", Pass, "", 1},
		{"TestMissing1", Fail, ReasonNotFound, 0},
	}
	tempParent := t.TempDir()
	for _, tc := range cases {
		var log strings.Builder
		res := bin.Run(ctx, RunOptions{Test: tc.test, Timeout: 2 * time.Second, TempDir: tempParent, Log: &log})
		if res.Status != tc.status || res.Reason != tc.reason || res.LeftFiles != tc.left {
			t.Errorf("%s: got %s/%s (%s) leaving %d files; want %s/%s leaving %d\n%s",
				tc.test, res.Status, res.Reason, res.Message, res.LeftFiles, tc.status, tc.reason, tc.left, log.String())
		}
	}
	if entries, _ := os.ReadDir(tempParent); len(entries) != 0 {
		t.Errorf("runs left %d temp dirs behind", len(entries))
	}
}

func TestRunOverMemoryLimitIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	if _, ok := groupRSS(os.Getpid()); !ok {
		t.Skip("memory is not measured on this system")
	}
	root := writeFixtureModule(t)
	bin := Build(context.Background(), BuildOptions{Root: root, OutDir: t.TempDir()}, "kv", "example.com/fixture/kv")
	if bin.Failure != nil {
		t.Fatalf("build failed: %+v", bin.Failure)
	}
	start := time.Now()
	res := bin.Run(context.Background(), RunOptions{Test: "TestHog1", Timeout: time.Minute, MemoryLimit: 200 << 20})
	if res.Status != Fail || res.Reason != ReasonMemory || !strings.Contains(res.Message, "more than the 200 MiB limit") {
		t.Errorf("a test that grows past its 200 MiB limit: got %s/%s (%s), want %s/%s", res.Status, res.Reason, res.Message, Fail, ReasonMemory)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the run was killed after %v: the limit must stop it at once", took)
	}
	if res := bin.Run(context.Background(), RunOptions{Test: "TestAnswer1", Timeout: time.Minute, MemoryLimit: 200 << 20}); res.Status != Pass {
		t.Errorf("a small test under a 200 MiB limit: got %s/%s (%s), want a pass", res.Status, res.Reason, res.Message)
	}
}

func TestBuildFailureIsSharedByTheTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root := writeFixtureModule(t)
	broken := filepath.Join(root, "kv", "broken_test.go")
	if err := os.WriteFile(broken, []byte("package kv\n\nfunc unused() { x := 1 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := Build(context.Background(), BuildOptions{Root: root, OutDir: t.TempDir()}, "kv", "example.com/fixture/kv")
	if bin.Failure == nil {
		t.Fatal("a package that does not compile built")
	}
	res := bin.Run(context.Background(), RunOptions{Test: "TestAnswer1", Timeout: time.Second})
	if res.Reason != ReasonBuildFailed || !strings.Contains(res.Message, "declared and not used") {
		t.Errorf("got %s %q, want a build failure naming the compile error", res.Reason, res.Message)
	}
}
