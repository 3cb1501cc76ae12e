package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/scheduler/client"
)

// loopbackURLs returns n distinct http URLs on 127.0.0.1 whose ports were
// free a moment ago. The listeners stay open until all n are chosen: closed
// one by one, the kernel may hand the same port out twice (seen as a client
// and a peer URL on one port, "bind: address already in use").
func loopbackURLs(t testing.TB, n int) []string {
	t.Helper()
	var urls []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		urls = append(urls, "http://"+l.Addr().String())
	}
	return urls
}

// TestBadFlagsAndConfig: every bad setting exits 2 naming the setting,
// before anything starts.
func TestBadFlagsAndConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-no-such-flag"}, "no-such-flag"},
		{[]string{"-client-urls", "127.0.0.1:2379"}, "client-urls"},
		{[]string{"-peer-urls", "http://127.0.0.1"}, "peer-urls"},
		{[]string{"-advertise-client-urls", "ftp://127.0.0.1:1"}, "advertise-client-urls"},
		{[]string{"-initial-cluster", "other=http://127.0.0.1:2380"}, "initial-cluster"},
		{[]string{"-initial-cluster", "s1"}, "initial-cluster"},
		{[]string{"-L", "loud"}, "log level"},
		{[]string{"-name", ""}, "name"},
		{[]string{"-config", filepath.Join(dir, "missing.toml")}, "missing.toml"},
		{[]string{"-config", write("bad.toml", "name = \n")}, "bad.toml"},
		{[]string{"-config", write("unknown.toml", "nmae = \"x\"\n")}, "nmae"},
		{[]string{"-config", write("replicas.toml", "[replication]\nmax-replicas = 0\n")}, "max-replicas"},
		{[]string{"-config", write("down.toml", "[schedule]\nmax-store-down-time = \"soon\"\n")}, "max-store-down-time"},
		{[]string{"-config", write("disconnect.toml", "[schedule]\nstore-disconnect-time = \"0s\"\n")}, "store-disconnect-time"},
		{[]string{"extra"}, "extra"},
	} {
		var stderr bytes.Buffer
		code := run(tc.args, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("tinyscheduler-server %q: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestConfigFileAndFlags: flags win over the file, the file over the defaults.
func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.toml")
	text := "name = \"file\"\nlease = 5\n[schedule]\nmax-store-down-time = \"1m\"\nstore-disconnect-time = \"3s\"\n[replication]\nmax-replicas = 5\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parse([]string{"-config", p, "-name", "flag"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "flag" || cfg.LeaderLease != 5 || cfg.Schedule.MaxStoreDownTime.Duration != time.Minute ||
		cfg.Schedule.StoreDisconnectTime.Duration != 3*time.Second || cfg.Replication.MaxReplicas != 5 {
		t.Fatalf("config: name %q lease %d max-store-down-time %v store-disconnect-time %v max-replicas %d; want flag, 5, 1m, 3s, 5",
			cfg.Name, cfg.LeaderLease, cfg.Schedule.MaxStoreDownTime.Duration, cfg.Schedule.StoreDisconnectTime.Duration, cfg.Replication.MaxReplicas)
	}
	if cfg.DataDir != "default.flag" || cfg.InitialCluster != "flag=http://127.0.0.1:2380" {
		t.Fatalf("derived settings: data-dir %q initial-cluster %q", cfg.DataDir, cfg.InitialCluster)
	}
}

// TestUnusableDataDirAndBusyPort: the server cannot run: exit 1.
func TestUnusableDataDirAndBusyPort(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	urls := func() []string {
		u := loopbackURLs(t, 2)
		return []string{"-client-urls", u[0], "-peer-urls", u[1]}
	}
	var stderr bytes.Buffer
	if code := run(append(urls(), "-data-dir", filepath.Join(file, "sub")), &stderr); code != 1 || !strings.Contains(stderr.String(), "data-dir") {
		t.Fatalf("data dir under a file: exit %d, stderr %q; want exit 1 naming data-dir", code, stderr.String())
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stderr.Reset()
	args := []string{"-data-dir", filepath.Join(dir, "d"), "-client-urls", "http://" + busy.Addr().String(),
		"-peer-urls", loopbackURLs(t, 1)[0]}
	if code := run(args, &stderr); code != 1 || !strings.Contains(stderr.String(), busy.Addr().String()) {
		t.Fatalf("client port in use: exit %d, stderr %q; want exit 1 naming %s", code, stderr.String(), busy.Addr())
	}
}

// TestBinaryServesAndStops builds the binary, runs it, talks to it, and
// stops it with SIGTERM: exit 0.
func TestBinaryServesAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tinyscheduler-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	urls := loopbackURLs(t, 2)
	clientURL := urls[0]
	cmd := exec.Command(bin, "-data-dir", filepath.Join(dir, "data"), "-client-urls", clientURL,
		"-peer-urls", urls[1], "-L", "warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	c, err := client.New([]string{clientURL}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ts, err := c.GetTS(ctx); err != nil || ts == 0 {
		t.Fatalf("GetTS from the binary: %d, %v\nstderr:\n%s", ts, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "member")); err != nil {
		t.Fatalf("data dir: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v (want exit 0)\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM")
	}
}
