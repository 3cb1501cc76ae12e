package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/message"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// regionClient answers GetRegionByID only (the other methods are not used).
type regionClient struct {
	scheduler_client.Client
	region   *metapb.Region
	err      error
	deadline bool
}

func (c *regionClient) GetRegionByID(ctx context.Context, regionID uint64) (*metapb.Region, *metapb.Peer, error) {
	_, c.deadline = ctx.Deadline()
	return c.region, nil, c.err
}

// sentRouter records what is sent to peers.
type sentRouter struct {
	message.RaftRouter
	sent []message.Msg
}

func (r *sentRouter) Send(regionID uint64, msg message.Msg) error {
	r.sent = append(r.sent, msg)
	return nil
}

// A peer's question about its region is answered with the scheduler's
// region when the scheduler knows it, not at all otherwise, and is over
// (Done) either way; it does not wait for the scheduler without a bound.
func TestRegionQuestionIsAnsweredAndEnds(t *testing.T) {
	region := &metapb.Region{Id: 7, RegionEpoch: &metapb.RegionEpoch{ConfVer: 4, Version: 2}}
	for name, c := range map[string]struct {
		client   *regionClient
		answered bool
	}{
		"known":   {client: &regionClient{region: region}, answered: true},
		"unknown": {client: &regionClient{}},
		"error":   {client: &regionClient{err: errors.New("scheduler unreachable")}},
	} {
		router := &sentRouter{}
		stop := make(chan struct{})
		h := NewSchedulerTaskHandler(1, c.client, router, stop)
		done := 0
		askedAt := time.Now()
		h.Handle(&SchedulerRegionTask{RegionID: 7, AskedAt: askedAt, Done: func() { done++ }})
		close(stop)
		if done != 1 {
			t.Errorf("%s region: Done called %d times, want 1", name, done)
		}
		if !c.client.deadline {
			t.Errorf("%s region: the question went to the scheduler without a deadline", name)
		}
		if !c.answered {
			if len(router.sent) != 0 {
				t.Errorf("%s region: the peer got %v, want no answer", name, router.sent)
			}
			continue
		}
		if len(router.sent) != 1 || router.sent[0].Type != message.MsgTypeSchedulerRegion || router.sent[0].RegionID != 7 {
			t.Fatalf("%s region: the peer got %v, want one MsgTypeSchedulerRegion for region 7", name, router.sent)
		}
		answer := router.sent[0].Data.(*message.MsgSchedulerRegion)
		if answer.Region != region || !answer.AskedAt.Equal(askedAt) {
			t.Errorf("%s region: answer %+v, want the scheduler's region asked at %v", name, answer, askedAt)
		}
	}
}
