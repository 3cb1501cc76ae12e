package grading

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
	"github.com/tinykv-lab/tinykv/course/internal/weights"
)

func run(status gotest.Status, reason string) Run {
	return Run{Result: gotest.Result{Outcome: gotest.Outcome{Status: status, Reason: reason, Elapsed: time.Second}}}
}

func TestScoreVerdicts(t *testing.T) {
	pass, fail, skip := run(gotest.Pass, ""), run(gotest.Fail, gotest.ReasonFailed), run(gotest.Skip, gotest.ReasonSkipped)
	reports := []*TestReport{
		{Test: gotest.Test{Name: "TestA1"}, Points: 2, Runs: []Run{pass, pass}},
		{Test: gotest.Test{Name: "TestB1"}, Points: 3, Runs: []Run{pass, fail}},
		{Test: gotest.Test{Name: "TestC1"}, Points: 5, Runs: []Run{fail, fail}},
		{Test: gotest.Test{Name: "TestD1"}, Points: 1, Runs: []Run{skip}},
	}
	rep := score(reports)
	want := []string{VerdictPass, VerdictFlaky, VerdictFail, VerdictSkip}
	for i, r := range reports {
		if r.Verdict != want[i] {
			t.Errorf("%s: verdict %s, want %s", r.Name, r.Verdict, want[i])
		}
	}
	if got := rep.ScoreLine(); got != "score: 2/11 points (1 passed, 3 failed)" {
		t.Errorf("score line %q", got)
	}
}

func TestReplay(t *testing.T) {
	test := gotest.Test{Name: "TestOneSplit3B", Dir: "kv/test_raftstore"}
	if got, want := Replay(test, []string{"grading"}, true), "go test -tags grading -race -count=1 -run '^TestOneSplit3B$' ./kv/test_raftstore"; got != want {
		t.Errorf("Replay = %q, want %q", got, want)
	}
}

// writeModule makes a module with a passing, a failing and a flaky test;
// the flaky one fails on its first run only (it counts runs in a file).
func writeModule(t *testing.T) string {
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/graded\n\ngo 1.22\n",
		"kv/kv_test.go": `package kv

import (
	"os"
	"testing"
)

func TestPass1(t *testing.T) {}

func TestFail1(t *testing.T) { t.Fatal("expected 1, got 2") }

func TestFlaky1(t *testing.T) {
	counter := os.Getenv("FLAKY_COUNTER")
	_, err := os.Stat(counter)
	if err := os.WriteFile(counter, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal("first run fails")
	}
}
`,
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

func TestGradeRunsScoresAndWritesResults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	root := writeModule(t)
	tests, err := gotest.Discover(root, "example.com/graded", gotest.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := weights.Parse([]byte(`{"stages": {"1": {"points": 2, "timeout": "30s", "tests": {"TestFail1": {"points": 7}}}}}`), "w")
	if err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	stale := filepath.Join(logs, "TestPass1-9.log")
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Grade(context.Background(), Options{
		Root: root, Module: "example.com/graded", Tests: tests, Weights: w, Runs: 2, Parallel: 1,
		Env: []string{"FLAKY_COUNTER=" + filepath.Join(t.TempDir(), "runs")}, LogDir: logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, r := range rep.Tests {
		verdicts[r.Name] = r.Verdict
	}
	if verdicts["TestPass1"] != VerdictPass || verdicts["TestFail1"] != VerdictFail || verdicts["TestFlaky1"] != VerdictFlaky {
		t.Errorf("verdicts %v", verdicts)
	}
	if got := rep.ScoreLine(); got != "score: 2/11 points (1 passed, 2 failed)" {
		t.Errorf("score line %q", got)
	}
	kept, _ := filepath.Glob(filepath.Join(logs, "*.log"))
	if len(kept) != 3 { // TestFail1 twice, TestFlaky1 once; the stale log is gone
		t.Errorf("kept logs %v, want the three failing runs' only", kept)
	}

	var table strings.Builder
	WriteTable(&table, rep, TableOptions{TailSize: 5})
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if last := lines[len(lines)-1]; last != rep.ScoreLine() {
		t.Errorf("the table does not end with the score line: %q", last)
	}
	if !strings.Contains(table.String(), "run it:   go test -count=1 -run '^TestFail1$' ./kv") {
		t.Errorf("the table does not say how to replay a failure:\n%s", table.String())
	}

	checkMachineReadable(t, rep)
}

func checkMachineReadable(t *testing.T, rep *Report) {
	dir := t.TempDir()
	jsonPath, junitPath, classPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml"), filepath.Join(dir, "c.json")
	if err := WriteJSON(jsonPath, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(junitPath, "stage 1", rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteClassroom(classPath, rep, nil); err != nil {
		t.Fatal(err)
	}
	var back Report
	if data, _ := os.ReadFile(jsonPath); json.Unmarshal(data, &back) != nil || back.Score != rep.Score || len(back.Tests) != 3 {
		t.Errorf("the JSON report does not read back: %+v", back)
	}
	var suites junitSuites
	if data, _ := os.ReadFile(junitPath); xml.Unmarshal(data, &suites) != nil || suites.Failures != 2 || len(suites.Suites) != 1 {
		t.Errorf("JUnit: %+v", suites)
	}
	var class classroomResult
	if data, _ := os.ReadFile(classPath); json.Unmarshal(data, &class) != nil || class.MaxScore != 11 || class.Status != "fail" {
		t.Errorf("classroom result: %+v", class)
	}
}
