package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// End-to-end test of the tinykv-server command: it is built, started on a
// free loopback port, and spoken to over gRPC like any client would.

// Generous bounds: the machine may be busy with other tests. A healthy
// server starts and stops in well under a second.
const (
	processTimeout = 60 * time.Second
	rpcTimeout     = 20 * time.Second
)

func TestServerBinary1(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tinykv-server binary")
	}
	bin := buildServerBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data") // missing: the server creates it

	var written []*kvrpcpb.KvPair // with their column family in Key's prefix, see below
	t.Run("serves and stops on SIGTERM without losing acknowledged writes", func(t *testing.T) {
		proc, client := startServer(t, bin, "-path", dataDir)
		written = putSamplePairs(t, client)
		checkPairs(t, client, written, "while running")
		checkRefusedOverGRPC(t, client)
		checkDataDirLocked(t, bin, dataDir)
		written = append(written, writeWhileStopping(t, proc, client)...)
	})
	if t.Failed() {
		return
	}
	t.Run("restart on the same data", func(t *testing.T) {
		proc, client := startServer(t, bin, "-path", dataDir)
		checkPairs(t, client, written, "after SIGTERM and restart")
		proc.signal(t, syscall.SIGINT)
		if code := proc.wait(t); code != 0 {
			t.Errorf("exit code after SIGINT = %d, want 0; stderr:\n%s", code, proc.output())
		}
	})
	t.Run("bad command lines", func(t *testing.T) {
		checkBadCommandLines(t, bin)
	})
}

// buildServerBinary builds tinykv-server into a temporary directory.
func buildServerBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build tinykv-server: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tinykv-server")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/tinykv-lab/tinykv/kv")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of tinykv-server failed: %v\n%s", err, out)
	}
	return bin
}

// serverProcess is a running tinykv-server; the test kills it at the end if
// it is still running.
type serverProcess struct {
	addr   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{} // closed once the process has exited
}

// syncBuffer is a bytes.Buffer that the process writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func runServerProcess(t *testing.T, bin string, args ...string) *serverProcess {
	t.Helper()
	p := &serverProcess{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *serverProcess) output() string { return p.stderr.String() }

func (p *serverProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to tinykv-server: %v", sig, err)
	}
}

// wait returns the exit code, failing the test if the process does not end.
func (p *serverProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(processTimeout):
		t.Fatalf("tinykv-server did not exit within %v; output:\n%s", processTimeout, p.output())
		return -1
	}
}

// startServer starts tinykv-server on a free loopback port and waits until
// it answers. A port taken between choosing and binding it is tried again.
func startServer(t *testing.T, bin string, args ...string) (*serverProcess, tinykvpb.TinyKvClient) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeLoopbackAddr(t)
		p := runServerProcess(t, bin, append([]string{"-standalone", "-addr", addr}, args...)...)
		p.addr = addr
		client, ready := waitReady(t, p)
		if ready {
			return p, client
		}
		if attempt == 3 || !strings.Contains(p.output(), "address already in use") {
			t.Fatalf("tinykv-server %s exited before serving (exit code %d); output:\n%s",
				strings.Join(args, " "), p.cmd.ProcessState.ExitCode(), p.output())
		}
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady dials p and sends gets until one is answered. It reports false
// when the process exits first.
func waitReady(t *testing.T, p *serverProcess) (tinykvpb.TinyKvClient, bool) {
	t.Helper()
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("gRPC client for %s: %v", p.addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	client := tinykvpb.NewTinyKvClient(conn)
	deadline := time.Now().Add(processTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.RawGet(ctx, &kvrpcpb.RawGetRequest{Cf: engine_util.CfDefault, Key: []byte("ping")})
		cancel()
		if err == nil {
			return client, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tinykv-server on %s did not answer within %v; output:\n%s", p.addr, processTimeout, p.output())
	return nil, false
}

// Pairs written over gRPC carry their column family in the key:
// "<cf>/<key>" is key <key> of column family <cf>.
func splitCFKey(pair *kvrpcpb.KvPair) (string, []byte) {
	cf, key, _ := strings.Cut(string(pair.Key), "/")
	return cf, []byte(key)
}

func grpcPut(ctx context.Context, client tinykvpb.TinyKvClient, pair *kvrpcpb.KvPair) error {
	cf, key := splitCFKey(pair)
	resp, err := client.RawPut(ctx, &kvrpcpb.RawPutRequest{Cf: cf, Key: key, Value: pair.Value})
	if err != nil {
		return err
	}
	if resp.Error != "" || resp.RegionError != nil {
		return fmt.Errorf("RawPut(%s, %q) answered Error %q, RegionError %v", cf, key, resp.Error, resp.RegionError)
	}
	return nil
}

// putSamplePairs writes keys in every column family, overwrites one and
// deletes another; it returns what the store must then hold.
func putSamplePairs(t *testing.T, client tinykvpb.TinyKvClient) []*kvrpcpb.KvPair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	var pairs []*kvrpcpb.KvPair
	for _, cf := range engine_util.CFs {
		for i := 0; i < 5; i++ {
			pair := &kvrpcpb.KvPair{Key: []byte(fmt.Sprintf("%s/key%d", cf, i)), Value: []byte(fmt.Sprintf("%s value %d", cf, i))}
			if err := grpcPut(ctx, client, pair); err != nil {
				t.Fatalf("over gRPC: %v", err)
			}
			pairs = append(pairs, pair)
		}
	}
	pairs[0].Value = []byte("overwritten")
	if err := grpcPut(ctx, client, pairs[0]); err != nil {
		t.Fatalf("over gRPC: %v", err)
	}
	cf, key := splitCFKey(pairs[1])
	if resp, err := client.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Cf: cf, Key: key}); err != nil || resp.Error != "" {
		t.Fatalf("RawDelete(%s, %q) over gRPC: err=%v Error=%q", cf, key, err, resp.GetError())
	}
	return append(pairs[:1], pairs[2:]...)
}

// checkPairs reads every pair back with RawGet, and each column family
// with RawScan, which must return exactly the pairs of that family.
func checkPairs(t *testing.T, client tinykvpb.TinyKvClient, pairs []*kvrpcpb.KvPair, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	model := newRawModel()
	for _, pair := range pairs {
		cf, key := splitCFKey(pair)
		model[cf][string(key)] = pair.Value
		resp, err := client.RawGet(ctx, &kvrpcpb.RawGetRequest{Cf: cf, Key: key})
		if err != nil || resp.Error != "" || resp.NotFound || !bytes.Equal(resp.Value, pair.Value) {
			t.Errorf("%s: RawGet(%s, %q) over gRPC = {Value %q, NotFound %v, Error %q}, err %v; want value %q",
				when, cf, key, resp.GetValue(), resp.GetNotFound(), resp.GetError(), err, pair.Value)
		}
	}
	for _, cf := range engine_util.CFs {
		resp, err := client.RawScan(ctx, &kvrpcpb.RawScanRequest{Cf: cf, Limit: MaxScanLimit})
		if err != nil || resp.Error != "" {
			t.Errorf("%s: RawScan(%s) over gRPC: err=%v Error=%q", when, cf, err, resp.GetError())
			continue
		}
		if diff := diffPairs(model.scan(cf, nil, MaxScanLimit), resp.Kvs); diff != "" {
			t.Errorf("%s: RawScan(%s) over gRPC: %s", when, cf, diff)
		}
	}
}

// checkRefusedOverGRPC sends a bad request: it gets an Error in the response.
func checkRefusedOverGRPC(t *testing.T, client tinykvpb.TinyKvClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := client.RawPut(ctx, &kvrpcpb.RawPutRequest{Cf: "nope", Key: []byte("k"), Value: []byte("v")})
	if err != nil || !strings.Contains(resp.GetError(), "column family") {
		t.Errorf("RawPut to an unknown column family over gRPC: want an Error about the column family, got err=%v Error=%q",
			err, resp.GetError())
	}
}

// checkDataDirLocked starts a second server on the data directory of a
// running one: it must refuse, with a message and exit code 1.
func checkDataDirLocked(t *testing.T, bin, dataDir string) {
	t.Helper()
	p := runServerProcess(t, bin, "-standalone", "-addr", freeLoopbackAddr(t), "-path", dataDir)
	if code := p.wait(t); code != 1 || !strings.Contains(p.output(), "cannot open the storage") {
		t.Errorf("a second server on the data directory of a running one: exit code %d, want 1 with a message about the storage; output:\n%s",
			code, p.output())
	}
}

// writeWhileStopping puts keys from a client until the server stops
// answering, sends SIGTERM once a few puts are acknowledged, and returns the
// acknowledged pairs: the server must keep all of them.
func writeWhileStopping(t *testing.T, proc *serverProcess, client tinykvpb.TinyKvClient) []*kvrpcpb.KvPair {
	t.Helper()
	var acked []*kvrpcpb.KvPair
	var lastErr error
	for i := 0; ; i++ {
		if i == 20 {
			proc.signal(t, syscall.SIGTERM)
		}
		pair := &kvrpcpb.KvPair{Key: []byte(fmt.Sprintf("%s/during-stop-%05d", engine_util.CfWrite, i)), Value: []byte(fmt.Sprint(i))}
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		lastErr = grpcPut(ctx, client, pair)
		cancel()
		if lastErr != nil {
			break
		}
		acked = append(acked, pair)
	}
	if len(acked) < 20 {
		t.Fatalf("a put failed before SIGTERM was sent: %v; output:\n%s", lastErr, proc.output())
	}
	if code := proc.wait(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; output:\n%s", code, proc.output())
	}
	return acked
}

// checkBadCommandLines runs the server with bad flags, an unusable data path
// and a port in use: each must exit with a clear message and a non-zero code.
func checkBadCommandLines(t *testing.T, bin string) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on a loopback port to make it busy: %v", err)
	}
	defer busy.Close()
	aFile := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(aFile, []byte("not a directory"), 0o644); err != nil {
		t.Fatalf("create %s: %v", aFile, err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantText string
	}{
		{"unknown flag", []string{"-no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{"bad log level", []string{"-loglevel", "loud"}, 2, `unknown log level "loud"`},
		{"bad address", []string{"-addr", "nowhere"}, 2, `store address "nowhere"`},
		{"stray argument", []string{"stray"}, 2, `unexpected argument "stray"`},
		{"bad region sizes", []string{"-region-max-size", "1MiB", "-region-split-size", "2MiB"}, 2, "region split size"},
		{"data path is a file", []string{"-path", aFile}, 1, "unusable data path " + aFile},
		{"port in use", []string{"-addr", busy.Addr().String()}, 1, "cannot listen on " + busy.Addr().String()},
		{"help", []string{"-h"}, 0, "Usage: tinykv-server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !containsFlag(args, "-path") {
				args = append(args, "-path", filepath.Join(t.TempDir(), "data"))
			}
			p := runServerProcess(t, bin, args...)
			code := p.wait(t)
			if code != tc.wantCode || !strings.Contains(p.output(), tc.wantText) {
				t.Errorf("tinykv-server %s: exit code %d, want %d with a message containing %q; output:\n%s",
					strings.Join(args, " "), code, tc.wantCode, tc.wantText, p.output())
			}
		})
	}
}

func containsFlag(args []string, flag string) bool {
	for _, arg := range args {
		if arg == flag {
			return true
		}
	}
	return false
}
