package log

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func captureOutput(t *testing.T, l Level) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	oldLevel := GetLevel()
	SetOutput(&buf)
	SetLevel(l)
	t.Cleanup(func() {
		SetOutput(nil)
		SetLevel(oldLevel)
	})
	return &buf
}

func TestLineHasTimeLevelAndCaller(t *testing.T) {
	buf := captureOutput(t, LevelDebug)
	Infof("hello %d", 42)
	line := buf.String()
	want := regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[info\] log_test\.go:\d+: hello 42\n$`)
	if !want.MatchString(line) {
		t.Fatalf("log line %q does not match %v", line, want)
	}
}

func TestLevelFiltersLines(t *testing.T) {
	buf := captureOutput(t, LevelWarn)
	Debugf("debug")
	Infof("info")
	Warnf("warn")
	Errorf("error")
	out := buf.String()
	for _, hidden := range []string{"[debug]", "[info]"} {
		if strings.Contains(out, hidden) {
			t.Errorf("level warn printed a %s line:\n%s", hidden, out)
		}
	}
	for _, shown := range []string{"[warn]", "[error]"} {
		if !strings.Contains(out, shown) {
			t.Errorf("level warn did not print a %s line:\n%s", shown, out)
		}
	}
}

func TestPanicfLogsAndPanics(t *testing.T) {
	buf := captureOutput(t, LevelError)
	defer func() {
		if r := recover(); r != "broken 7" {
			t.Fatalf("Panicf panicked with %v, want \"broken 7\"", r)
		}
		if !strings.Contains(buf.String(), "[fatal] log_test.go:") {
			t.Fatalf("Panicf did not log with the caller's file: %q", buf.String())
		}
	}()
	Panicf("broken %d", 7)
}

func TestParseLevel(t *testing.T) {
	for name, want := range map[string]Level{"debug": LevelDebug, "INFO": LevelInfo, "warning": LevelWarn, "error": LevelError, "fatal": LevelFatal} {
		got, err := ParseLevel(name)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(\"loud\") returned no error")
	}
}
