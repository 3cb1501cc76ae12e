package gotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJudgeRecordedStreams(t *testing.T) {
	cases := []struct {
		file, test string
		status     Status
		reason     string
		message    string // a substring of Outcome.Message
	}{
		{"pass.jsonl", "TestPass", Pass, "", ""},
		{"fail.jsonl", "TestFail", Fail, ReasonFailed, "p_test.go:13: expected 1, got 2 (seed 42)"},
		{"panic.jsonl", "TestPanic", Fail, ReasonPanic, "panic: assignment to entry in nil map"},
		{"gotest-panic.jsonl", "TestPanic", Fail, ReasonPanic, "panic: assignment to entry in nil map"},
		{"hang.jsonl", "TestHang", Fail, ReasonTimeout, "test timed out after 1s"},
		{"skip.jsonl", "TestSkip", Skip, ReasonSkipped, "needs a cluster"},
		{"exit.jsonl", "TestExit", Fail, ReasonExited, "fatal: storage closed"},
		{"none.jsonl", "TestNone", Fail, ReasonNotFound, "no test named TestNone"},
		{"build.jsonl", "TestPass", Fail, ReasonBuildFailed, "declared and not used: x"},
		{"gotest-build.jsonl", "TestPass", Fail, ReasonBuildFailed, "declared and not used: x"},
	}
	for _, tc := range cases {
		f, err := os.Open(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Judge(f, tc.test)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if got.Status != tc.status || got.Reason != tc.reason || !strings.Contains(got.Message, tc.message) {
			t.Errorf("%s: got status %q reason %q message %q; want %q %q containing %q",
				tc.file, got.Status, got.Reason, got.Message, tc.status, tc.reason, tc.message)
		}
		if tc.status == Pass && len(got.Tail) != 0 {
			t.Errorf("%s: a passing run keeps %d lines of output, want none", tc.file, len(got.Tail))
		}
		if tc.status == Fail && len(got.Tail) == 0 {
			t.Errorf("%s: a failing run kept no output", tc.file)
		}
	}
}

func TestJudgeRuntimeFatalAndPlainText(t *testing.T) {
	stream := `{"Action":"run","Test":"TestX"}
{"Action":"output","Test":"TestX","Output":"=== RUN   TestX\n"}
{"Action":"output","Test":"TestX","Output":"fatal error: all goroutines are asleep - deadlock!\n"}
exit status 2
`
	got, err := Judge(strings.NewReader(stream), "TestX")
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != ReasonCrashed || got.Message != "fatal error: all goroutines are asleep - deadlock!" {
		t.Errorf("got %q %q, want a crash with the fatal error line", got.Reason, got.Message)
	}
	if last := got.Tail[len(got.Tail)-1]; last != "exit status 2" {
		t.Errorf("a line that is not JSON is lost: tail ends with %q", last)
	}
}

func TestJudgeIgnoresOtherTestsAndKeepsSubtests(t *testing.T) {
	stream := `{"Action":"run","Test":"TestX"}
{"Action":"output","Test":"TestOther","Output":"    o_test.go:1: not mine\n"}
{"Action":"output","Test":"TestX/sub","Output":"    x_test.go:9: want 3, got 4\n"}
{"Action":"output","Test":"TestX","Output":"--- FAIL: TestX (0.50s)\n"}
{"Action":"fail","Test":"TestX","Elapsed":0.5}
`
	got, err := Judge(strings.NewReader(stream), "TestX")
	if err != nil {
		t.Fatal(err)
	}
	if got.Message != "x_test.go:9: want 3, got 4" || got.Elapsed.Seconds() != 0.5 {
		t.Errorf("got message %q elapsed %v; want the subtest's failure and 0.5s", got.Message, got.Elapsed)
	}
}

func TestJudgeEmptyStream(t *testing.T) {
	got, err := Judge(strings.NewReader(""), "TestX")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Fail || got.Message == "" {
		t.Errorf("an empty stream gave %+v, want a failure that says why", got)
	}
}

func TestPanicTailKeepsOnlyTheModulesFrames(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "hang.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Judge(f, "TestHang")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"=== RUN   TestHang",
		"panic: test timed out after 1s",
		"scratch/p.TestHang(0x15c1185e6248?)",
		"\t/src/p/p_test.go:10 +0x1d",
	}
	if strings.Join(got.Tail, "\n") != strings.Join(want, "\n") {
		t.Errorf("tail of a timed-out test:\n%s\nwant:\n%s", strings.Join(got.Tail, "\n"), strings.Join(want, "\n"))
	}
}
