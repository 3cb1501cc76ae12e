package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/client"
	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestStopAndRestartEverything: raw and transactional writes, every
// process stopped with SIGTERM (each must exit 0), everything started
// again on the same data: every write is there.
func TestStopAndRestartEverything(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 1})
	tc.waitReplicas(1, time.Minute)
	for i := 0; i < 100; i++ {
		tc.mustPut(fmt.Sprintf("raw-%03d", i), fmt.Sprintf("v%d", i))
	}
	txn, err := tc.kv.Begin(ctx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	txn.Set([]byte("txn-a"), []byte("1"))
	txn.Set([]byte("txn-b"), []byte("2"))
	if _, err := txn.Commit(ctx(t, 20*time.Second)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := tc.Stop(); err != nil {
		t.Fatalf("a clean stop (SIGTERM) did not end every process with exit code 0: %v", err)
	}
	if err := tc.Start(ctx(t, time.Minute)); err != nil {
		t.Fatalf("restart: %v", err)
	}
	tc.waitReplicas(1, time.Minute)
	// A new client, as a new program would make one.
	fresh, err := client.Connect([]string{"http://" + tc.Scheduler.Addr}, client.Options{})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer fresh.Close()
	for i := 0; i < 100; i++ {
		k, want := fmt.Sprintf("raw-%03d", i), fmt.Sprintf("v%d", i)
		if got, err := fresh.Get(ctx(t, 30*time.Second), []byte(k)); err != nil || string(got) != want {
			t.Fatalf("get %q after the restart = %q, %v; want %q", k, got, err, want)
		}
	}
	ts, err := tc.kv.Timestamp(ctx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("timestamp after restart: %v", err)
	}
	for key, want := range map[string]string{"txn-a": "1", "txn-b": "2"} {
		got, err := tc.kv.TxnGet(ctx(t, 20*time.Second), []byte(key), ts)
		if err != nil || string(got) != want {
			t.Fatalf("txn get %q after restart = %q, %v; want %q", key, got, err, want)
		}
	}
	passed(t, start, "100 raw and 2 transactional writes survive a stop and restart of every process")
}

// TestSchedulerKillUnderLoad: the scheduler is killed (-9) while clients
// write and take timestamps, and started again. Writes go on (the client
// caches the routes), timestamps after the restart exceed every one
// before, and ids allocated after it exceed every one before.
func TestSchedulerKillUnderLoad(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 1})
	tc.waitReplicas(1, time.Minute)
	tc.mustPut("warm", "up")
	idBefore, err := tc.sched.AllocID(ctx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("alloc id: %v", err)
	}

	var maxTSBefore atomic.Uint64
	var writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := tc.kv.Put(context.Background(), []byte(fmt.Sprintf("load-%d-%d", w, i)), []byte("x")); err != nil {
					errs <- fmt.Errorf("writer %d: %v", w, err)
					return
				}
				writes.Add(1)
			}
		}(w)
	}
	for i := 0; i < 20; i++ {
		ts, err := tc.kv.Timestamp(ctx(t, 10*time.Second))
		if err != nil {
			t.Fatalf("timestamp before the kill: %v", err)
		}
		maxTSBefore.Store(max(maxTSBefore.Load(), ts))
	}
	tc.Scheduler.Kill()
	// Writes in flight at the kill do not count: from 200 ms on, every
	// write had to find its route without the scheduler.
	time.Sleep(200 * time.Millisecond)
	killedAt := writes.Load()
	time.Sleep(800 * time.Millisecond)
	duringOutage := writes.Load() - killedAt
	if duringOutage < 20 {
		t.Errorf("%d writes got through in the 800 ms without a scheduler, want many: the client should use its cached routes", duringOutage)
	}
	if err := tc.Scheduler.Start(); err != nil {
		t.Fatalf("restart the scheduler: %v", err)
	}
	ts, err := tc.kv.Timestamp(ctx(t, 30*time.Second))
	if err != nil {
		t.Fatalf("timestamp after the restart: %v", err)
	}
	if ts <= maxTSBefore.Load() {
		t.Fatalf("timestamp %d after the scheduler's restart is not above %d handed out before", ts, maxTSBefore.Load())
	}
	idAfter, err := tc.sched.AllocID(ctx(t, 10*time.Second))
	if err != nil || idAfter <= idBefore {
		t.Fatalf("id allocated after the restart = %d, %v; want above %d, allocated before", idAfter, err, idBefore)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a client failed while the scheduler was away: %v", err)
	}
	tc.mustGet("warm", "up")
	passed(t, start, "%d writes, %d of them in 800 ms without a scheduler; ts %d > %d, id %d > %d",
		writes.Load(), duringOutage, ts, maxTSBefore.Load(), idAfter, idBefore)
}

// TestStoreStopsWhileTheSchedulerIsDown: a store whose scheduler died
// stops on SIGTERM at once and cleanly (exit 0), although its calls to the
// scheduler (store heartbeats) retry until their timeout of 30 s.
func TestStoreStopsWhileTheSchedulerIsDown(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 1})
	tc.waitReplicas(1, time.Minute)
	tc.mustPut("k", "v")
	tc.Scheduler.Kill()
	time.Sleep(time.Second) // store heartbeats (every 200 ms) are retrying now
	stopAt := time.Now()
	err := tc.Stores[0].Stop(stopTimeout)
	took := time.Since(stopAt)
	if err != nil || took > 5*time.Second {
		t.Fatalf("SIGTERM to the store while its scheduler is down: stopped after %v (%v); want a clean stop (exit 0) within seconds", took.Round(10*time.Millisecond), err)
	}
	passed(t, start, "the store stopped cleanly %v after SIGTERM, its scheduler dead", took.Round(time.Millisecond))
}

// TestBadInputFromOutside: requests with a wrong region id, a stale epoch,
// a wrong cluster id, and garbage bytes on the ports get clear errors,
// crash nothing and change nothing.
func TestBadInputFromOutside(t *testing.T) {
	start := time.Now()
	tc := startCluster(t, options{stores: 1})
	regions := tc.waitReplicas(1, time.Minute)
	region := regions[0]
	tc.mustPut("k", "before")

	conn, err := grpc.NewClient(tc.Stores[0].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	store := tinykvpb.NewTinyKvClient(conn)
	put := func(rctx *kvrpcpb.Context) *kvrpcpb.RawPutResponse {
		t.Helper()
		resp, err := store.RawPut(ctx(t, 10*time.Second), &kvrpcpb.RawPutRequest{Context: rctx, Key: []byte("k"), Value: []byte("after"), Cf: "default"})
		if err != nil {
			t.Fatalf("raw put with context %v: gRPC error %v, want an answer", rctx, err)
		}
		return resp
	}
	leader := region.Peers[0]
	if resp := put(&kvrpcpb.Context{RegionId: region.Id + 1000, RegionEpoch: region.RegionEpoch, Peer: leader}); resp.RegionError.GetRegionNotFound() == nil {
		t.Errorf("put to a region that does not exist answered %v, want RegionNotFound", resp)
	}
	stale := &metapb.RegionEpoch{ConfVer: region.RegionEpoch.ConfVer, Version: region.RegionEpoch.Version + 7}
	if resp := put(&kvrpcpb.Context{RegionId: region.Id, RegionEpoch: stale, Peer: leader}); resp.RegionError.GetEpochNotMatch() == nil {
		t.Errorf("put with a wrong epoch answered %v, want EpochNotMatch", resp)
	}
	if resp := put(nil); resp.RegionError == nil && resp.Error == "" {
		t.Errorf("put without a context answered %v, want an error", resp)
	}

	schedConn, err := grpc.NewClient(tc.Scheduler.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer schedConn.Close()
	sched := schedulerpb.NewSchedulerClient(schedConn)
	_, err = sched.AllocID(ctx(t, 10*time.Second), &schedulerpb.AllocIDRequest{Header: &schedulerpb.RequestHeader{ClusterId: 12345}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("AllocID with a wrong cluster id = %v, want FailedPrecondition", err)
	}
	_, err = sched.PutStore(ctx(t, 10*time.Second), &schedulerpb.PutStoreRequest{Header: &schedulerpb.RequestHeader{ClusterId: 12345},
		Store: &metapb.Store{Id: 999, Address: "127.0.0.1:1"}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("PutStore with a wrong cluster id = %v, want FailedPrecondition", err)
	}

	for _, p := range tc.Procs() {
		for _, garbage := range [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n"), bytes.Repeat([]byte{0xff, 0x00, 0x13}, 5000), []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x01\xff\xff\xff\xff")} {
			c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial %s at %s: %v", p.Name, p.Addr, err)
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			c.Write(garbage)
			buf := make([]byte, 512)
			c.Read(buf)
			c.Close()
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range tc.Procs() {
		if !p.Running() {
			t.Fatalf("%s exited after bad input: %v", p.Name, p.ExitErr())
		}
	}
	tc.mustGet("k", "before")
	stores, err := tc.sched.GetAllStores(ctx(t, 10*time.Second), false)
	if err != nil || len(stores) != 1 {
		t.Fatalf("stores after bad input = %v, %v; want the one real store", stores, err)
	}
	tc.mustPut("k", "still works")
	tc.mustGet("k", "still works")
	passed(t, start, "wrong region, epoch, context and cluster id refused; garbage on %d ports; nothing changed", len(tc.Procs()))
}

// TestStoreOfAnotherClusterRefuses: a store whose data belongs to another
// cluster exits with a message that says so, and changes nothing.
func TestStoreOfAnotherClusterRefuses(t *testing.T) {
	start := time.Now()
	first := startCluster(t, options{stores: 1})
	first.waitReplicas(1, time.Minute)
	first.mustPut("mine", "1")
	if err := first.Stop(); err != nil {
		t.Fatalf("stop the first cluster: %v", err)
	}
	second := startCluster(t, options{stores: 1})
	second.waitReplicas(1, time.Minute)

	cmd := exec.Command(first.Stores[0].Bin, "-addr", freeAddr(t), "-path", first.dir+"/store-1", "-scheduler", second.Scheduler.Addr)
	done := make(chan struct{})
	var out []byte
	var runErr error
	go func() {
		out, runErr = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("a store of another cluster did not exit within a minute; output:\n%s", out)
	}
	exitErr, ok := runErr.(*exec.ExitError)
	if !ok || exitErr.ExitCode() != 1 || !strings.Contains(string(out), "belongs to another cluster") {
		t.Fatalf("a store of another cluster: %v, output:\n%s\nwant exit code 1 and a message saying the data belongs to another cluster", runErr, out)
	}
	stores, err := second.sched.GetAllStores(ctx(t, 10*time.Second), false)
	if err != nil || len(stores) != 1 {
		t.Fatalf("the second cluster's stores after the refused one = %v, %v; want only its own", stores, err)
	}
	if err := first.Start(ctx(t, time.Minute)); err != nil {
		t.Fatalf("restart the first cluster: %v", err)
	}
	first.waitReplicas(1, time.Minute)
	first.mustGet("mine", "1")
	passed(t, start, "a store of another cluster refused to start; its data still serves its own cluster")
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
