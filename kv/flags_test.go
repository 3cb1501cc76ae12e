package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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
	if !conf.Raft {
		t.Errorf("default mode is standalone, want raft (as TinyKV's)")
	}
	if conf.RegionMaxSize != 144<<20 || conf.RegionSplitSize != 96<<20 {
		t.Errorf("default region sizes are max %d, split %d; want 144MiB and 96MiB", conf.RegionMaxSize, conf.RegionSplitSize)
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
	conf, err = parseFlags([]string{"-scheduler", "127.0.0.1:2379, http://127.0.0.1:2381,127.0.0.1:2383"}, &bytes.Buffer{})
	want := []string{"127.0.0.1:2379", "http://127.0.0.1:2381", "127.0.0.1:2383"}
	if err != nil {
		t.Errorf("-scheduler with three members: %v; want %q", err, want)
	} else if !reflect.DeepEqual(conf.SchedulerAddrs(), want) {
		t.Errorf("-scheduler with three members gave %q, want %q", conf.SchedulerAddrs(), want)
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
		{[]string{"-scheduler", "127.0.0.1:2379,nowhere"}, "scheduler address \"nowhere\""},
		{[]string{"-scheduler", " , "}, "no address"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-region-max-size", "lots"}, "size \"lots\""},
		{[]string{"-region-max-size", "100B", "-region-split-size", "200B"}, "split size"},
		{[]string{"-config", "/nonexistent/tinykv.toml"}, "/nonexistent/tinykv.toml"},
		{[]string{"-standalone=maybe"}, "want true or false"},
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

func TestParseFlagsStandaloneAndSizes(t *testing.T) {
	conf, err := parseFlags([]string{"-standalone", "-region-max-size", "800B", "-region-split-size", "512KiB"}, &bytes.Buffer{})
	if err == nil {
		t.Fatalf("split size above max size accepted: %+v", conf)
	}
	conf, err = parseFlags([]string{"-standalone", "-region-max-size", "1MiB", "-region-split-size", "800B"}, &bytes.Buffer{})
	if err != nil || conf.Raft || conf.RegionMaxSize != 1<<20 || conf.RegionSplitSize != 800 {
		t.Fatalf("-standalone -region-max-size 1MiB -region-split-size 800B = %+v, %v; want standalone, 1048576, 800", conf, err)
	}
}

func TestParseFlagsConfigFileUnderFlags(t *testing.T) {
	t.Setenv("LOG_LEVEL", "")
	path := filepath.Join(t.TempDir(), "tinykv.toml")
	text := "addr = \"127.0.0.1:7\"\nlog-level = \"warn\"\n[raftstore]\nregion-max-size = \"2MiB\"\nregion-split-size = \"1MiB\"\nraft-base-tick-interval = \"20ms\"\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := parseFlags([]string{"-config", path, "-addr", "127.0.0.1:8", "-region-split-size", "512KiB"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("parseFlags with a config file: %v", err)
	}
	if conf.StoreAddr != "127.0.0.1:8" || conf.LogLevel != "warn" || conf.RegionMaxSize != 2<<20 || conf.RegionSplitSize != 512<<10 ||
		conf.RaftBaseTickInterval != 20*time.Millisecond {
		t.Fatalf("file plus flags gave addr %q, log level %q, max %d, split %d, tick %v; "+
			"want the flags' 127.0.0.1:8 and 512KiB, the file's warn, 2MiB and 20ms",
			conf.StoreAddr, conf.LogLevel, conf.RegionMaxSize, conf.RegionSplitSize, conf.RaftBaseTickInterval)
	}
}
