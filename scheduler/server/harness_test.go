package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/client"
	"github.com/tinykv-lab/tinykv/scheduler/server/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// freePorts returns n ports on 127.0.0.1 that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// member is one scheduler of a test: its config, and the server while it runs.
type member struct {
	cfg *config.Config
	srv *Server
}

func (m *member) clientURL() string { return m.cfg.ClientUrls }

// newMemberConfigs makes the configs of n members forming one cluster,
// with data under dir.
func newMemberConfigs(t testing.TB, dir string, n int) []*config.Config {
	ports := freePorts(t, 2*n)
	var initial []string
	for i := 0; i < n; i++ {
		initial = append(initial, fmt.Sprintf("s%d=http://127.0.0.1:%d", i+1, ports[2*i+1]))
	}
	var cfgs []*config.Config
	for i := 0; i < n; i++ {
		cfg := config.NewConfig()
		cfg.Name = fmt.Sprintf("s%d", i+1)
		cfg.DataDir = fmt.Sprintf("%s/s%d", dir, i+1)
		cfg.ClientUrls = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		cfg.PeerUrls = fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.LeaderLease = 1
		cfgs = append(cfgs, cfg)
	}
	return cfgs
}

// start runs a member's server (again, after stop) and stops it when the
// test ends.
func (m *member) start(t testing.TB) {
	t.Helper()
	cfg := *m.cfg
	srv, err := CreateServer(&cfg)
	if err != nil {
		t.Fatalf("member %s: %v", cfg.Name, err)
	}
	if err := srv.Run(); err != nil {
		t.Fatalf("member %s: run: %v", cfg.Name, err)
	}
	m.srv = srv
	t.Cleanup(m.stop)
}

func (m *member) stop() {
	if m.srv != nil {
		m.srv.Close()
		m.srv = nil
	}
}

// crash stops the member's etcd at once, the way a killed process stops:
// no leadership transfer, the leader lease not given up. The rest of the
// member is cleaned up in the background (it can serve nothing any more).
func (m *member) crash(t testing.TB) {
	if m.srv == nil {
		return
	}
	srv := m.srv
	m.srv = nil
	srv.etcd.Server.HardStop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Close()
	}()
	t.Cleanup(func() { <-done })
}

// startOne runs a one-member scheduler with data under a temporary
// directory and waits until it leads.
func startOne(t testing.TB) *member {
	t.Helper()
	m := &member{cfg: newMemberConfigs(t, t.TempDir(), 1)[0]}
	m.start(t)
	waitLeader(t, m)
	return m
}

func waitLeader(t testing.TB, ms ...*member) *member {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range ms {
			if m.srv != nil && m.srv.IsLeader() {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no member became leader within 15s")
	return nil
}

// newClient returns a scheduler client of the members, closed when the
// test ends.
func newClient(t testing.TB, ms ...*member) *client.Client {
	t.Helper()
	var urls []string
	for _, m := range ms {
		urls = append(urls, m.clientURL())
	}
	c, err := client.New(urls, client.Options{Timeout: 20 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// rawClient is a plain gRPC client of one member, for requests the client
// package would never send.
func rawClient(t testing.TB, m *member) schedulerpb.SchedulerClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(m.clientURL(), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return schedulerpb.NewSchedulerClient(conn)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
