package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParseFlagsDefaults(t *testing.T) {
	t.Setenv("LOG_LEVEL", "")
	conf, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parseFlags with no flags: %v", err)
	}
	got := []string{conf.StoreAddr, conf.DBPath, conf.SchedulerAddr, conf.LogLevel}
	want := []string{"127.0.0.1:20160", "./data", "127.0.0.1:2379", "info"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("defaults (addr, path, scheduler, loglevel) = %q, want %q", got, want)
			break
		}
	}
	if conf.Raft {
		t.Errorf("default mode is raft, want standalone")
	}
}

func TestParseFlagsSetConfig(t *testing.T) {
	t.Setenv("LOG_LEVEL", "debug")
	conf, err := parseFlags([]string{"-addr", "127.0.0.1:1", "-path", "/tmp/x", "-scheduler", "127.0.0.1:2", "-standalone=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if conf.StoreAddr != "127.0.0.1:1" || conf.DBPath != "/tmp/x" || conf.SchedulerAddr != "127.0.0.1:2" || !conf.Raft {
		t.Errorf("flags gave addr %q, path %q, scheduler %q, raft %v; want 127.0.0.1:1, /tmp/x, 127.0.0.1:2, true",
			conf.StoreAddr, conf.DBPath, conf.SchedulerAddr, conf.Raft)
	}
	if conf.LogLevel != "debug" {
		t.Errorf("log level with LOG_LEVEL=debug = %q, want debug", conf.LogLevel)
	}
	conf, err = parseFlags([]string{"-loglevel", "error"}, &bytes.Buffer{})
	if err != nil || conf.LogLevel != "error" {
		t.Errorf("-loglevel error with LOG_LEVEL=debug: level %q, err %v; want error (the flag wins)", conf.LogLevel, err)
	}
}

func TestParseFlagsRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"-loglevel", "chatty"}, "unknown log level"},
		{[]string{"-addr", "no-port"}, "store address"},
		{[]string{"-path", ""}, "data path is empty"},
		{[]string{"-standalone=false", "-scheduler", "nowhere"}, "scheduler address"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseFlags(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-addr") {
		t.Errorf("parseFlags(-h) = %v with usage %q; want flag.ErrHelp and the usage", err, out.String())
	}
}
