// Package log is the levelled logger of TinyKV Lab.
//
// Every line carries the time, the level and the file:line of the caller:
//
//	2026/11/23 10:55:01.123456 [info] peer.go:120: [region 1] 1 became leader at term 6
//
// The level comes from the LOG_LEVEL environment variable (debug, info, warn,
// error, fatal) when the process starts, and can be changed with SetLevel.
// Servers log at info by default; tests stay quiet (warn) unless LOG_LEVEL
// asks for more, so a failing test's output shows the failure, not noise.
package log

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Level orders the severities: a logger at level L prints lines of level L and above.
type Level int32

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
	LevelFatal
)

var levelNames = [...]string{"debug", "info", "warn", "error", "fatal"}

func (l Level) String() string {
	if l < LevelDebug || l > LevelFatal {
		return fmt.Sprintf("level(%d)", int32(l))
	}
	return levelNames[l]
}

// ParseLevel turns a level name (case-insensitive; "warning" is accepted too)
// into a Level.
func ParseLevel(name string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "debug":
		return LevelDebug, nil
	case "info":
		return LevelInfo, nil
	case "warn", "warning":
		return LevelWarn, nil
	case "error":
		return LevelError, nil
	case "fatal":
		return LevelFatal, nil
	}
	return LevelInfo, fmt.Errorf("unknown log level %q: want one of debug, info, warn, error, fatal", name)
}

var (
	level  atomic.Int32
	outMu  sync.Mutex
	output io.Writer = os.Stderr
)

func init() {
	level.Store(int32(defaultLevel()))
}

// defaultLevel is LOG_LEVEL when set and valid, warn inside `go test`
// binaries, info otherwise.
func defaultLevel() Level {
	if env := os.Getenv("LOG_LEVEL"); env != "" {
		if l, err := ParseLevel(env); err == nil {
			return l
		}
	}
	if strings.HasSuffix(os.Args[0], ".test") {
		return LevelWarn
	}
	return LevelInfo
}

// SetLevel changes the level for the whole process.
func SetLevel(l Level) { level.Store(int32(l)) }

// GetLevel returns the current level.
func GetLevel() Level { return Level(level.Load()) }

// SetOutput redirects every following line to w; nil means stderr, the default.
func SetOutput(w io.Writer) {
	if w == nil {
		w = os.Stderr
	}
	outMu.Lock()
	defer outMu.Unlock()
	output = w
}

// Enabled reports whether lines of level l are printed; use it to skip
// building expensive log arguments.
func Enabled(l Level) bool { return l >= GetLevel() }

func logf(l Level, format string, v ...interface{}) {
	if !Enabled(l) {
		return
	}
	write(l, 3, fmt.Sprintf(format, v...))
}

// write formats one line; depth counts the frames between write and the code
// that logged (write itself, the helpers, the exported function).
func write(l Level, depth int, msg string) {
	_, file, line, ok := runtime.Caller(depth)
	if !ok {
		file, line = "???", 0
	}
	now := time.Now().Format("2006/01/02 15:04:05.000000")
	text := fmt.Sprintf("%s [%s] %s:%d: %s", now, l, filepath.Base(file), line, msg)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	outMu.Lock()
	defer outMu.Unlock()
	_, _ = io.WriteString(output, text)
}

// Debugf logs at debug level: detail for following one request or message.
func Debugf(format string, v ...interface{}) { logf(LevelDebug, format, v...) }

// Infof logs at info level: state changes an operator wants to see.
func Infof(format string, v ...interface{}) { logf(LevelInfo, format, v...) }

// Warnf logs at warn level: something unexpected that the code handles.
func Warnf(format string, v ...interface{}) { logf(LevelWarn, format, v...) }

// Errorf logs at error level: an operation failed.
func Errorf(format string, v ...interface{}) { logf(LevelError, format, v...) }

// Fatalf logs at fatal level and exits the process with status 1.
func Fatalf(format string, v ...interface{}) {
	write(LevelFatal, 2, fmt.Sprintf(format, v...))
	os.Exit(1)
}

// Panicf logs at fatal level and panics with the message: for broken
// invariants, where the stack trace is what a reader needs.
func Panicf(format string, v ...interface{}) {
	msg := fmt.Sprintf(format, v...)
	write(LevelFatal, 2, msg)
	panic(msg)
}
