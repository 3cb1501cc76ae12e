package raft_storage

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/tinykvpb"
	"google.golang.org/grpc"
)

// raftSink is a TinyKv server that only takes raft streams and hands on
// the region id of every message it gets.
type raftSink struct {
	tinykvpb.UnimplementedTinyKvServer
	got chan uint64
}

func (s *raftSink) Raft(stream tinykvpb.TinyKv_RaftServer) error {
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&raft_serverpb.Done{})
		}
		if err != nil {
			return err
		}
		s.got <- msg.RegionId
	}
}

// A message that waited longer than maxQueuedAge for a store that was not
// there is dropped; what is sent once the store is up arrives.
func TestRaftClientDropsMessagesThatWaitedTooLong(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nobody listens there until the store comes up

	client := newRaftClient()
	defer client.Stop()
	if err := client.Send(2, addr, &raft_serverpb.RaftMessage{RegionId: 1}); err != nil {
		t.Fatalf("queue a message for a store that is down: %v", err)
	}
	time.Sleep(maxQueuedAge + 300*time.Millisecond)

	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port %s was taken meanwhile: %v", addr, err)
	}
	sink := &raftSink{got: make(chan uint64, 16)}
	srv := grpc.NewServer()
	tinykvpb.RegisterTinyKvServer(srv, sink)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	// As raft does, keep sending (a heartbeat every tick) until one arrives:
	// the connection comes up only at the next of gRPC's dial attempts.
	deadline := time.After(10 * time.Second)
	for {
		if err := client.Send(2, addr, &raft_serverpb.RaftMessage{RegionId: 2}); err != nil {
			t.Fatalf("queue a message for a store that is up: %v", err)
		}
		select {
		case region := <-sink.got:
			if region != 2 {
				t.Fatalf("the store first got the message of region %d, queued %v before the store was up; want it dropped and only fresh messages (region 2)", region, maxQueuedAge+300*time.Millisecond)
			}
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("none of the messages sent once the store was up arrived within 10s")
		}
	}
}
